/* See metrics_mirror.h. */
#include "metrics_mirror.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/log.h"
#include "tmkms/types.h"

#define MOD "enclave-metrics"
#define ALLOWED_LABELS 3
#define KEY_MAX                                                                                              \
    (TM_NITRO_MAX_METRIC_NAME +                                                                              \
     TM_METRICS_MAX_LABELS * (TM_NITRO_MAX_LABEL_NAME + TM_NITRO_MAX_LABEL_VALUE + 2) + 1)

typedef struct {
    const char *name; /* as the enclave reports it */
    uint32_t type;
    const char *shown; /* in the helper's registry */
    const char *help;  /* the producer's help text where the helper's tmkms shows the same series */
    const char *labels[ALLOWED_LABELS];
    /* When set, only the series whose label `only_label` has the value `only_value`: the
     * others of the family the helper produces itself. */
    const char *only_label;
    const char *only_value;
} allowed;

static const allowed allow[] = {
    /* The helper counts proposals and votes from the states it persists; whether a
     * precommit carried a vote extension only the enclave knows. */
    {"tmkms_signatures_total",
     TM_NITRO_METRIC_COUNTER,
     "tmkms_signatures_total",
     "Signatures released, by chain and type.",
     {"chain", "type"},
     "type",
     "vote_extension"},
    {"tmkms_refusals_total",
     TM_NITRO_METRIC_COUNTER,
     "tmkms_refusals_total",
     "Signing requests refused, by chain and reason.",
     {"chain", "reason"},
     NULL,
     NULL},
    {"tmkms_sign_seconds",
     TM_NITRO_METRIC_HISTOGRAM,
     "tmkms_sign_seconds",
     "Time from a signing request to its answer (guard, sign, persist), by chain and transport.",
     {"chain", "transport"},
     NULL,
     NULL},
    {"tmkms_kms_calls_total",
     TM_NITRO_METRIC_COUNTER,
     "tmkms_kms_calls_total",
     "AWS KMS calls by operation and result (ok, the AWS error type, or transport_error), retries included "
     "in one call.",
     {"operation", "result"},
     NULL,
     NULL},
    /* The enclave's own "addr" is its end of the relay (vsock:3:PORT): shown as the node's
     * address the relay serves, the one tmkms_validator_connected carries. */
    {"tmkms_validator_failures_total",
     TM_NITRO_METRIC_COUNTER,
     "tmkms_validator_failures_total",
     "Connection failures by validator and reason.",
     {"chain", "addr", "reason"},
     NULL,
     NULL},
    {"process_resident_memory_bytes",
     TM_NITRO_METRIC_GAUGE,
     "tmkms_enclave_process_resident_memory_bytes",
     "The enclave's resident memory size in bytes.",
     {NULL, NULL},
     NULL,
     NULL},
    {"process_virtual_memory_bytes",
     TM_NITRO_METRIC_GAUGE,
     "tmkms_enclave_process_virtual_memory_bytes",
     "The enclave's virtual memory size in bytes.",
     {NULL, NULL},
     NULL,
     NULL},
    {"process_open_fds",
     TM_NITRO_METRIC_GAUGE,
     "tmkms_enclave_process_open_fds",
     "The enclave's open file descriptors.",
     {NULL, NULL},
     NULL,
     NULL},
    {"process_start_time_seconds",
     TM_NITRO_METRIC_GAUGE,
     "tmkms_enclave_process_start_time_seconds",
     "Start time of the enclave's process since unix epoch in seconds.",
     {NULL, NULL},
     NULL,
     NULL},
};
#define N_ALLOWED (sizeof(allow) / sizeof(allow[0]))

typedef struct {
    char *key; /* shown name and sorted labels */
    void *ptr; /* tm_counter, tm_gauge or tm_histogram */
} known;

struct metrics_mirror {
    tm_metrics *registry;
    char chain_id[TM_MAX_CHAIN_ID_LEN + 1]; /* the one chain a "chain" label may name */
    char *node_addr;                        /* shown as every "addr" label */
    known series[MIRROR_MAX_SERIES];
    size_t n;
    bool full_warned;
    bool create_warned;
};

tm_status metrics_mirror_new(tm_metrics *registry, const char *chain_id, const char *node_addr,
                             metrics_mirror **out)
{
    *out = NULL;
    if (!registry) return TM_OK;
    metrics_mirror *m = calloc(1, sizeof(*m));
    TM_ENSURE(m, TM_ERR_NOMEM, "metrics mirror: out of memory");
    m->registry = registry;
    snprintf(m->chain_id, sizeof(m->chain_id), "%s", chain_id);
    m->node_addr = strdup(node_addr);
    if (!m->node_addr) {
        free(m);
        return tm_err_set(TM_ERR_NOMEM, "metrics mirror: out of memory");
    }
    *out = m;
    return TM_OK;
}

void metrics_mirror_free(metrics_mirror *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++)
        free(m->series[i].key);
    free(m->node_addr);
    free(m);
}

static const allowed *find_allowed(const char *name)
{
    for (size_t i = 0; i < N_ALLOWED; i++)
        if (strcmp(allow[i].name, name) == 0) return &allow[i];
    return NULL;
}

static bool listed_label(const allowed *a, const char *name)
{
    for (size_t k = 0; k < ALLOWED_LABELS && a->labels[k]; k++)
        if (strcmp(name, a->labels[k]) == 0) return true;
    return false;
}

/* A label's value as the helper shows it: "addr" is the node's address. */
static const char *shown_value(const metrics_mirror *m, const Tmkms__Nitro__MetricLabel *l)
{
    return strcmp(l->name, "addr") == 0 ? m->node_addr : l->value;
}

/* The listed type and exactly the listed label names, in any order; a "chain" label names
 * the helper's chain (an enclave serves one). */
