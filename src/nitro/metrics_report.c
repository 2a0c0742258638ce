/* See metrics_report.h. Every string is copied into fixed slots: the registry's own are
 * valid only during tm_metrics_foreach. */
#include "tmkms/nitro/metrics_report.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SERIES TM_NITRO_MAX_METRIC_SERIES
#define MAX_BUCKETS (TM_METRICS_MAX_BUCKETS + 1)
/* Room for the Message around the report (version, body tag and length). */
#define FRAME_BUDGET (TM_NITRO_FRAME_MAX - 64)

typedef struct {
    Tmkms__Nitro__MetricSeries series;
    Tmkms__Nitro__MetricLabel *label_ptrs[TM_METRICS_MAX_LABELS];
    Tmkms__Nitro__MetricLabel labels[TM_METRICS_MAX_LABELS];
    char name[TM_NITRO_MAX_METRIC_NAME + 1];
    char label_name[TM_METRICS_MAX_LABELS][TM_NITRO_MAX_LABEL_NAME + 1];
    char label_value[TM_METRICS_MAX_LABELS][TM_NITRO_MAX_LABEL_VALUE + 1];
    uint64_t buckets[MAX_BUCKETS];
} slot;

struct tm_nitro_metrics_report {
    Tmkms__Nitro__MetricsReport report;
    Tmkms__Nitro__MetricSeries *ptrs[MAX_SERIES];
    slot slots[MAX_SERIES];
    size_t bytes; /* packed size of the report so far */
};

tm_status tm_nitro_metrics_report_new(tm_nitro_metrics_report **out)
{
    *out = calloc(1, sizeof(**out));
    TM_ENSURE(*out, TM_ERR_NOMEM, "metrics report: out of memory");
    return TM_OK;
}

void tm_nitro_metrics_report_free(tm_nitro_metrics_report *r)
{
    free(r);
}

/* Copies s (printable ASCII, at most max bytes, not empty unless may_be_empty) into dst. */
static bool copy_text(char *dst, const char *s, size_t max, bool may_be_empty)
{
    size_t n = strnlen(s, max + 1);
    if (n > max || (n == 0 && !may_be_empty)) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f) return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

static bool latency_histogram(const tm_metric_sample *s)
{
    return s->n_bounds == tm_metrics_latency_bounds_n &&
           memcmp(s->bounds, tm_metrics_latency_bounds, s->n_bounds * sizeof(double)) == 0;
}

static bool fill_labels(slot *sl, const tm_metric_sample *s)
{
    Tmkms__Nitro__MetricSeries *m = &sl->series;
    for (size_t i = 0; i < s->n_labels && i < TM_METRICS_MAX_LABELS; i++) {
        if (!copy_text(sl->label_name[i], s->label_name[i], TM_NITRO_MAX_LABEL_NAME, false) ||
            !copy_text(sl->label_value[i], s->label_value[i], TM_NITRO_MAX_LABEL_VALUE, true))
            return false;
        tmkms__nitro__metric_label__init(&sl->labels[i]);
        sl->labels[i].name = sl->label_name[i];
        sl->labels[i].value = sl->label_value[i];
        sl->label_ptrs[i] = &sl->labels[i];
    }
    m->n_labels = s->n_labels;
    m->labels = sl->label_ptrs;
    return true;
}

/* One sample into a slot; false: left out. */
static bool fill_slot(slot *sl, const tm_metric_sample *s)
{
    Tmkms__Nitro__MetricSeries *m = &sl->series;
    tmkms__nitro__metric_series__init(m);
    if (s->n_labels > TM_METRICS_MAX_LABELS ||
        !copy_text(sl->name, s->name, TM_NITRO_MAX_METRIC_NAME, false) || !fill_labels(sl, s))
        return false;
    m->name = sl->name;
    switch (s->type) {
    case TM_METRIC_COUNTER:
        m->type = TM_NITRO_METRIC_COUNTER;
        m->counter = s->counter;
        return true;
    case TM_METRIC_GAUGE:
        m->type = TM_NITRO_METRIC_GAUGE;
        m->gauge = s->gauge;
        return true;
    case TM_METRIC_HISTOGRAM: break;
    }
    if (!latency_histogram(s)) return false;
    m->type = TM_NITRO_METRIC_HISTOGRAM;
    memcpy(sl->buckets, s->buckets, (s->n_bounds + 1) * sizeof(uint64_t));
    m->n_buckets = s->n_bounds + 1;
    m->buckets = sl->buckets;
    m->count = s->count;
    m->sum_ns = s->sum_ns;
    return true;
}

static int visit(const tm_metric_sample *s, void *ctx)
{
    tm_nitro_metrics_report *r = ctx;
    if (r->report.n_series == MAX_SERIES) return 1;
    slot *sl = &r->slots[r->report.n_series];
    if (!fill_slot(sl, s)) return 0;
    size_t len = tmkms__nitro__metric_series__get_packed_size(&sl->series);
    size_t need = len + 1 + 3; /* tag + length varint (< 2^21) */
    if (r->bytes + need > FRAME_BUDGET) return 1;
    r->bytes += need;
    r->ptrs[r->report.n_series++] = &sl->series;
    return 0;
}

tm_status tm_nitro_metrics_report_build(tm_nitro_metrics_report *r, tm_metrics *metrics,
                                        Tmkms__Nitro__MetricsReport **msg)
{
    *msg = NULL;
    tmkms__nitro__metrics_report__init(&r->report);
    r->report.series = r->ptrs;
    r->bytes = 0;
    TM_TRY(tm_metrics_foreach(metrics, visit, r));
    *msg = &r->report;
    return TM_OK;
}
