/* Metrics in the Prometheus text exposition format (version 0.0.4), served over HTTP by
 * libmicrohttpd on an address from the config (off by default).
 *
 * A registry holds metric families (name, help, type) and, per family, one series per
 * label set. Series are created once, when what they measure appears (a chain is opened,
 * a validator connection starts) or on the first event of a kind (a refusal reason);
 * the hot paths keep the returned pointer and update it with atomics: no lock and no
 * allocation per signature. Rendering takes the registry's lock and reads the atomics.
 *
 * Names follow Prometheus conventions: tmkms_..._total for counters, _seconds for
 * durations, base units. Label values are escaped on rendering (backslash, quote,
 * newline). Bounded: at most TM_METRICS_MAX_SERIES series in a registry, after which
 * new series are dropped (and counted in tmkms_metrics_series_dropped_total) rather than
 * letting a peer grow memory without bound. tmkms_metrics_series_dropped_total itself is
 * created with the registry, always rendered first, and not counted in the bound.
 *
 * Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]* not starting with
 * "__", each at most once per series. Invalid ones are an error (NULL, tm_err_set). */
#ifndef TMKMS_METRICS_H
#define TMKMS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tmkms/error.h"

#define TM_METRICS_MAX_SERIES 4096
#define TM_METRICS_MAX_LABELS 4
#define TM_METRICS_MAX_BUCKETS 16

typedef struct tm_metrics tm_metrics;

typedef struct {
    _Atomic uint64_t value;
} tm_counter;

typedef struct {
    _Atomic int64_t value; /* gauges here are integers (heights, counts, bytes, seconds) */
} tm_gauge;

typedef struct {
    size_t n_bounds;
    double bounds[TM_METRICS_MAX_BUCKETS]; /* upper bounds in seconds, ascending; +Inf implied */
    _Atomic uint64_t buckets[TM_METRICS_MAX_BUCKETS + 1]; /* non-cumulative; the last is +Inf */
    _Atomic uint64_t sum_ns; /* sum of observations in nanoseconds; the count is the buckets' sum */
} tm_histogram;

/* Labels of a series: up to TM_METRICS_MAX_LABELS name/value pairs, names [a-zA-Z_][a-zA-Z0-9_]*,
 * values any UTF-8 (escaped on rendering). Unused pairs have name NULL. */
typedef struct {
    const char *name[TM_METRICS_MAX_LABELS];
    const char *value[TM_METRICS_MAX_LABELS];
} tm_labels;

/* Computes a gauge's value at render time (RSS, open fds ...). Called under the registry's
 * lock: it must not call back into the registry. Returning TM_GAUGE_FN_NONE (the value could
 * not be read, e.g. a /proc file) leaves the series out of that rendering. */
typedef int64_t (*tm_gauge_fn)(void *ctx);
#define TM_GAUGE_FN_NONE INT64_MIN

tm_status tm_metrics_new(tm_metrics **out);
void tm_metrics_free(tm_metrics *metrics);

/* The process-wide registry the core records into, or NULL (metrics off: every recording
 * helper below accepts NULL and does nothing). Set once at start, before threads. */
void tm_metrics_set_global(tm_metrics *metrics);
tm_metrics *tm_metrics_global(void);

/* Get or create a series. The same (name, labels) returns the same pointer; a name used
 * with another type or help is an error (NULL). NULL too when the registry is full or
 * metrics is NULL. A NULL answer leaves the thread's error message as it was (these are
 * called on error paths, to count the error being reported). The pointers stay valid
 * until tm_metrics_free. */
/* Prometheus's rules: a metric name [a-zA-Z_:][a-zA-Z0-9_:]*; a label name
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with "__". NULL is neither. */
bool tm_metrics_valid_name(const char *name);
bool tm_metrics_valid_label_name(const char *name);

tm_counter *tm_metrics_counter(tm_metrics *metrics, const char *name, const char *help,
                               const tm_labels *labels);
tm_gauge *tm_metrics_gauge(tm_metrics *metrics, const char *name, const char *help, const tm_labels *labels);
/* bounds: ascending upper bounds in seconds (n <= TM_METRICS_MAX_BUCKETS), finite, the same for
 * every series of a family (other bounds: NULL); the label "le" is reserved. */
tm_histogram *tm_metrics_histogram(tm_metrics *metrics, const char *name, const char *help,
                                   const tm_labels *labels, const double *bounds, size_t n_bounds);
/* A gauge computed when rendered (metrics NULL: TM_OK, nothing done). Registering the same
 * (name, labels) again with the same fn and ctx is TM_OK; with another fn or ctx,
 * TM_ERR_EXISTS. The registry full: TM_ERR_TOO_LARGE. */
