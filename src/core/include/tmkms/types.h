/* Small shared types: consensus steps, the last-signed state of a chain, bounds. */
#ifndef TMKMS_TYPES_H
#define TMKMS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CometBFT's bound on chain ids (types.MaxChainIDLen). */
#define TM_MAX_CHAIN_ID_LEN 50
/* Canonical vote/proposal sign bytes are < 200 bytes for valid input (32-byte hashes,
 * chain id <= 50); anything above this bound is refused as malformed. */
#define TM_MAX_SIGN_BYTES 512
#define TM_ED25519_PUBKEY_LEN 32
#define TM_ED25519_SIG_LEN 64
#define TM_ED25519_SEED_LEN 32

/* Step numbering of CometBFT's FilePV (privval/file.go); the on-disk and exported values. */
typedef enum {
    TM_STEP_NONE = 0,
    TM_STEP_PROPOSE = 1,
    TM_STEP_PREVOTE = 2,
    TM_STEP_PRECOMMIT = 3,
} tm_step;

typedef struct {
    int64_t seconds;
    int32_t nanos;
} tm_timestamp;

/* Seconds of Go's zero time.Time (0001-01-01T00:00:00Z) since the Unix epoch. */
#define TM_GO_ZERO_TIME_SECONDS (-62135596800LL)

/* The last thing a chain's key signed: what forbids signing a conflict. */
typedef struct {
    int64_t height;
    int32_t round;
    tm_step step;
    size_t sign_bytes_len; /* 0: no sign bytes known for this h/r/s (fresh or imported) */
    uint8_t sign_bytes[TM_MAX_SIGN_BYTES];
    bool has_signature;
    uint8_t signature[TM_ED25519_SIG_LEN];
} tm_sign_state;

const char *tm_step_name(tm_step step);

#endif
