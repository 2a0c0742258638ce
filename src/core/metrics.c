/* The metrics registry (tmkms/metrics.h): families and series in creation order, created
 * under a mutex, updated with atomics, rendered in the Prometheus text exposition format
 * 0.0.4; and the standard process metrics read from /proc. */
#include "tmkms/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmkms/utf8.h"

#define DROPPED_NAME "tmkms_metrics_series_dropped_total"
#define DROPPED_HELP "Series not created because the registry already held its maximum number of series."

typedef enum { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM } family_type;
typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FN } series_kind;

typedef struct series {
    struct series *next;
    series_kind kind;
    size_t n_labels;
    char *label_name[TM_METRICS_MAX_LABELS];  /* owned */
    char *label_value[TM_METRICS_MAX_LABELS]; /* owned */
    union {
        tm_counter counter;
        tm_gauge gauge;
        tm_histogram histogram;
        struct {
            tm_gauge_fn fn;
            void *ctx;
        } fn;
    } u;
} series;

typedef struct family {
    struct family *next;
    char *name; /* owned */
    char *help; /* owned */
    family_type type;
    size_t n_bounds; /* histograms: the bounds every series of the family has */
    double bounds[TM_METRICS_MAX_BUCKETS];
    series *first;
    series *last;
} family;

struct tm_metrics {
    pthread_mutex_t lock;
    family *first;
    family *last;
    size_t n_series; /* not counting the dropped counter */
    tm_counter *dropped;
};

static _Atomic(tm_metrics *) global_metrics;

const double tm_metrics_latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};
const size_t tm_metrics_latency_bounds_n =
    sizeof tm_metrics_latency_bounds / sizeof tm_metrics_latency_bounds[0];
_Static_assert(sizeof tm_metrics_latency_bounds / sizeof tm_metrics_latency_bounds[0] <=
                   TM_METRICS_MAX_BUCKETS,
               "latency bounds fit a histogram");

/* ---- validation ---- */

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool tm_metrics_valid_name(const char *name)
{
    if (name == NULL || name[0] == '\0') return false;
    if (!is_alpha_(name[0]) && name[0] != ':') return false;
    for (const char *p = name + 1; *p != '\0'; p++) {
        if (!is_alpha_(*p) && !is_digit(*p) && *p != ':') return false;
    }
    return true;
}

bool tm_metrics_valid_label_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || !is_alpha_(name[0])) return false;
    if (name[0] == '_' && name[1] == '_') return false;
    for (const char *p = name + 1; *p != '\0'; p++) {
        if (!is_alpha_(*p) && !is_digit(*p)) return false;
    }
    return true;
}

/* The used pairs of labels (name != NULL), checked. */
static tm_status check_labels(const char *metric, const tm_labels *labels, bool histogram, size_t *n_out)
{
    size_t n = 0;
    *n_out = 0;
    if (labels == NULL) return TM_OK;
    for (size_t i = 0; i < TM_METRICS_MAX_LABELS; i++) {
        const char *name = labels->name[i];
        if (name == NULL) continue;
        TM_ENSURE(tm_metrics_valid_label_name(name), TM_ERR_INVALID, "metric %s: invalid label name \"%s\"",
                  metric, name);
        TM_ENSURE(!(histogram && strcmp(name, "le") == 0), TM_ERR_INVALID,
                  "metric %s: the label name \"le\" is reserved for histogram buckets", metric);
        TM_ENSURE(labels->value[i] != NULL, TM_ERR_INVALID, "metric %s: label %s has no value", metric, name);
        TM_ENSURE(tm_utf8_valid(labels->value[i]), TM_ERR_INVALID, "metric %s: label %s: value is not UTF-8",
                  metric, name);
        for (size_t j = 0; j < i; j++) {
            TM_ENSURE(labels->name[j] == NULL || strcmp(labels->name[j], name) != 0, TM_ERR_INVALID,
                      "metric %s: label %s given twice", metric, name);
        }
        n++;
    }
    *n_out = n;
    return TM_OK;
}

