/* The enclave's metrics on their way to the helper's /metrics: a report built from a core
 * registry (metrics_report.c) passes msg.c's validation and is mirrored under the
 * helper's names (metrics_mirror.c), set rather than added; hostile reports are refused
 * by msg.c (too many series, bad names, non-printable label values, wrong bucket counts,
 * counts that disagree with the buckets or overflow) or by the mirror (a listed name with
 * another type or labels), huge values are shown as they are, the number of mirrored
 * series is capped; and on the log port a malformed report is dropped while the lines
 * around it still come through (log_receiver.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/mem_conn.h"
#include "log_receiver.h"
#include "metrics_mirror.h"
#include "tmkms/log.h"
#include "tmkms/nitro/metrics_report.h"
#include "tmkms/nitro/msg.h"

#define NB (TM_METRICS_MAX_BUCKETS + 1)

/* A report under construction: up to 300 series (more than the bound), one label each. */
typedef struct {
    Tmkms__Nitro__MetricsReport r;
    Tmkms__Nitro__MetricSeries s[300], *ps[300];
    Tmkms__Nitro__MetricLabel l[300][TM_METRICS_MAX_LABELS], *pl[300][TM_METRICS_MAX_LABELS];
    uint64_t b[300][NB];
} report;

static void reset(report *rp)
{
    memset(rp, 0, sizeof(*rp));
    tmkms__nitro__metrics_report__init(&rp->r);
}

static Tmkms__Nitro__MetricSeries *add(report *rp, const char *name, uint32_t type)
{
    size_t i = rp->r.n_series++;
    Tmkms__Nitro__MetricSeries *s = &rp->s[i];
    tmkms__nitro__metric_series__init(s);
    s->name = (char *)name;
    s->type = type;
    s->labels = rp->pl[i];
    if (type == TM_NITRO_METRIC_HISTOGRAM) {
        s->buckets = rp->b[i];
        s->n_buckets = tm_metrics_latency_bounds_n + 1;
    }
    rp->ps[i] = s;
    rp->r.series = rp->ps;
    return s;
}

static void label(report *rp, Tmkms__Nitro__MetricSeries *s, const char *name, const char *value)
{
    size_t i = (size_t)(s - rp->s), k = s->n_labels++;
    assert_true(k < TM_METRICS_MAX_LABELS);
    tmkms__nitro__metric_label__init(&rp->l[i][k]);
    rp->l[i][k].name = (char *)name;
    rp->l[i][k].value = (char *)value;
    rp->pl[i][k] = &rp->l[i][k];
}

static uint8_t *pack_report(const Tmkms__Nitro__MetricsReport *r, size_t *len)
{
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.version = TM_NITRO_PROTO_VERSION;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT;
    m.metrics_report = (Tmkms__Nitro__MetricsReport *)r;
    *len = tmkms__nitro__message__get_packed_size(&m);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    tmkms__nitro__message__pack(&m, buf);
    return buf;
}

/* Through the wire: what msg.c says of the report. */
static tm_status decode(const report *rp, tm_nitro_msg **out)
{
    size_t len = 0;
    uint8_t *buf = pack_report(&rp->r, &len);
    tm_status st = tm_nitro_msg_decode(buf, len, out);
    free(buf);
    return st;
}

static void refused(report *rp, const char *field)
{
    tm_nitro_msg *m = NULL;
    assert_int_not_equal(decode(rp, &m), TM_OK);
    assert_null(m);
    if (!strstr(tm_err_msg(), field)) fail_msg("'%s' does not name %s", tm_err_msg(), field);
}

static char *render(tm_metrics *reg)
{
    char *text = NULL;
    assert_int_equal(tm_metrics_render(reg, &text, NULL), TM_OK);
    return text;
}

static void has(const char *text, const char *line)
{
    if (!strstr(text, line)) fail_msg("no '%s' in:\n%s", line, text);
}