tm_status tm_metrics_gauge_fn(tm_metrics *metrics, const char *name, const char *help,
                              const tm_labels *labels, tm_gauge_fn fn, void *ctx);

/* Updates: NULL-safe, lock-free. */
void tm_counter_add(tm_counter *c, uint64_t n);
void tm_gauge_set(tm_gauge *g, int64_t v);
void tm_gauge_add(tm_gauge *g, int64_t delta);
void tm_histogram_observe_ns(tm_histogram *h, uint64_t ns);

/* Mirroring another process's totals (the Nitro helper shows the enclave's series): a
 * counter set to a total (it may go down: the other process restarted), a histogram's
 * non-cumulative buckets (n must be its number of bounds + 1, else nothing is done) and
 * its sum. NULL-safe, lock-free; a concurrent rendering may see a mix of old and new
 * buckets, never a _count that disagrees with them. */
void tm_counter_set(tm_counter *c, uint64_t v);
void tm_histogram_set(tm_histogram *h, const uint64_t *buckets, size_t n, uint64_t sum_ns);

/* Bounds for signing-path latencies: 50 µs .. 5 s. */
extern const double tm_metrics_latency_bounds[];
extern const size_t tm_metrics_latency_bounds_n;

/* The exposition text of every series, families in creation order, series in creation
 * order; caller frees *out (NUL-terminated; *len excludes the NUL; len may be NULL). A
 * histogram's _count is its +Inf bucket as read, so the two always agree. */
tm_status tm_metrics_render(tm_metrics *metrics, char **out, size_t *len);

/* One series as tm_metrics_foreach shows it. The strings and bounds belong to the
 * registry and are valid during the call only. Gauges computed when rendered
 * (tm_metrics_gauge_fn) are gauges here, computed for the call (left out when their
 * function returns TM_GAUGE_FN_NONE). Histograms: buckets non-cumulative, the last one
 * +Inf; count is the sum of the buckets as read. */
typedef enum { TM_METRIC_COUNTER, TM_METRIC_GAUGE, TM_METRIC_HISTOGRAM } tm_metric_type;

typedef struct {
    const char *name;
    tm_metric_type type;
    size_t n_labels;
    const char *label_name[TM_METRICS_MAX_LABELS];
    const char *label_value[TM_METRICS_MAX_LABELS];
    uint64_t counter;
    int64_t gauge;
    size_t n_bounds;
    const double *bounds;
    uint64_t buckets[TM_METRICS_MAX_BUCKETS + 1];
    uint64_t count;
    uint64_t sum_ns;
} tm_metric_sample;

/* Return nonzero to stop the iteration. */
typedef int (*tm_metrics_visit_fn)(const tm_metric_sample *sample, void *ctx);

/* Calls visit for every series, in rendering order (tmkms_metrics_series_dropped_total
 * first), under the registry's lock: visit must not call back into the registry. */
tm_status tm_metrics_foreach(tm_metrics *metrics, tm_metrics_visit_fn visit, void *ctx);

/* A program's registry: created, made the global one, with the process metrics below.
 * tm_metrics_close_process undoes it (NULL is fine). */
tm_status tm_metrics_open_process(const char *program, int enclave, tm_metrics **out);
void tm_metrics_close_process(tm_metrics *metrics);

/* The standard process metrics: process_start_time_seconds, process_resident_memory_bytes,
 * process_open_fds, process_virtual_memory_bytes; and tmkms_build_info{version, revision,
 * program, enclave} 1. Computed when rendered, from /proc/self (readable by the process
 * itself after prctl(PR_SET_DUMPABLE, 0)). metrics NULL: TM_OK, nothing done. */
tm_status tm_metrics_add_process(tm_metrics *metrics, const char *program, const char *version,
                                 const char *revision, int enclave);

/* The HTTP endpoint: GET (or HEAD) /metrics answers the exposition
 * (Content-Type: text/plain; version=0.0.4; charset=utf-8); any other path 404, any
 * other method 405. addr: "HOST:PORT" (IPv4 or [IPv6]); a port of 0 picks a free one
 * (read it back with tm_metrics_server_port). At most 16 connections, 10 s timeouts.
 * Logs the address, and a warning when it is not a loopback one. */
typedef struct tm_metrics_server tm_metrics_server;
/* The endpoint's address, "A.B.C.D:PORT" or "[IPv6]:PORT" (no host names): TM_ERR_CONFIG
 * naming what is wrong. The config check calls it too. */
tm_status tm_metrics_parse_addr(const char *addr, struct sockaddr_storage *ss);
tm_status tm_metrics_server_start(tm_metrics *metrics, const char *addr, tm_metrics_server **out);
uint16_t tm_metrics_server_port(const tm_metrics_server *server);
void tm_metrics_server_stop(tm_metrics_server *server);

#endif