static tm_status check_series(const metrics_mirror *m, const Tmkms__Nitro__MetricSeries *s, const allowed *a,
                              size_t idx)
{
    size_t want = 0;
    while (want < ALLOWED_LABELS && a->labels[want])
        want++;
    TM_ENSURE(s->type == a->type, TM_ERR_INVALID, "metrics_report.series[%zu].type: %u for %s, expected %u",
              idx, s->type, s->name, a->type);
    TM_ENSURE(s->n_labels == want, TM_ERR_INVALID,
              "metrics_report.series[%zu].labels: %zu for %s, expected %zu", idx, s->n_labels, s->name, want);
    for (size_t i = 0; i < s->n_labels; i++) {
        const char *n = s->labels[i]->name;
        TM_ENSURE(listed_label(a, n), TM_ERR_INVALID,
                  "metrics_report.series[%zu].labels[%zu].name: \"%s\" is not a label of %s", idx, i, n,
                  s->name);
        TM_ENSURE(strcmp(n, "chain") != 0 || strcmp(s->labels[i]->value, m->chain_id) == 0, TM_ERR_INVALID,
                  "metrics_report.series[%zu].labels[%zu].value: chain \"%s\", but this helper serves \"%s\"",
                  idx, i, s->labels[i]->value, m->chain_id);
    }
    return TM_OK; /* distinct names: msg.c checked */
}

/* "shown\x01name\x02value..." with the pairs in the allowed order, so a permutation of the
 * same labels is the same series (as in the registry). The values as reported (bounded by
 * msg.c); an "addr" shown as the node's address keeps the enclave's value here. */
static void series_key(const Tmkms__Nitro__MetricSeries *s, const allowed *a, char *key, size_t cap)
{
    size_t n = (size_t)snprintf(key, cap, "%s", a->shown);
    for (size_t k = 0; k < ALLOWED_LABELS && a->labels[k]; k++)
        for (size_t i = 0; i < s->n_labels; i++)
            if (strcmp(s->labels[i]->name, a->labels[k]) == 0 && n < cap)
                n += (size_t)snprintf(key + n, cap - n, "\x01%s\x02%s", a->labels[k], s->labels[i]->value);
}

static void *create(metrics_mirror *m, const Tmkms__Nitro__MetricSeries *s, const allowed *a)
{
    tm_labels l = {{NULL}, {NULL}};
    for (size_t i = 0; i < s->n_labels && i < TM_METRICS_MAX_LABELS; i++) {
        l.name[i] = s->labels[i]->name;
        l.value[i] = shown_value(m, s->labels[i]);
    }
    if (a->type == TM_NITRO_METRIC_COUNTER) return tm_metrics_counter(m->registry, a->shown, a->help, &l);
    if (a->type == TM_NITRO_METRIC_GAUGE) return tm_metrics_gauge(m->registry, a->shown, a->help, &l);
    return tm_metrics_histogram(m->registry, a->shown, a->help, &l, tm_metrics_latency_bounds,
                                tm_metrics_latency_bounds_n);
}

/* Whether the series is one the helper takes (the family's value filter, if it has one). */
static bool taken(const allowed *a, const Tmkms__Nitro__MetricSeries *s)
{
    if (!a->only_label) return true;
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i]->name, a->only_label) == 0)
            return strcmp(s->labels[i]->value, a->only_value) == 0;
    return false;
}

/* The series' pointer in the helper's registry, created the first time; NULL: left out. */
static void *lookup(metrics_mirror *m, const Tmkms__Nitro__MetricSeries *s, const allowed *a)
{
    char key[KEY_MAX];
    series_key(s, a, key, sizeof(key));
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->series[i].key, key) == 0) return m->series[i].ptr;
    if (m->n == MIRROR_MAX_SERIES) {
        if (!m->full_warned)
            tm_log_warn(MOD, "the enclave reported more than %d distinct series: new ones are left out",
                        MIRROR_MAX_SERIES);
        m->full_warned = true;
        return NULL;
    }
    void *ptr = create(m, s, a);
    if (!ptr && !m->create_warned)
        tm_log_warn(MOD,
                    "%s could not be made in the helper's registry (registered with another type or "
                    "help text, or the registry is full): left out",
                    a->shown);
    m->create_warned = m->create_warned || !ptr;
    char *copy = ptr ? strdup(key) : NULL;
    if (!copy) return NULL;
    m->series[m->n++] = (known){copy, ptr};
    return ptr;
}

static void set_value(void *ptr, const Tmkms__Nitro__MetricSeries *s)
{
    if (s->type == TM_NITRO_METRIC_COUNTER)
        tm_counter_set(ptr, s->counter);
    else if (s->type == TM_NITRO_METRIC_GAUGE)
        tm_gauge_set(ptr, s->gauge);
    else
        tm_histogram_set(ptr, s->buckets, s->n_buckets, s->sum_ns);
}

tm_status metrics_mirror_apply(metrics_mirror *m, const Tmkms__Nitro__MetricsReport *r, size_t *applied)
{
    size_t n = 0;
    if (applied) *applied = 0;
    if (!m) return TM_OK;
    for (size_t i = 0; i < r->n_series; i++) {
        const allowed *a = find_allowed(r->series[i]->name);
        if (a) TM_TRY(check_series(m, r->series[i], a, i));
    }
    for (size_t i = 0; i < r->n_series; i++) {
        const allowed *a = find_allowed(r->series[i]->name);
        void *ptr = a && taken(a, r->series[i]) ? lookup(m, r->series[i], a) : NULL;
        if (!ptr) continue;
        set_value(ptr, r->series[i]);
        n++;
    }
    if (applied) *applied = n;
    return TM_OK;
}