static tm_status check_bounds(const char *metric, const double *bounds, size_t n)
{
    TM_ENSURE(n <= TM_METRICS_MAX_BUCKETS, TM_ERR_TOO_LARGE, "histogram %s: %zu bounds, at most %d", metric,
              n, TM_METRICS_MAX_BUCKETS);
    TM_ENSURE(n == 0 || bounds != NULL, TM_ERR_INVALID, "histogram %s: no bounds", metric);
    for (size_t i = 0; i < n; i++) {
        TM_ENSURE(isfinite(bounds[i]), TM_ERR_INVALID, "histogram %s: bound %zu is not finite", metric, i);
        TM_ENSURE(i == 0 || bounds[i] > bounds[i - 1], TM_ERR_INVALID,
                  "histogram %s: bounds not strictly ascending at %zu", metric, i);
    }
    return TM_OK;
}

/* ---- registry ---- */

static const char *type_name(family_type t)
{
    switch (t) {
    case TYPE_COUNTER: return "counter";
    case TYPE_GAUGE: return "gauge";
    case TYPE_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static void series_free(series *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->label_name[i]);
        free(s->label_value[i]);
    }
    free(s);
}

static void family_free(family *f)
{
    if (f == NULL) return;
    series *s = f->first;
    while (s != NULL) {
        series *next = s->next;
        series_free(s);
        s = next;
    }
    free(f->name);
    free(f->help);
    free(f);
}

static family *find_family(tm_metrics *m, const char *name)
{
    for (family *f = m->first; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0) return f;
    }
    return NULL;
}

/* The value of label `name` in labels, or NULL. */
static const char *label_lookup(const tm_labels *labels, const char *name)
{
    for (size_t i = 0; i < TM_METRICS_MAX_LABELS; i++) {
        if (labels->name[i] != NULL && strcmp(labels->name[i], name) == 0) return labels->value[i];
    }
    return NULL;
}

/* The series of f with exactly these labels (as a set: order does not matter). */
static series *find_series(const family *f, const tm_labels *labels, size_t n_labels)
{
    for (series *s = f->first; s != NULL; s = s->next) {
        if (s->n_labels != n_labels) continue;
        bool same = true;
        for (size_t i = 0; i < s->n_labels && same; i++) {
            const char *v = label_lookup(labels, s->label_name[i]);
            same = v != NULL && strcmp(v, s->label_value[i]) == 0;
        }
        if (same) return s;
    }
    return NULL;
}

static tm_status new_series(const char *metric, const tm_labels *labels, series_kind kind, series **out)
{
    tm_status status = TM_OK;
    series *s = calloc(1, sizeof *s);
    TM_ENSURE_GOTO(s != NULL, TM_ERR_NOMEM, "metric %s: out of memory", metric);
    s->kind = kind;
    for (size_t i = 0; labels != NULL && i < TM_METRICS_MAX_LABELS; i++) {
        if (labels->name[i] == NULL) continue;
        char *name = strdup(labels->name[i]);
        char *value = strdup(labels->value[i]);
        s->label_name[s->n_labels] = name;
        s->label_value[s->n_labels] = value;
        s->n_labels++;
        TM_ENSURE_GOTO(name != NULL && value != NULL, TM_ERR_NOMEM, "metric %s: out of memory", metric);
    }
    *out = s;
    s = NULL;
out:
    series_free(s);
    return status;
}

typedef struct {
    family_type type;
    series_kind kind;
    const double *bounds; /* histograms */
    size_t n_bounds;
    tm_gauge_fn fn; /* gauge_fn */
    void *ctx;
} series_spec;

/* Get or create the series (name, labels) of the given kind; the caller holds the lock.
 * *created tells whether it is new. */
