/* The metrics of one chain (metrics.h): signatures by type, refusals by reason, the
 * state's persistence latency, the last signed height/round/step, and the signing
 * latency per transport. Created when the chain opens, if a registry is set; every
 * recording function accepts NULL (metrics off). */
#ifndef TMKMS_CHAIN_METRICS_H
#define TMKMS_CHAIN_METRICS_H

#include "tmkms/error.h"
#include "tmkms/metrics.h"
#include "tmkms/types.h"

typedef enum {
    TM_REFUSAL_DOUBLE_SIGN,    /* conflicting data at a signed step */
    TM_REFUSAL_REGRESSION,     /* height, round or step below the last signed */
    TM_REFUSAL_WRONG_CHAIN,    /* a request for another chain id */
    TM_REFUSAL_MAX_HEIGHT,     /* above the connection's max_height */
    TM_REFUSAL_MALFORMED,      /* a request that fails validation */
    TM_REFUSAL_HA_LOST_RACE,   /* another instance signed something else first */
    TM_REFUSAL_HA_UNAVAILABLE, /* the HA cluster did not answer */
    TM_REFUSAL_PERSISTENCE,    /* the state could not be made durable */
    TM_REFUSAL_OTHER,
    TM_REFUSAL_COUNT
} tm_refusal_reason;

/* Which reason a refusal's status and message stand for. */
tm_refusal_reason tm_refusal_classify(tm_status status, const char *message);

/* What a signature was: a step's signature or a vote extension's. */
typedef enum {
    TM_SIGNED_PROPOSAL,
    TM_SIGNED_PREVOTE,
    TM_SIGNED_PRECOMMIT,
    TM_SIGNED_EXTENSION,
    TM_SIGNED_COUNT
} tm_signed_kind;

typedef struct tm_chain_metrics {
    tm_counter *signatures[TM_SIGNED_COUNT];
    tm_counter *refusals[TM_REFUSAL_COUNT];
    tm_histogram *persist_seconds;
    tm_gauge *last_height, *last_round, *last_step;
    tm_gauge *last_signed_at; /* Unix seconds of the last new signature (0: none since start) */
} tm_chain_metrics;

/* NULL when metrics is NULL (or on allocation failure: metrics never stop signing). */
tm_chain_metrics *tm_chain_metrics_new(tm_metrics *metrics, const char *chain_id);
/* The same without the refusal series (refusals[] stay NULL): for a process that shows
 * another's refusals, the Nitro helper mirroring the enclave's. */
#define TM_CHAIN_METRICS_NO_REFUSALS 1u
tm_chain_metrics *tm_chain_metrics_new_ex(tm_metrics *metrics, const char *chain_id, unsigned flags);
void tm_chain_metrics_free(tm_chain_metrics *m);

void tm_chain_metrics_signed(tm_chain_metrics *m, tm_signed_kind kind);
void tm_chain_metrics_refused(tm_chain_metrics *m, tm_refusal_reason reason);
void tm_chain_metrics_persisted(tm_chain_metrics *m, uint64_t ns);
void tm_chain_metrics_last(tm_chain_metrics *m, const tm_sign_state *last);
/* A new step was signed and persisted at unix_seconds. */
void tm_chain_metrics_new_state(tm_chain_metrics *m, int64_t unix_seconds);

/* The signing-latency histogram of a chain over one transport (the scheme of addr:
 * unix, tcp, noise, vsock), or NULL. */
tm_histogram *tm_chain_metrics_latency(tm_metrics *metrics, const char *chain_id, const char *addr);

#endif
