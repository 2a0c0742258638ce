#include "tmkms/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/log.h"

tm_status tm_chain_open(const char *id, bool sign_extensions, tm_signer *signer, tm_state_store *store,
                        const tm_sign_state *loaded, tm_chain **out)
{
    tm_status status = TM_OK;
    tm_chain *chain = NULL;
    TM_ENSURE_GOTO(strlen(id) <= TM_MAX_CHAIN_ID_LEN, TM_ERR_INVALID, "chain id '%s' longer than %d bytes", id,
                   TM_MAX_CHAIN_ID_LEN);
    chain = calloc(1, sizeof(*chain));
    TM_ENSURE_GOTO(chain != NULL, TM_ERR_NOMEM, "out of memory");
    snprintf(chain->id, sizeof(chain->id), "%s", id);
    chain->sign_extensions = sign_extensions;
    chain->last = *loaded;
    chain->signer = signer;
    memcpy(chain->pubkey, signer->pubkey, sizeof(chain->pubkey));
    chain->store = store;
    pthread_mutex_init(&chain->lock, NULL);
    *out = chain;
    return TM_OK;
out:
    tm_signer_destroy(signer);
    if (store) store->ops->close(store);
    return status;
}

void tm_chain_close(tm_chain *chain)
{
    if (!chain) return;
    pthread_mutex_lock(&chain->lock);
    tm_signer_destroy(chain->signer);
    if (chain->store) chain->store->ops->close(chain->store);
    chain->signer = NULL;
    chain->store = NULL;
    pthread_mutex_unlock(&chain->lock);
    pthread_mutex_destroy(&chain->lock);
    free(chain);
}

/* Sign, then make the new state durable; only then does the caller see the signature. */
static tm_status sign_new_state(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    tm_sign_state next = {.height = req->height, .round = req->round, .step = req->step};
    TM_ENSURE(req->sign_bytes_len <= sizeof(next.sign_bytes), TM_ERR_TOO_LARGE,
              "sign bytes of %zu bytes exceed the %zu-byte bound", req->sign_bytes_len, sizeof(next.sign_bytes));
    memcpy(next.sign_bytes, req->sign_bytes, req->sign_bytes_len);
    next.sign_bytes_len = req->sign_bytes_len;
    TM_TRY(tm_signer_sign(chain->signer, req->sign_bytes, req->sign_bytes_len, next.signature));
    next.has_signature = true;

    tm_status status = chain->store->ops->persist(chain->store, &next);
    if (status != TM_OK) {
        /* The signature never leaves: forget it. */
        memset(next.signature, 0, sizeof(next.signature));
        return tm_err_prefix(status, "state not persisted, signature withheld: ");
    }
    chain->last = next;
    memcpy(result->signature, next.signature, sizeof(result->signature));
    return TM_OK;
}

tm_status tm_chain_sign(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    tm_status status;
    pthread_mutex_lock(&chain->lock);
    status = tm_guard_check(&chain->last, req, &result->verdict, &result->earlier_ts);
    if (status == TM_OK) {
        if (result->verdict == TM_GUARD_SIGN)
            status = sign_new_state(chain, req, result);
        else
            memcpy(result->signature, chain->last.signature, sizeof(result->signature));
    }
    pthread_mutex_unlock(&chain->lock);
    return status;
}

tm_status tm_chain_sign_unguarded(tm_chain *chain, const uint8_t *msg, size_t len, uint8_t sig[TM_ED25519_SIG_LEN])
{
    /* The lock, though no state is involved: tmkms's and the enclave's shutdown destroy the
     * signer while holding it, and a connection thread must not sign with a freed key. */
    pthread_mutex_lock(&chain->lock);
    tm_status status = chain->signer ? tm_signer_sign(chain->signer, msg, len, sig)
                                     : tm_err_set(TM_ERR_REFUSED, "shutting down: the key is gone");
    pthread_mutex_unlock(&chain->lock);
    return status;
}

void tm_chain_snapshot(tm_chain *chain, tm_sign_state *out)
{
    pthread_mutex_lock(&chain->lock);
    *out = chain->last;
    pthread_mutex_unlock(&chain->lock);
}