static tm_status get_or_create_locked(tm_metrics *m, const char *name, const char *help,
                                      const tm_labels *labels, const series_spec *spec, series **out,
                                      bool *created)
{
    tm_status status = TM_OK;
    family *new_family = NULL;
    series *s = NULL;
    size_t n_labels = 0;
    *out = NULL;
    *created = false;

    TM_TRY_GOTO(check_labels(name, labels, spec->type == TYPE_HISTOGRAM, &n_labels));
    family *f = find_family(m, name);
    if (f != NULL) {
        TM_ENSURE_GOTO(f->type == spec->type, TM_ERR_INVALID, "metric %s: a %s, not a %s", name,
                       type_name(f->type), type_name(spec->type));
        TM_ENSURE_GOTO(strcmp(f->help, help) == 0, TM_ERR_INVALID,
                       "metric %s: registered with another help text", name);
        TM_ENSURE_GOTO(spec->type != TYPE_HISTOGRAM ||
                           (f->n_bounds == spec->n_bounds &&
                            (spec->n_bounds == 0 ||
                             memcmp(f->bounds, spec->bounds, spec->n_bounds * sizeof spec->bounds[0]) == 0)),
                       TM_ERR_INVALID, "histogram %s: registered with other bounds", name);
        series *existing = find_series(f, labels, n_labels);
        if (existing != NULL) {
            TM_ENSURE_GOTO(existing->kind == spec->kind, TM_ERR_INVALID,
                           "metric %s: the series exists as another kind of gauge", name);
            *out = existing;
            goto out;
        }
    }
    if (m->n_series >= TM_METRICS_MAX_SERIES) {
        atomic_fetch_add_explicit(&m->dropped->value, 1, memory_order_relaxed);
        TM_ENSURE_GOTO(false, TM_ERR_TOO_LARGE,
                       "metric %s: the registry holds %d series already, series dropped", name,
                       TM_METRICS_MAX_SERIES);
    }
    if (f == NULL) {
        new_family = calloc(1, sizeof *new_family);
        TM_ENSURE_GOTO(new_family != NULL, TM_ERR_NOMEM, "metric %s: out of memory", name);
        new_family->name = strdup(name);
        new_family->help = strdup(help);
        TM_ENSURE_GOTO(new_family->name != NULL && new_family->help != NULL, TM_ERR_NOMEM,
                       "metric %s: out of memory", name);
        new_family->type = spec->type;
        if (spec->type == TYPE_HISTOGRAM) {
            new_family->n_bounds = spec->n_bounds;
            if (spec->n_bounds > 0) {
                memcpy(new_family->bounds, spec->bounds, spec->n_bounds * sizeof spec->bounds[0]);
            }
        }
        f = new_family;
    }
    TM_TRY_GOTO(new_series(name, labels, spec->kind, &s));
    if (spec->kind == KIND_HISTOGRAM) {
        s->u.histogram.n_bounds = f->n_bounds;
        memcpy(s->u.histogram.bounds, f->bounds, sizeof f->bounds);
    } else if (spec->kind == KIND_GAUGE_FN) {
        s->u.fn.fn = spec->fn;
        s->u.fn.ctx = spec->ctx;
    }
    /* Linked in only now: nothing below can fail. */
    if (new_family != NULL) {
        if (m->last == NULL) {
            m->first = new_family;
        } else {
            m->last->next = new_family;
        }
        m->last = new_family;
        new_family = NULL;
    }
    if (f->last == NULL) {
        f->first = s;
    } else {
        f->last->next = s;
    }
    f->last = s;
    m->n_series++;
    *out = s;
    *created = true;
    s = NULL;
out:
    series_free(s);
    family_free(new_family);
    return status;
}

