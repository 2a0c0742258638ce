/* A chain being served: its consensus key, its last signed state and the store that makes
 * that state durable, behind one lock. Every connection of the chain (sentries) signs
 * through tm_chain_sign, so concurrent conflicting requests yield at most one signature. */
#ifndef TMKMS_CHAIN_H
#define TMKMS_CHAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "tmkms/error.h"
#include "tmkms/chain_metrics.h"
#include "tmkms/guard.h"
#include "tmkms/ha.h"
#include "tmkms/signer.h"
#include "tmkms/state.h"
#include "tmkms/types.h"

typedef struct {
    char id[TM_MAX_CHAIN_ID_LEN + 1];
    bool sign_extensions;
    pthread_mutex_t lock;
    tm_sign_state last; /* the newest state known durable */
    tm_state_store *store;
    tm_signer *signer; /* used under the lock only: shutdown destroys it holding the lock */
    uint8_t pubkey[TM_ED25519_PUBKEY_LEN]; /* the signer's, fixed at open: read without the lock */
    tm_ha_backend *ha; /* NULL: this instance alone; else shared by the chains, not owned */
    tm_chain_metrics *metrics; /* NULL when metrics are off (tm_metrics_global() at open) */
    /* For `tmkms status`, read without the lock: */
    atomic_int_fast64_t last_signed_unix;     /* Unix time of the last new signature; 0: none yet */
    atomic_uint_fast64_t persist_failures;    /* states that could not be made durable */
    char persist_error[256]; /* the last persistence failure, under the lock ("" none) */
} tm_chain;

typedef struct {
    tm_guard_verdict verdict;
    uint8_t signature[TM_ED25519_SIG_LEN];
    tm_timestamp earlier_ts; /* for TM_GUARD_REUSE_EARLIER_TIMESTAMP */
} tm_chain_sign_result;

/* Takes ownership of signer and store (also on failure). */
tm_status tm_chain_open(const char *id, bool sign_extensions, tm_signer *signer, tm_state_store *store,
                        const tm_sign_state *loaded, tm_chain **out);
void tm_chain_close(tm_chain *chain);

/* Join a high-availability cluster: from now on every new signature must first win the
 * cluster record's compare-and-swap (ha.h). Call before serving; ha outlives the chain. */
void tm_chain_set_ha(tm_chain *chain, tm_ha_backend *ha);

/* Guard, sign and persist under the chain's lock. A new signature is only returned after
 * the store acknowledged the new state as durable and, with HA, after this instance won
 * the cluster record for it; an instance that lost to identical sign bytes (or sign bytes
 * differing only in their timestamp) returns the winner's signature, as for a repeat. */
tm_status tm_chain_sign(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result);

/* Sign bytes that are not guarded (vote extensions): the key only, no state; under the
 * lock all the same, so that it never meets a signer being destroyed at shutdown. */
tm_status tm_chain_sign_unguarded(tm_chain *chain, const uint8_t *msg, size_t len,
                                  uint8_t sig[TM_ED25519_SIG_LEN]);

/* A copy of the last signed state, for status and logs, and (persist_error not NULL) the
 * last persistence failure ("" none). */
void tm_chain_snapshot(tm_chain *chain, tm_sign_state *out, char *persist_error, size_t cap);

#endif