/* The enclave's registry, as it would be after a refused double sign and a Decrypt. */
static void test_registry_to_helper(void **state)
{
    (void)state;
    tm_metrics *enclave = NULL, *helper = NULL;
    assert_int_equal(tm_metrics_new(&enclave), TM_OK);
    assert_int_equal(tm_metrics_add_process(enclave, "tmkms-nitro-enclave", "0", "x", 1), TM_OK);
    tm_labels r = {{"chain", "reason"}, {"c", "double_sign"}};
    tm_counter_add(tm_metrics_counter(enclave, "tmkms_refusals_total",
                                      "Signing requests refused, by chain and reason.", &r),
                   2);
    tm_labels k = {{"operation", "result"}, {"Decrypt", "ok"}};
    tm_counter_add(tm_metrics_counter(enclave, "tmkms_kms_calls_total", "x", &k), 1);
    tm_labels c = {{"chain", "transport"}, {"c", "vsock"}};
    tm_histogram_observe_ns(tm_metrics_histogram(enclave, "tmkms_sign_seconds", "x", &c,
                                                 tm_metrics_latency_bounds, tm_metrics_latency_bounds_n),
                            300000);
    tm_labels s = {{"chain", "type"}, {"c", "prevote"}};
    tm_counter_add(tm_metrics_counter(enclave, "tmkms_signatures_total", "x", &s), 9); /* the helper's own */
    tm_labels x = {{"chain", "type"}, {"c", "vote_extension"}};
    tm_counter_add(tm_metrics_counter(enclave, "tmkms_signatures_total", "x", &x),
                   4); /* only the enclave knows */

    tm_nitro_metrics_report *rep = NULL;
    Tmkms__Nitro__MetricsReport *msg = NULL;
    assert_int_equal(tm_nitro_metrics_report_new(&rep), TM_OK);
    assert_int_equal(tm_nitro_metrics_report_build(rep, enclave, &msg), TM_OK);
    size_t len = 0;
    uint8_t *buf = pack_report(msg, &len);
    tm_nitro_msg *m = NULL;
    assert_int_equal(tm_nitro_msg_decode(buf, len, &m), TM_OK);
    free(buf);

    assert_int_equal(tm_metrics_new(&helper), TM_OK);
    metrics_mirror *mirror = NULL;
    assert_int_equal(metrics_mirror_new(helper, "c", "unix:///run/node.sock", &mirror), TM_OK);
    tm_counter_add(
        tm_metrics_counter(helper, "tmkms_signatures_total", "Signatures released, by chain and type.", &s),
        1); /* as the helper's state server counts it */
    size_t applied = 0;
    assert_int_equal(metrics_mirror_apply(mirror, m->metrics_report, &applied), TM_OK);
    assert_true(applied >= 3);
    assert_int_equal(metrics_mirror_apply(mirror, m->metrics_report, NULL), TM_OK); /* set, not added */
    char *text = render(helper);
    has(text, "tmkms_refusals_total{chain=\"c\",reason=\"double_sign\"} 2\n");
    has(text, "tmkms_kms_calls_total{operation=\"Decrypt\",result=\"ok\"} 1\n");
    has(text, "tmkms_sign_seconds_count{chain=\"c\",transport=\"vsock\"} 1\n");
    has(text, "tmkms_sign_seconds_bucket{chain=\"c\",transport=\"vsock\",le=\"0.0005\"} 1\n");
    has(text, "# TYPE tmkms_enclave_process_open_fds gauge\n");
    has(text, "tmkms_enclave_process_resident_memory_bytes ");
    has(text, "tmkms_signatures_total{chain=\"c\",type=\"vote_extension\"} 4\n");
    has(text, "tmkms_signatures_total{chain=\"c\",type=\"prevote\"} 1\n"); /* not the enclave's 9 */
    assert_null(strstr(text, "\nprocess_"));
    free(text);
    tm_nitro_msg_free(m);
    metrics_mirror_free(mirror);
    tm_nitro_metrics_report_free(rep);
    tm_metrics_free(helper);
    tm_metrics_free(enclave);
}