static tm_status get_or_create(tm_metrics *m, const char *name, const char *help, const tm_labels *labels,
                               const series_spec *spec, series **out, bool *created)
{
    *out = NULL;
    *created = false;
    TM_ENSURE(m != NULL, TM_ERR_INVALID, "metric %s: no registry", name != NULL ? name : "(null)");
    TM_ENSURE(tm_metrics_valid_name(name), TM_ERR_INVALID, "invalid metric name \"%s\"",
              name != NULL ? name : "(null)");
    if (help == NULL) help = "";
    if (spec->type == TYPE_HISTOGRAM) TM_TRY(check_bounds(name, spec->bounds, spec->n_bounds));
    pthread_mutex_lock(&m->lock);
    tm_status status = get_or_create_locked(m, name, help, labels, spec, out, created);
    pthread_mutex_unlock(&m->lock);
    return status;
}

tm_status tm_metrics_new(tm_metrics **out)
{
    tm_status status = TM_OK;
    TM_ENSURE(out != NULL, TM_ERR_INVALID, "tm_metrics_new: no output");
    *out = NULL;
    tm_metrics *m = calloc(1, sizeof *m);
    TM_ENSURE(m != NULL, TM_ERR_NOMEM, "metrics registry: out of memory");
    int rc = pthread_mutex_init(&m->lock, NULL);
    if (rc != 0) {
        free(m);
        return tm_err_set(TM_ERR_NOMEM, "metrics registry: mutex: %s", strerror(rc));
    }
    const series_spec spec = {.type = TYPE_COUNTER, .kind = KIND_COUNTER};
    series *s = NULL;
    bool created = false;
    /* Not shared yet: no lock needed. */
    TM_TRY_GOTO(get_or_create_locked(m, DROPPED_NAME, DROPPED_HELP, NULL, &spec, &s, &created));
    m->n_series = 0; /* the dropped counter is not counted in the bound */
    m->dropped = &s->u.counter;
    *out = m;
    m = NULL;
out:
    tm_metrics_free(m);
    return status;
}

