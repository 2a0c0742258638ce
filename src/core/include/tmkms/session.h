/* A privval session with one validator node: read a request, answer it, repeat. The
 * same loop serves every transport (it only sees a tm_conn). */
#ifndef TMKMS_SESSION_H
#define TMKMS_SESSION_H

#include <stdint.h>

#include "tmkms/chain.h"
#include "tmkms/conn.h"
#include "tmkms/error.h"
#include "tmkms/privval.h"

typedef struct {
    tm_chain *chain;
    int64_t max_height; /* 0: no limit */
    const char *addr;   /* the validator's address, for log lines */
} tm_session;

/* Serve requests until the connection fails or the peer misbehaves. Always returns an
 * error status (TM_ERR_EOF for a clean close), with the reason in tm_err_msg();
 * *answered counts the responses written. */
tm_status tm_session_serve(const tm_session *session, tm_conn *conn, uint64_t *answered);

/* Answer one request. *resp is filled with pointers into `req` and into `scratch`; it is
 * valid until tm_session_done(scratch), which must be called before `req` is freed (the
 * response borrows fields of the request). Returns
 * TM_ERR_INVALID only for a message that is not a request (the caller closes the
 * connection); refusals are responses with their error set, and TM_OK. */
typedef struct tm_session_scratch tm_session_scratch;
tm_status tm_session_handle(const tm_session *session, tm_pv_msg *req, tm_pv_msg *resp, tm_session_scratch *scratch);

/* Give back what the last response borrowed from its request. */
void tm_session_done(tm_session_scratch *scratch);
tm_session_scratch *tm_session_scratch_new(void);
void tm_session_scratch_free(tm_session_scratch *scratch);

#endif