static void test_hostile_reports(void **state)
{
    (void)state;
    static report rp;
    reset(&rp);
    for (int i = 0; i < TM_NITRO_MAX_METRIC_SERIES + 1; i++)
        add(&rp, "x_total", TM_NITRO_METRIC_COUNTER);
    refused(&rp, "metrics_report.series");

    reset(&rp);
    add(&rp, "bad-name", TM_NITRO_METRIC_COUNTER);
    refused(&rp, "metrics_report.series[0].name");
    reset(&rp);
    add(&rp, "", TM_NITRO_METRIC_COUNTER);
    refused(&rp, "metrics_report.series[0].name");
    reset(&rp);
    add(&rp, "x_0123456789012345678901234567890123456789012345678901234567890123", TM_NITRO_METRIC_COUNTER);
    refused(&rp, "metrics_report.series[0].name");
    reset(&rp);
    add(&rp, "x", 3);
    refused(&rp, "metrics_report.series[0].type");

    reset(&rp);
    label(&rp, add(&rp, "x", TM_NITRO_METRIC_GAUGE), "__x", "v");
    refused(&rp, "labels[0].name");
    reset(&rp);
    label(&rp, add(&rp, "x", TM_NITRO_METRIC_GAUGE), "chain", "a\x01z");
    refused(&rp, "labels[0].value");
    reset(&rp);
    label(&rp, add(&rp, "x", TM_NITRO_METRIC_GAUGE), "chain", "\xc3\xa9");
    refused(&rp, "labels[0].value");
    reset(&rp);
    Tmkms__Nitro__MetricSeries *s = add(&rp, "x", TM_NITRO_METRIC_GAUGE);
    label(&rp, s, "chain", "a");
    label(&rp, s, "chain", "b");
    refused(&rp, "given twice");
    reset(&rp);
    label(&rp, add(&rp, "x", TM_NITRO_METRIC_HISTOGRAM), "le", "1");
    refused(&rp, "\"le\" on a histogram");

    reset(&rp);
    add(&rp, "x", TM_NITRO_METRIC_HISTOGRAM)->n_buckets = tm_metrics_latency_bounds_n;
    refused(&rp, "metrics_report.series[0].buckets");
    reset(&rp);
    s = add(&rp, "x", TM_NITRO_METRIC_HISTOGRAM);
    s->buckets[0] = 2;
    s->count = 3;
    refused(&rp, "metrics_report.series[0].count");
    reset(&rp);
    s = add(&rp, "x", TM_NITRO_METRIC_HISTOGRAM);
    s->buckets[0] = UINT64_MAX;
    s->buckets[1] = 1;
    s->count = 0;
    refused(&rp, "overflows");
    reset(&rp);
    add(&rp, "x", TM_NITRO_METRIC_COUNTER)->gauge = 5;
    refused(&rp, "another type");
    reset(&rp);
    s = add(&rp, "x", TM_NITRO_METRIC_COUNTER);
    s->n_buckets = 1;
    s->buckets = rp.b[0];
    refused(&rp, "only a histogram");
}

static void apply_report(metrics_mirror *mirror, report *rp, tm_status want)
{
    tm_nitro_msg *m = NULL;
    assert_int_equal(decode(rp, &m), TM_OK);
    assert_int_equal(metrics_mirror_apply(mirror, m->metrics_report, NULL), want);
    tm_nitro_msg_free(m);
}

static void test_mirror_rules(void **state)
{
    (void)state;
    static report rp;
    tm_metrics *helper = NULL;
    metrics_mirror *mirror = NULL;
    assert_int_equal(tm_metrics_new(&helper), TM_OK);
    assert_int_equal(metrics_mirror_new(helper, "c", "unix:///run/node.sock", &mirror), TM_OK);

    /* Huge values are shown as they are; labels in another order are the same series. */
    reset(&rp);
    Tmkms__Nitro__MetricSeries *s = add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "reason", "double_sign");
    label(&rp, s, "chain", "c");
    s->counter = UINT64_MAX;
    add(&rp, "process_open_fds", TM_NITRO_METRIC_GAUGE)->gauge = INT64_MIN;
    s = add(&rp, "tmkms_sign_seconds", TM_NITRO_METRIC_HISTOGRAM);
    label(&rp, s, "chain", "c");
    label(&rp, s, "transport", "vsock");
    s->buckets[tm_metrics_latency_bounds_n] = UINT64_MAX;
    s->count = UINT64_MAX;
    s->sum_ns = UINT64_MAX;
    apply_report(mirror, &rp, TM_OK);
    reset(&rp);
    s = add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "chain", "c");
    label(&rp, s, "reason", "double_sign");
    s->counter = 1; /* down: the enclave restarted */
    apply_report(mirror, &rp, TM_OK);
    char *text = render(helper);
    has(text, "tmkms_refusals_total{reason=\"double_sign\",chain=\"c\"} 1\n");
    has(text, "tmkms_enclave_process_open_fds -9223372036854775808\n");
    has(text, "tmkms_sign_seconds_count{chain=\"c\",transport=\"vsock\"} 18446744073709551615\n");
    free(text);

    /* The enclave's connection failures, shown with the node's address as addr. */
    reset(&rp);
    s = add(&rp, "tmkms_validator_failures_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "chain", "c");
    label(&rp, s, "addr", "vsock:3:5000");
    label(&rp, s, "reason", "pin_mismatch");
    s->counter = 3;
    apply_report(mirror, &rp, TM_OK);
    text = render(helper);
    has(text, "tmkms_validator_failures_total{chain=\"c\",addr=\"unix:///run/"
              "node.sock\",reason=\"pin_mismatch\"} 3\n");
    assert_null(strstr(text, "vsock:3:5000"));
    free(text);

    /* A listed name with another type or labels: the whole report refused, nothing set. */
    reset(&rp);
    s = add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "chain", "c");
    label(&rp, s, "reason", "double_sign");
    s->counter = 77;
    add(&rp, "tmkms_kms_calls_total", TM_NITRO_METRIC_GAUGE);
    apply_report(mirror, &rp, TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "metrics_report.series[1].type"));
    reset(&rp);
    label(&rp, add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER), "chain", "c");
    apply_report(mirror, &rp, TM_ERR_INVALID);
    reset(&rp);
    s = add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "chain", "c");
    label(&rp, s, "node", "x");
    apply_report(mirror, &rp, TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "labels[1].name"));
    reset(&rp); /* another chain than the helper's */
    s = add(&rp, "tmkms_refusals_total", TM_NITRO_METRIC_COUNTER);
    label(&rp, s, "reason", "double_sign");
    label(&rp, s, "chain", "other");
    s->counter = 77;
    apply_report(mirror, &rp, TM_ERR_INVALID);
    assert_non_null(
        strstr(tm_err_msg(), "series[0].labels[1].value: chain \"other\", but this helper serves \"c\""));
    text = render(helper);
    assert_null(strstr(text, " 77\n"));
    assert_null(strstr(text, "other"));
    free(text);

    /* Other names are left out; at most MIRROR_MAX_SERIES distinct series ever. */
    static char values[300][8];
    for (int round = 0; round < 2; round++) {
        reset(&rp);
        add(&rp, "tmkms_not_mirrored_total", TM_NITRO_METRIC_COUNTER)->counter = 5;
        for (int i = 0; i < 200; i++) {
            snprintf(values[i], sizeof(values[i]), "%d", round * 200 + i);
            s = add(&rp, "tmkms_kms_calls_total", TM_NITRO_METRIC_COUNTER);
            label(&rp, s, "operation", "Decrypt");
            label(&rp, s, "result", values[i]);
        }
        apply_report(mirror, &rp, TM_OK);
    }
    text = render(helper);
    assert_null(strstr(text, "tmkms_not_mirrored_total"));
    has(text, "result=\"251\"");
    assert_null(strstr(text, "result=\"252\"")); /* 4 series before: 4 + 252 = 256 */
    free(text);
    metrics_mirror_free(mirror);

    assert_int_equal(metrics_mirror_new(NULL, "c", "unix:///run/node.sock", &mirror),
                     TM_OK); /* metrics off */
    assert_null(mirror);
    assert_int_equal(metrics_mirror_apply(NULL, &rp.r, NULL), TM_OK);
    metrics_mirror_free(NULL);
    tm_metrics_free(helper);
}