void tm_metrics_free(tm_metrics *metrics)
{
    if (metrics == NULL) return;
    family *f = metrics->first;
    while (f != NULL) {
        family *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

void tm_metrics_set_global(tm_metrics *metrics)
{
    atomic_store_explicit(&global_metrics, metrics, memory_order_release);
}

tm_metrics *tm_metrics_global(void)
{
    return atomic_load_explicit(&global_metrics, memory_order_acquire);
}

/* get_or_create for the getters that answer NULL: they are called on error paths (a
 * failure counted), so the thread's error message is left as it was. */
static bool lookup(tm_metrics *m, const char *name, const char *help, const tm_labels *labels,
                   const series_spec *spec, series **out)
{
    if (m == NULL) return false;
    tm_err_saved saved;
    tm_err_save(&saved);
    bool created = false;
    bool found = get_or_create(m, name, help, labels, spec, out, &created) == TM_OK;
    if (!found) tm_err_restore(&saved);
    return found;
}

tm_counter *tm_metrics_counter(tm_metrics *metrics, const char *name, const char *help,
                               const tm_labels *labels)
{
    const series_spec spec = {.type = TYPE_COUNTER, .kind = KIND_COUNTER};
    series *s = NULL;
    return lookup(metrics, name, help, labels, &spec, &s) ? &s->u.counter : NULL;
}

tm_gauge *tm_metrics_gauge(tm_metrics *metrics, const char *name, const char *help, const tm_labels *labels)
{
    const series_spec spec = {.type = TYPE_GAUGE, .kind = KIND_GAUGE};
    series *s = NULL;
    return lookup(metrics, name, help, labels, &spec, &s) ? &s->u.gauge : NULL;
}

tm_histogram *tm_metrics_histogram(tm_metrics *metrics, const char *name, const char *help,
                                   const tm_labels *labels, const double *bounds, size_t n_bounds)
{
    const series_spec spec = {
        .type = TYPE_HISTOGRAM, .kind = KIND_HISTOGRAM, .bounds = bounds, .n_bounds = n_bounds};
    series *s = NULL;
    return lookup(metrics, name, help, labels, &spec, &s) ? &s->u.histogram : NULL;
}

tm_status tm_metrics_gauge_fn(tm_metrics *metrics, const char *name, const char *help,
                              const tm_labels *labels, tm_gauge_fn fn, void *ctx)
{
    if (metrics == NULL) return TM_OK; /* metrics off */
    TM_ENSURE(fn != NULL, TM_ERR_INVALID, "metric %s: no function", name != NULL ? name : "(null)");
    const series_spec spec = {.type = TYPE_GAUGE, .kind = KIND_GAUGE_FN, .fn = fn, .ctx = ctx};
    series *s = NULL;
    bool created = false;
    TM_TRY(get_or_create(metrics, name, help, labels, &spec, &s, &created));
    /* fn and ctx are only read under the lock (rendering), and were set there. */
    TM_ENSURE(created || (s->u.fn.fn == fn && s->u.fn.ctx == ctx), TM_ERR_EXISTS,
              "metric %s: the series is computed by another function", name);
    return TM_OK;
}

/* ---- updates ---- */

void tm_counter_add(tm_counter *c, uint64_t n)
{
    if (c == NULL) return;
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void tm_gauge_set(tm_gauge *g, int64_t v)
{
    if (g == NULL) return;
    atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void tm_gauge_add(tm_gauge *g, int64_t delta)
{
    if (g == NULL) return;
    atomic_fetch_add_explicit(&g->value, delta, memory_order_relaxed);
}

void tm_histogram_observe_ns(tm_histogram *h, uint64_t ns)
{
    if (h == NULL) return;
    /* ns / 1e9 is correctly rounded: 50000 ns compares equal to a bound written 0.00005. */
    const double seconds = (double)ns / 1e9;
    size_t i = 0;
    while (i < h->n_bounds && seconds > h->bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void tm_counter_set(tm_counter *c, uint64_t v)
{
    if (c == NULL) return;
    atomic_store_explicit(&c->value, v, memory_order_relaxed);
}

void tm_histogram_set(tm_histogram *h, const uint64_t *buckets, size_t n, uint64_t sum_ns)
{
    if (h == NULL || buckets == NULL || n != h->n_bounds + 1) return;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&h->buckets[i], buckets[i], memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, sum_ns, memory_order_relaxed);
}

/* ---- iteration ---- */

/* The sample of one series; false when a computed gauge has no value now. */
static bool sample_series(const family *f, const series *s, tm_metric_sample *out)
{
    memset(out, 0, sizeof(*out));
    out->name = f->name;
    out->n_labels = s->n_labels;
    for (size_t i = 0; i < s->n_labels; i++) {
        out->label_name[i] = s->label_name[i];
        out->label_value[i] = s->label_value[i];
    }
    switch (s->kind) {
    case KIND_COUNTER:
        out->type = TM_METRIC_COUNTER;
        out->counter = atomic_load_explicit(&s->u.counter.value, memory_order_relaxed);
        return true;
    case KIND_GAUGE:
        out->type = TM_METRIC_GAUGE;
        out->gauge = atomic_load_explicit(&s->u.gauge.value, memory_order_relaxed);
        return true;
    case KIND_GAUGE_FN:
        out->type = TM_METRIC_GAUGE;
        out->gauge = s->u.fn.fn(s->u.fn.ctx);
        return out->gauge != TM_GAUGE_FN_NONE;
    case KIND_HISTOGRAM: break;
    }
    const tm_histogram *h = &s->u.histogram;
    out->type = TM_METRIC_HISTOGRAM;
    out->n_bounds = h->n_bounds;
    out->bounds = h->bounds;
    for (size_t i = 0; i <= h->n_bounds; i++) {
        out->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        out->count += out->buckets[i];
    }
    out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    return true;
}

tm_status tm_metrics_foreach(tm_metrics *metrics, tm_metrics_visit_fn visit, void *ctx)
{
    TM_ENSURE(metrics != NULL && visit != NULL, TM_ERR_INVALID,
              "tm_metrics_foreach: no registry or function");
    tm_metric_sample sample;
    bool stop = false;
    pthread_mutex_lock(&metrics->lock);
    for (const family *f = metrics->first; f != NULL && !stop; f = f->next) {
        for (const series *s = f->first; s != NULL && !stop; s = s->next) {
            if (sample_series(f, s, &sample)) stop = visit(&sample, ctx) != 0;
        }
    }
    pthread_mutex_unlock(&metrics->lock);
    return TM_OK;
}

/* ---- rendering ---- */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    tm_status status; /* the first failure; appends after it do nothing */
} out_buf;

static bool buf_reserve(out_buf *b, size_t extra)
{
    if (b->status != TM_OK) return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->status = tm_err_set(TM_ERR_TOO_LARGE, "metrics rendering: output too large");
        return false;
    }
    size_t need = b->len + extra + 1; /* the NUL */
    if (need <= b->cap) return true;
    size_t cap = b->cap == 0 ? 4096 : b->cap;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->status = tm_err_set(TM_ERR_NOMEM, "metrics rendering: out of memory");
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void buf_put(out_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(out_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_printf(out_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(out_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        if (b->status == TM_OK)
            b->status = tm_err_set(TM_ERR_INVALID, "metrics rendering: a number too long");
        return;
    }
    buf_put(b, tmp, (size_t)n);
}

/* s with backslash and newline escaped; with the double quote too for label values. */
static void buf_escaped(out_buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\') {
            esc = "\\\\";
        } else if (*p == '\n') {
            esc = "\\n";
        } else if (quote && *p == '"') {
            esc = "\\\"";
        } else if (*p != '\0') {
            continue;
        }
        buf_put(b, run, (size_t)(p - run));
        if (esc == NULL) return; /* the NUL */
        buf_str(b, esc);
        run = p + 1;
    }
}

/* The shortest %g form that reads back as v (as Go's FormatFloat(v, 'g', -1, 64)):
 * 5e-05, 0.25, 1, 2.5; +Inf, -Inf, NaN as Prometheus spells them. */
static void format_double(double v, char *out, size_t size)
{
    if (isnan(v)) {
        (void)snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        (void)snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        (void)snprintf(out, size, "%.*g", prec, v);
        errno = 0;
        char *end = NULL;
        double back = strtod(out, &end);
        if (errno == 0 && end != out && *end == '\0' && back == v) return;
    }
    (void)snprintf(out, size, "%.17g", v);
}

/* name{labels[,le="bound"]} */
static void render_series_name(out_buf *b, const tm_metric_sample *s, const char *suffix, const char *le)
{
    buf_str(b, s->name);
    buf_str(b, suffix);
    if (s->n_labels == 0 && le == NULL) return;
    buf_str(b, "{");
    for (size_t i = 0; i < s->n_labels; i++) {
        if (i > 0) buf_str(b, ",");
        buf_str(b, s->label_name[i]);
        buf_str(b, "=\"");
        buf_escaped(b, s->label_value[i], true);
        buf_str(b, "\"");
    }
    if (le != NULL) {
        if (s->n_labels > 0) buf_str(b, ",");
        buf_str(b, "le=\"");
        buf_str(b, le);
        buf_str(b, "\"");
    }
    buf_str(b, "}");
}

/* Buckets cumulative, as the exposition has them; _count is the last (+Inf) one. */
static void render_histogram(out_buf *b, const tm_metric_sample *s)
{
    char num[64];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= s->n_bounds; i++) {
        cumulative += s->buckets[i];
        if (i < s->n_bounds) {
            format_double(s->bounds[i], num, sizeof num);
        } else {
            (void)snprintf(num, sizeof num, "+Inf");
        }
        render_series_name(b, s, "_bucket", num);
        buf_printf(b, " %" PRIu64 "\n", cumulative);
    }
    format_double((double)s->sum_ns / 1e9, num, sizeof num);
    render_series_name(b, s, "_sum", NULL);
    buf_printf(b, " %s\n", num);
    render_series_name(b, s, "_count", NULL);
    buf_printf(b, " %" PRIu64 "\n", cumulative);
}

/* Each series read once, by sample_series, as tm_metrics_foreach reads it. */
static void render_family(out_buf *b, const family *f)
{
    buf_str(b, "# HELP ");
    buf_str(b, f->name);
    buf_str(b, " ");
    buf_escaped(b, f->help, false);
    buf_str(b, "\n# TYPE ");
    buf_str(b, f->name);
    buf_str(b, " ");
    buf_str(b, type_name(f->type));
    buf_str(b, "\n");
    tm_metric_sample sample;
    for (const series *s = f->first; s != NULL; s = s->next) {
        if (!sample_series(f, s, &sample)) continue;
        if (sample.type == TM_METRIC_HISTOGRAM) {
            render_histogram(b, &sample);
            continue;
        }
        render_series_name(b, &sample, "", NULL);
        if (sample.type == TM_METRIC_COUNTER)
            buf_printf(b, " %" PRIu64 "\n", sample.counter);
        else
            buf_printf(b, " %" PRId64 "\n", sample.gauge);
    }
}

tm_status tm_metrics_render(tm_metrics *metrics, char **out, size_t *len)
{
    TM_ENSURE(out != NULL, TM_ERR_INVALID, "tm_metrics_render: no output");
    *out = NULL;
    if (len != NULL) *len = 0;
    TM_ENSURE(metrics != NULL, TM_ERR_INVALID, "tm_metrics_render: no registry");
    out_buf b = {0};
    pthread_mutex_lock(&metrics->lock);
    for (const family *f = metrics->first; f != NULL; f = f->next) {
        render_family(&b, f);
    }
    pthread_mutex_unlock(&metrics->lock);
    (void)buf_reserve(&b, 0); /* an empty text is still a string */
    if (b.status != TM_OK) {
        free(b.data);
        return b.status;
    }
    *out = b.data;
    if (len != NULL) *len = b.len;
    return TM_OK;
}

/* ---- process metrics ---- */

/* The whole of a small /proc file, NUL-terminated; false if unreadable. */
static bool read_proc_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) return false;
    size_t n = fread(buf, 1, size - 1, f);
    bool ok = ferror(f) == 0 && n > 0;
    if (fclose(f) != 0) ok = false;
    buf[n] = '\0';
    return ok;
}

static int64_t page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (int64_t)ps : 4096;
}

