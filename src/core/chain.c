#include "tmkms/chain.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tmkms/clock.h"
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
    chain->metrics = tm_chain_metrics_new(tm_metrics_global(), chain->id);
    tm_chain_metrics_last(chain->metrics, &chain->last);
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
    tm_chain_metrics_free(chain->metrics);
    free(chain);
}

void tm_chain_set_ha(tm_chain *chain, tm_ha_backend *ha)
{
    pthread_mutex_lock(&chain->lock);
    chain->ha = ha;
    pthread_mutex_unlock(&chain->lock);
}

/* The state a request would leave behind, signed. */
static tm_status sign_next(tm_chain *chain, const tm_guard_request *req, tm_sign_state *next)
{
    *next = (tm_sign_state){.height = req->height, .round = req->round, .step = req->step};
    TM_ENSURE(req->sign_bytes_len <= sizeof(next->sign_bytes), TM_ERR_TOO_LARGE,
              "sign bytes of %zu bytes exceed the %zu-byte bound", req->sign_bytes_len, sizeof(next->sign_bytes));
    memcpy(next->sign_bytes, req->sign_bytes, req->sign_bytes_len);
    next->sign_bytes_len = req->sign_bytes_len;
    TM_TRY(tm_signer_sign(chain->signer, req->sign_bytes, req->sign_bytes_len, next->signature));
    next->has_signature = true;
    return TM_OK;
}

/* Make `next` the durable local state; on failure the signature it holds must not leave. */
static tm_status persist_local(tm_chain *chain, tm_sign_state *next, const char *what)
{
    uint64_t start = chain->metrics ? tm_monotonic_ns() : 0; /* no clock read when nobody looks */
    tm_status status = chain->store->ops->persist(chain->store, next);
    if (status != TM_OK) {
        sodium_memzero(next->signature, sizeof(next->signature));
        atomic_fetch_add(&chain->persist_failures, 1);
        snprintf(chain->persist_error, sizeof(chain->persist_error), "%s", tm_err_msg());
        return tm_err_prefix(status, "%s", what);
    }
    if (chain->metrics) tm_chain_metrics_persisted(chain->metrics, tm_monotonic_ns() - start);
    chain->last = *next;
    tm_chain_metrics_last(chain->metrics, &chain->last);
    return TM_OK;
}

/* A new step was signed and made durable: the time, for status and metrics. */
static void new_signature(tm_chain *chain)
{
    int64_t now = (int64_t)time(NULL);
    atomic_store(&chain->last_signed_unix, (int_fast64_t)now);
    tm_chain_metrics_new_state(chain->metrics, now);
}

/* Sign, then make the new state durable; only then does the caller see the signature. */
static tm_status sign_new_state(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    tm_sign_state next;
    TM_TRY(sign_next(chain, req, &next));
    TM_TRY(persist_local(chain, &next, "state not persisted, signature withheld: "));
    new_signature(chain);
    memcpy(result->signature, next.signature, sizeof(result->signature));
    return TM_OK;
}

static tm_status sign_alone(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    TM_TRY(tm_guard_check(&chain->last, req, &result->verdict, &result->earlier_ts));
    if (result->verdict == TM_GUARD_SIGN) return sign_new_state(chain, req, result);
    memcpy(result->signature, chain->last.signature, sizeof(result->signature));
    return TM_OK;
}

/* The cluster signed past what this instance knows: make its record the local state too,
 * durably, so that the local guard (the second guard) sees it. A record at or below the
 * local state changes nothing: the local guard already forbids what it forbids. */
static tm_status adopt_record(tm_chain *chain, const tm_ha_record *rec)
{
    const tm_sign_state *r = &rec->state, *l = &chain->last;
    if (rec->revision == 0 || tm_hrs_compare(r->height, r->round, r->step, l->height, l->round, l->step) <= 0)
        return TM_OK;
    /* Not a record this key made: the cluster store is not trusted to invent states (a
     * record far ahead would silence the validator; a bad signature would be released). */
    if (r->has_signature &&
        crypto_sign_ed25519_verify_detached(r->signature, r->sign_bytes, r->sign_bytes_len, chain->pubkey) != 0)
        return tm_err_set(TM_ERR_CORRUPT,
                          "the cluster's record at %lld/%d/%s carries a signature that is not this key's: refusing",
                          (long long)r->height, r->round, tm_step_name(r->step));
    tm_sign_state copy = *r;
    return persist_local(chain, &copy, "the cluster's record not persisted locally, refusing: ");
}

/* Rounds of read - guard - sign - swap before giving up: each lost round means another
 * instance wrote a newer step in between, which a node cannot cause for long. */
#define HA_MAX_ROUNDS 4

/* With HA: the cluster's record, adopted locally, decides as the local state would; a
 * new signature leaves only if its swap won and it is durable locally as well. A lost
 * swap is answered from the winner's record: the same signature for the same (or
 * timestamp-only different) sign bytes, a refusal for anything else. */
static tm_status sign_in_cluster(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    tm_ha_record rec;
    TM_TRY(chain->ha->ops->load(chain->ha, chain->id, &rec));
    for (int round = 0; round < HA_MAX_ROUNDS; round++) {
        TM_TRY(adopt_record(chain, &rec));
        tm_status status = tm_guard_check(&chain->last, req, &result->verdict, &result->earlier_ts);
        if (status != TM_OK)
            return round == 0 ? status : tm_err_prefix(status, "another instance signed first: ");
        if (result->verdict != TM_GUARD_SIGN) {
            memcpy(result->signature, chain->last.signature, sizeof(result->signature));
            return TM_OK;
        }
        tm_sign_state next;
        TM_TRY(sign_next(chain, req, &next));
        bool won = false;
        status = chain->ha->ops->swap(chain->ha, chain->id, rec.revision, &next, &won, &rec);
        if (status != TM_OK || !won) sodium_memzero(next.signature, sizeof(next.signature));
        if (status != TM_OK) return tm_err_prefix(status, "cluster record not updated, signature withheld: ");
        if (won) {
            TM_TRY(persist_local(chain, &next, "state not persisted, signature withheld: "));
            new_signature(chain);
            memcpy(result->signature, next.signature, sizeof(result->signature));
            return TM_OK;
        }
    }
    return tm_err_set(TM_ERR_REFUSED, "lost the cluster record %d times in a row at %lld/%d/%s: refusing",
                      HA_MAX_ROUNDS, (long long)req->height, req->round, tm_step_name(req->step));
}

tm_status tm_chain_sign(tm_chain *chain, const tm_guard_request *req, tm_chain_sign_result *result)
{
    pthread_mutex_lock(&chain->lock);
    tm_status status = chain->ha ? sign_in_cluster(chain, req, result) : sign_alone(chain, req, result);
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

void tm_chain_snapshot(tm_chain *chain, tm_sign_state *out, char *persist_error, size_t cap)
{
    pthread_mutex_lock(&chain->lock);
    *out = chain->last;
    if (persist_error) snprintf(persist_error, cap, "%s", chain->persist_error);
    pthread_mutex_unlock(&chain->lock);
}