static void frame(uint8_t *out, size_t *pos, const tm_nitro_msg *m)
{
    size_t len = tmkms__nitro__message__get_packed_size(m);
    out[(*pos)++] = (uint8_t)(len >> 24);
    out[(*pos)++] = (uint8_t)(len >> 16);
    out[(*pos)++] = (uint8_t)(len >> 8);
    out[(*pos)++] = (uint8_t)len;
    *pos += tmkms__nitro__message__pack(m, out + *pos);
}

static void log_frame(uint8_t *out, size_t *pos, const char *text)
{
    Tmkms__Nitro__LogLine l = TMKMS__NITRO__LOG_LINE__INIT;
    l.level = TM_LOG_WARN;
    l.text = (char *)text;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.version = TM_NITRO_PROTO_VERSION;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_LOG_LINE;
    m.log_line = &l;
    frame(out, pos, &m);
}

static void test_log_port(void **state)
{
    (void)state;
    static report rp;
    static uint8_t wire[8192];
    size_t pos = 0;
    log_frame(wire, &pos, "2026-01-01T00:00:00.000000Z WARN  [chain] [c] first line");
    reset(&rp);
    add(&rp, "bad-name", TM_NITRO_METRIC_COUNTER);
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.version = TM_NITRO_PROTO_VERSION;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT;
    m.metrics_report = &rp.r;
    frame(wire, &pos, &m);
    log_frame(wire, &pos, "not in the human format");

    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    tm_log_set_stream(f);
    tm_log_set_format(TM_LOG_FORMAT_JSON);
    mem_conn c = {.base = {.ops = &mem_conn_ops, .peer = "test"}, .data = wire, .len = pos, .chunk = 5};
    assert_int_equal(log_receiver_serve(&c.base, NULL), TM_ERR_EOF);
    tm_log_set_stream(NULL);
    tm_log_set_format(TM_LOG_FORMAT_HUMAN);
    (void)fclose(f);
    has(out, "\"level\":\"warn\",\"module\":\"chain\",\"source\":\"enclave\","
             "\"source_ts\":\"2026-01-01T00:00:00.000000Z\",\"chain\":\"c\",\"msg\":\"first line\"}\n");
    has(out, "enclave message dropped: metrics_report.series[0].name");
    has(out, "\"module\":\"enclave\",\"source\":\"enclave\",\"msg\":\"not in the human format\"}\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_to_helper),
        cmocka_unit_test(test_hostile_reports),
        cmocka_unit_test(test_mirror_rules),
        cmocka_unit_test(test_log_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
