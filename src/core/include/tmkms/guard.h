/* The double-sign guard: CometBFT FilePV's rules over a chain's last signed state.
 *
 * A chain's (height, round, step) only moves forward, step order proposal < prevote <
 * precommit. At the same (h, r, s): identical sign bytes get the recorded signature back;
 * sign bytes that differ only in their timestamp get the recorded signature and the
 * recorded timestamp; anything else is refused. Pure functions: the caller holds the
 * chain's lock and persists the new state before releasing a new signature. */
#ifndef TMKMS_GUARD_H
#define TMKMS_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/types.h"

typedef enum {
    TM_GUARD_SIGN,                  /* new step: sign, persist, then release */
    TM_GUARD_REUSE,                 /* identical request: return the recorded signature */
    TM_GUARD_REUSE_EARLIER_TIMESTAMP, /* timestamp-only difference: recorded sig + timestamp */
} tm_guard_verdict;

typedef struct {
    int64_t height;
    int32_t round;
    tm_step step;
    const uint8_t *sign_bytes;
    size_t sign_bytes_len;
} tm_guard_request;

/* TM_ERR_DOUBLE_SIGN with the reason ("height regression: ...", "conflicting data at
 * ...") when the request must be refused. *earlier_ts is set for the timestamp verdict. */
tm_status tm_guard_check(const tm_sign_state *last, const tm_guard_request *req, tm_guard_verdict *verdict,
                         tm_timestamp *earlier_ts);

/* Compare (h, r, s) triples: <0, 0, >0. */
int tm_hrs_compare(int64_t h1, int32_t r1, tm_step s1, int64_t h2, int32_t r2, tm_step s2);

#endif