/* Field `index` (0-based) of /proc/self/statm, in bytes. */
static int64_t statm_bytes(int index)
{
    char buf[256];
    if (!read_proc_file("/proc/self/statm", buf, sizeof buf)) return TM_GAUGE_FN_NONE;
    const char *p = buf;
    for (int i = 0;; i++) {
        char *end = NULL;
        errno = 0;
        unsigned long long pages = strtoull(p, &end, 10);
        if (errno != 0 || end == p) return TM_GAUGE_FN_NONE;
        if (i == index) {
            if (pages > (unsigned long long)(INT64_MAX / page_size())) return TM_GAUGE_FN_NONE;
            return (int64_t)pages * page_size();
        }
        p = end;
    }
}

static int64_t resident_memory_bytes(void *ctx)
{
    (void)ctx;
    return statm_bytes(1);
}

static int64_t virtual_memory_bytes(void *ctx)
{
    (void)ctx;
    return statm_bytes(0);
}

/* The number of open file descriptors, not counting the one reading /proc/self/fd. */
static int64_t open_fds(void *ctx)
{
    (void)ctx;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return TM_GAUGE_FN_NONE;
    int64_t n = 0;
    const int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0' && fd == own) continue;
        n++;
    }
    (void)closedir(d);
    return n;
}

