/* A chain's metrics. See chain_metrics.h. */
#include "tmkms/chain_metrics.h"

#include <stdlib.h>
#include <string.h>

static const char *const reason_names[TM_REFUSAL_COUNT] = {
    "double_sign",  "regression",     "wrong_chain",         "max_height", "malformed",
    "ha_lost_race", "ha_unavailable", "persistence_failure", "other",
};

static const char *const kind_names[TM_SIGNED_COUNT] = {"proposal", "prevote", "precommit", "vote_extension"};

/* The messages are the ones guard.c, chain.c and session.c write; a new one that matches
 * nothing is "other", never a wrong reason. */
tm_refusal_reason tm_refusal_classify(tm_status status, const char *message)
{
    const char *msg = message ? message : "";
    switch (status) {
    case TM_ERR_DOUBLE_SIGN:
        if (strstr(msg, "another instance signed first")) return TM_REFUSAL_HA_LOST_RACE;
        return strstr(msg, "regression") ? TM_REFUSAL_REGRESSION : TM_REFUSAL_DOUBLE_SIGN;
    case TM_ERR_REFUSED:
        if (strstr(msg, "wrong chain id")) return TM_REFUSAL_WRONG_CHAIN;
        if (strstr(msg, "max_height")) return TM_REFUSAL_MAX_HEIGHT;
        if (strstr(msg, "lost the cluster record")) return TM_REFUSAL_HA_LOST_RACE;
        return TM_REFUSAL_OTHER;
    case TM_ERR_INVALID:
    case TM_ERR_TOO_LARGE: return TM_REFUSAL_MALFORMED;
    case TM_ERR_UNAVAILABLE: return TM_REFUSAL_HA_UNAVAILABLE;
    case TM_ERR_IO: return TM_REFUSAL_PERSISTENCE;
    default: return TM_REFUSAL_OTHER;
    }
}

tm_chain_metrics *tm_chain_metrics_new(tm_metrics *metrics, const char *chain_id)
{
    return tm_chain_metrics_new_ex(metrics, chain_id, 0);
}

tm_chain_metrics *tm_chain_metrics_new_ex(tm_metrics *metrics, const char *chain_id, unsigned flags)
{
    if (!metrics) return NULL;
    tm_chain_metrics *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    for (int k = 0; k < TM_SIGNED_COUNT; k++) {
        tm_labels l = {{"chain", "type"}, {chain_id, kind_names[k]}};
        m->signatures[k] = tm_metrics_counter(metrics, "tmkms_signatures_total",
                                              "Signatures released, by chain and type.", &l);
    }
    for (int r = 0; r < TM_REFUSAL_COUNT && !(flags & TM_CHAIN_METRICS_NO_REFUSALS); r++) {
        tm_labels l = {{"chain", "reason"}, {chain_id, reason_names[r]}};
        m->refusals[r] = tm_metrics_counter(metrics, "tmkms_refusals_total",
                                            "Signing requests refused, by chain and reason.", &l);
    }
    tm_labels c = {{"chain"}, {chain_id}};
    m->persist_seconds = tm_metrics_histogram(metrics, "tmkms_state_persist_seconds",
                                              "Time to make a new signing state durable, by chain.", &c,
                                              tm_metrics_latency_bounds, tm_metrics_latency_bounds_n);
    m->last_height =
        tm_metrics_gauge(metrics, "tmkms_last_signed_height", "Height of the last signed step.", &c);
    m->last_round =
        tm_metrics_gauge(metrics, "tmkms_last_signed_round", "Round of the last signed step.", &c);
    m->last_step = tm_metrics_gauge(metrics, "tmkms_last_signed_step",
                                    "Step of the last signed step (1 proposal, 2 prevote, 3 precommit).", &c);
    m->last_signed_at =
        tm_metrics_gauge(metrics, "tmkms_last_signature_timestamp_seconds",
                         "Unix time of the last new step signed by this process (0: none yet).", &c);
    return m;
}

void tm_chain_metrics_free(tm_chain_metrics *m)
{
    free(m); /* the series belong to the registry */
}

void tm_chain_metrics_signed(tm_chain_metrics *m, tm_signed_kind kind)
{
    if (m && (unsigned)kind < TM_SIGNED_COUNT) tm_counter_add(m->signatures[kind], 1);
}

void tm_chain_metrics_refused(tm_chain_metrics *m, tm_refusal_reason reason)
{
    if (m && (unsigned)reason < TM_REFUSAL_COUNT) tm_counter_add(m->refusals[reason], 1);
}

void tm_chain_metrics_persisted(tm_chain_metrics *m, uint64_t ns)
{
    if (m) tm_histogram_observe_ns(m->persist_seconds, ns);
}

void tm_chain_metrics_last(tm_chain_metrics *m, const tm_sign_state *last)
{
    if (!m) return;
    tm_gauge_set(m->last_height, last->height);
    tm_gauge_set(m->last_round, last->round);
    tm_gauge_set(m->last_step, (int64_t)last->step);
}

void tm_chain_metrics_new_state(tm_chain_metrics *m, int64_t unix_seconds)
{
    if (m) tm_gauge_set(m->last_signed_at, unix_seconds);
}

tm_histogram *tm_chain_metrics_latency(tm_metrics *metrics, const char *chain_id, const char *addr)
{
    if (!metrics) return NULL;
    const char *transport = "other";
    static const char *const schemes[] = {"unix", "tcp", "noise", "vsock"};
    /* "scheme://..." for tmkms's validators; the enclave's relay is "vsock:3:5000 (...)" */
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (addr && strncmp(addr, schemes[i], n) == 0 && addr[n] == ':') transport = schemes[i];
    }
    tm_labels l = {{"chain", "transport"}, {chain_id, transport}};
    return tm_metrics_histogram(
        metrics, "tmkms_sign_seconds",
        "Time from a signing request to its answer (guard, sign, persist), by chain and transport.", &l,
        tm_metrics_latency_bounds, tm_metrics_latency_bounds_n);
}
