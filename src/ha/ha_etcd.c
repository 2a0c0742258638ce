/* The etcd backend of high availability. See ha_etcd.h. */
#include "tmkms/ha/ha_etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/clock.h"
#include "tmkms/log.h"
#include "tmkms/state.h"

#define MOD "ha"

typedef struct {
    tm_ha_backend base;
    tm_etcd *etcd;
    char *prefix;
    pthread_mutex_t outage_lock;
    bool down;               /* the last call failed for want of etcd */
    bool quiet;              /* no outage log lines */
    uint64_t down_since_ns;
} ha_etcd;

tm_status tm_ha_record_key(const char *prefix, const char *chain_id, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", prefix, chain_id);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "HA record key '%s%s' too long", prefix, chain_id);
    return TM_OK;
}

tm_status tm_ha_record_encode(const tm_sign_state *state, char **json_out)
{
    return tm_state_to_cometbft_json(state, json_out);
}

tm_status tm_ha_record_decode(const uint8_t *value, size_t len, tm_sign_state *out)
{
    tm_state_json_kind kind;
    TM_TRY(tm_state_from_json((const char *)value, len, out, &kind));
    TM_ENSURE(kind == TM_STATE_JSON_COMETBFT, TM_ERR_CORRUPT, "not a CometBFT priv_validator_state JSON");
    return TM_OK;
}

/* One log line when an outage starts (with its cause) and one when it ends: a cluster
 * that is down refuses every request, and the session logs those refusals already. */
static tm_status note_outcome(ha_etcd *h, tm_status status)
{
    bool unavailable = status == TM_ERR_UNAVAILABLE;
    if (h->quiet) return status;
    pthread_mutex_lock(&h->outage_lock);
    if (unavailable && !h->down) {
        h->down = true;
        h->down_since_ns = tm_monotonic_ns();
        tm_log_error(MOD, "etcd unavailable, refusing to sign until it answers: %s", tm_err_msg());
    } else if (!unavailable && h->down) {
        h->down = false;
        tm_log_info(MOD, "etcd answers again after %.1f s",
                    (double)(tm_monotonic_ns() - h->down_since_ns) / 1e9);
    }
    pthread_mutex_unlock(&h->outage_lock);
    return status;
}

/* The record in an etcd value: nothing (no record yet) or a state. */
static tm_status record_from_kv(const char *key, const tm_etcd_kv *kv, tm_ha_record *out)
{
    memset(out, 0, sizeof(*out));
    out->revision = kv->mod_revision;
    if (kv->mod_revision == 0) return TM_OK;
    tm_status status = tm_ha_record_decode(kv->value, kv->len, &out->state);
    if (status != TM_OK) return tm_err_prefix(TM_ERR_CORRUPT, "HA record %s: ", key);
    return TM_OK;
}

static tm_status ha_load(tm_ha_backend *b, const char *chain_id, tm_ha_record *out)
{
    ha_etcd *h = (ha_etcd *)b;
    char key[256];
    TM_TRY(tm_ha_record_key(h->prefix, chain_id, key, sizeof(key)));
    tm_etcd_kv *kv = malloc(sizeof(*kv));
    TM_ENSURE(kv != NULL, TM_ERR_NOMEM, "out of memory");
    tm_status status = note_outcome(h, tm_etcd_get(h->etcd, key, kv));
    if (status == TM_OK) status = record_from_kv(key, kv, out);
    free(kv);
    return status;
}

static tm_status ha_swap(tm_ha_backend *b, const char *chain_id, int64_t expected, const tm_sign_state *next,
                         bool *won, tm_ha_record *current)
{
    ha_etcd *h = (ha_etcd *)b;
    char key[256];
    TM_TRY(tm_ha_record_key(h->prefix, chain_id, key, sizeof(key)));
    char *value = NULL;
    TM_TRY(tm_ha_record_encode(next, &value));
    tm_status status = TM_OK;
    tm_etcd_kv *kv = malloc(sizeof(*kv));
    TM_ENSURE_GOTO(kv != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(note_outcome(h, tm_etcd_cas(h->etcd, key, expected, (const uint8_t *)value, strlen(value), won, kv)));
    TM_TRY_GOTO(record_from_kv(key, kv, current));
out:
    free(kv);
    free(value);
    return status;
}

static void ha_close(tm_ha_backend *b)
{
    ha_etcd *h = (ha_etcd *)b;
    if (!h) return;
    tm_etcd_close(h->etcd);
    pthread_mutex_destroy(&h->outage_lock);
    free(h->prefix);
    free(h);
}

static const struct tm_ha_backend_ops ha_etcd_ops = {ha_load, ha_swap, ha_close};

tm_status tm_ha_etcd_open(const tm_ha_config *config, tm_ha_backend **out)
{
    tm_status status = TM_OK;
    tm_etcd_options o = {.ca_file = config->ca_file,
                         .cert_file = config->cert_file,
                         .key_file = config->key_file,
                         .timeout_ms = (long)config->request_timeout_ms};
    TM_ENSURE(config->n_endpoints <= TM_ETCD_MAX_ENDPOINTS, TM_ERR_INVALID, "[ha]: more than %d endpoints",
              TM_ETCD_MAX_ENDPOINTS);
    for (size_t i = 0; i < config->n_endpoints; i++) o.endpoints[i] = config->endpoints[i];
    o.n_endpoints = config->n_endpoints;
    ha_etcd *h = calloc(1, sizeof(*h));
    TM_ENSURE(h != NULL, TM_ERR_NOMEM, "out of memory");
    h->base.ops = &ha_etcd_ops;
    pthread_mutex_init(&h->outage_lock, NULL);
    h->prefix = strdup(config->key_prefix ? config->key_prefix : "/tmkms/");
    TM_ENSURE_GOTO(h->prefix != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(tm_etcd_open(&o, &h->etcd));
    *out = &h->base;
    return TM_OK;
out:
    ha_close(&h->base);
    return status;
}

void tm_ha_etcd_quiet(tm_ha_backend *backend)
{
    ((ha_etcd *)backend)->quiet = true;
}

tm_etcd *tm_ha_etcd_client(tm_ha_backend *backend)
{
    return ((ha_etcd *)backend)->etcd;
}