/* btime of /proc/stat (seconds since the epoch the system booted), or -1. Read line by line
 * in pieces: the lines before it (intr, per-CPU) can be many kilobytes long. */
static int64_t boot_time_seconds(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL) return -1;
    int64_t btime = -1;
    char piece[256];
    bool line_start = true;
    while (btime < 0 && fgets(piece, sizeof piece, f) != NULL) {
        const size_t n = strlen(piece);
        if (line_start && strncmp(piece, "btime ", 6) == 0) {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(piece + 6, &end, 10);
            if (errno != 0 || end == piece + 6 || v < 0) break;
            btime = (int64_t)v;
        }
        line_start = n > 0 && piece[n - 1] == '\n';
    }
    (void)fclose(f);
    return btime;
}

/* Seconds since the epoch the process started: btime (/proc/stat) plus starttime (field 22
 * of /proc/self/stat, in clock ticks since boot), as the Prometheus client libraries do. */
static int64_t start_time_seconds(void *ctx)
{
    (void)ctx;
    char stat[1024];
    if (!read_proc_file("/proc/self/stat", stat, sizeof stat)) return TM_GAUGE_FN_NONE;
    /* The command name (field 2) is in parentheses and may hold spaces: fields 3.. follow
     * the last ')'. */
    const char *p = strrchr(stat, ')');
    if (p == NULL) return TM_GAUGE_FN_NONE;
    p++;
    unsigned long long start_ticks = 0;
    for (int field = 3; field <= 22; field++) {
        char *end = NULL;
        while (*p == ' ') {
            p++;
        }
        if (field == 22) {
            errno = 0;
            start_ticks = strtoull(p, &end, 10);
            if (errno != 0 || end == p) return TM_GAUGE_FN_NONE;
            break;
        }
        end = strchr(p, ' ');
        if (end == NULL) return TM_GAUGE_FN_NONE;
        p = end;
    }
    const int64_t btime = boot_time_seconds();
    if (btime < 0) return TM_GAUGE_FN_NONE;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0) return TM_GAUGE_FN_NONE;
    return btime + (int64_t)(start_ticks / (unsigned long long)ticks);
}

static int64_t one(void *ctx)
{
    (void)ctx;
    return 1;
}

tm_status tm_metrics_add_process(tm_metrics *metrics, const char *program, const char *version,
                                 const char *revision, int enclave)
{
    if (metrics == NULL) return TM_OK; /* metrics off */
    TM_TRY(tm_metrics_gauge_fn(metrics, "process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.", NULL,
                               start_time_seconds, NULL));
    TM_TRY(tm_metrics_gauge_fn(metrics, "process_resident_memory_bytes", "Resident memory size in bytes.",
                               NULL, resident_memory_bytes, NULL));
    TM_TRY(tm_metrics_gauge_fn(metrics, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
                               virtual_memory_bytes, NULL));
    TM_TRY(tm_metrics_gauge_fn(metrics, "process_open_fds", "Number of open file descriptors.", NULL,
                               open_fds, NULL));
    const tm_labels build = {
        .name = {"program", "version", "revision", "enclave"},
        .value = {program != NULL ? program : "", version != NULL ? version : "",
                  revision != NULL ? revision : "", enclave ? "true" : "false"},
    };
    TM_TRY(tm_metrics_gauge_fn(
        metrics, "tmkms_build_info",
        "A constant 1, labelled with the program, its version and git revision, and whether "
        "it runs in an enclave.",
        &build, one, NULL));
    return TM_OK;
}

tm_status tm_metrics_open_process(const char *program, int enclave, tm_metrics **out)
{
    *out = NULL;
    tm_metrics *m = NULL;
    TM_TRY(tm_metrics_new(&m));
    tm_status status = tm_metrics_add_process(m, program, TMKMS_VERSION, TMKMS_GIT_REV, enclave);
    if (status != TM_OK) {
        tm_metrics_free(m);
        return status;
    }
    tm_metrics_set_global(m);
    *out = m;
    return TM_OK;
}

void tm_metrics_close_process(tm_metrics *metrics)
{
    if (metrics && tm_metrics_global() == metrics) tm_metrics_set_global(NULL);
    tm_metrics_free(metrics);
}
