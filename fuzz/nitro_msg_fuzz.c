/* libFuzzer target: host<->enclave messages (src/nitro/msg.c) on arbitrary bytes, as the
 * enclave sees what the untrusted helper sends. A message tm_nitro_msg_decode accepts
 * re-encodes to bytes that decode (and validate) again and re-encode to the same bytes;
 * its SignState converts to the core's state and back to the same fields. The same bytes
 * are also read as a stream of frames through tm_nitro_recv. A MetricsReport (enclave ->
 * helper) that validates keeps its bounds (series, labels, bucket count, count = sum of
 * the buckets) and is mirrored into a registry as the helper does (metrics_mirror.c),
 * which then renders. Seeds: one message of every body, without the 4-byte length
 * (fuzz/corpus/nitro_msg/). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_mirror.h"
#include "tmkms/conn.h"
#include "tmkms/nitro/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A tm_conn reading from memory, in reads of at most 7 bytes, then TM_ERR_EOF. */
typedef struct {
    tm_conn base;
    const uint8_t *data;
    size_t len, pos;
} mem_conn;

static tm_status mem_read(tm_conn *conn, void *buf, size_t cap, size_t *got)
{
    mem_conn *c = (mem_conn *)conn;
    if (c->pos == c->len) return tm_err_set(TM_ERR_EOF, "end of input");
    size_t n = c->len - c->pos;
    if (n > cap) n = cap;
    if (n > 7) n = 7;
    memcpy(buf, c->data + c->pos, n);
    c->pos += n;
    *got = n;
    return TM_OK;
}

static tm_status mem_write_all(tm_conn *conn, const void *buf, size_t len)
{
    (void)conn;
    (void)buf;
    (void)len;
    return TM_OK;
}

static void mem_close(tm_conn *conn)
{
    (void)conn;
}

static const struct tm_conn_ops mem_ops = {mem_read, mem_write_all, mem_close, NULL};

static uint8_t *pack(const tm_nitro_msg *m, size_t *len)
{
    *len = tmkms__nitro__message__get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf) abort();
    if (tmkms__nitro__message__pack(m, buf) != *len) abort();
    return buf;
}

static const Tmkms__Nitro__SignState *state_of(const tm_nitro_msg *m)
{
    if (m->body_case == TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE) return m->state_load_response->state;
    if (m->body_case == TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST) return m->state_persist->state;
    return NULL;
}

/* A validated SignState converts, and converts back to the same fields. */
static void check_state(const Tmkms__Nitro__SignState *s)
{
    if (!s) abort(); /* validation requires it */
    tm_sign_state st;
    if (tm_nitro_state_from_msg(s, &st) != TM_OK) abort();
    Tmkms__Nitro__SignState back;
    tm_nitro_state_to_msg(&st, &back);
    if (back.height != s->height || back.round != s->round || back.step != s->step ||
        back.sign_bytes.len != s->sign_bytes.len || back.signature.len != s->signature.len)
        abort();
    if (s->sign_bytes.len && memcmp(back.sign_bytes.data, s->sign_bytes.data, s->sign_bytes.len) != 0)
        abort();
    if (s->signature.len && memcmp(back.signature.data, s->signature.data, s->signature.len) != 0) abort();
}

/* What the helper relies on in a validated report, and the mirror applying it. */
/* The chain the first "chain" label names, as the helper serving it would be configured
 * (so that the mirror's apply path is reached), or "c". */
static const char *report_chain(const Tmkms__Nitro__MetricsReport *r)
{
    for (size_t i = 0; i < r->n_series; i++)
        for (size_t k = 0; k < r->series[i]->n_labels; k++)
            if (strcmp(r->series[i]->labels[k]->name, "chain") == 0) return r->series[i]->labels[k]->value;
    return "c";
}

static void check_report(const Tmkms__Nitro__MetricsReport *r)
{
    if (r->n_series > TM_NITRO_MAX_METRIC_SERIES) abort();
    for (size_t i = 0; i < r->n_series; i++) {
        const Tmkms__Nitro__MetricSeries *s = r->series[i];
        if (s->n_labels > TM_METRICS_MAX_LABELS) abort();
        if (s->type == TM_NITRO_METRIC_HISTOGRAM) {
            uint64_t sum = 0;
            if (s->n_buckets != tm_metrics_latency_bounds_n + 1) abort();
            for (size_t b = 0; b < s->n_buckets; b++)
                sum += s->buckets[b];
            if (sum != s->count) abort();
        } else if (s->n_buckets != 0) {
            abort();
        }
    }
    tm_metrics *reg = NULL;
    metrics_mirror *mirror = NULL;
    char *text = NULL;
    if (tm_metrics_new(&reg) != TM_OK ||
        metrics_mirror_new(reg, report_chain(r), "tcp://node:26658", &mirror) != TM_OK)
        abort();
    (void)metrics_mirror_apply(mirror, r, NULL);
    if (tm_metrics_render(reg, &text, NULL) != TM_OK) abort();
    free(text);
    metrics_mirror_free(mirror);
    tm_metrics_free(reg);
}

static void decode_round_trip(const uint8_t *data, size_t size)
{
    tm_nitro_msg *a = NULL, *b = NULL;
    if (tm_nitro_msg_decode(data, size, &a) != TM_OK) {
        if (a) abort();
        return;
    }
    if (!a || a->version != TM_NITRO_PROTO_VERSION || a->body_case == TMKMS__NITRO__MESSAGE__BODY__NOT_SET)
        abort();
    size_t len1 = 0, len2 = 0;
    uint8_t *p1 = pack(a, &len1);
    if (tm_nitro_msg_decode(p1, len1, &b) != TM_OK) abort();
    if (b->body_case != a->body_case) abort();
    uint8_t *p2 = pack(b, &len2);
    if (len1 != len2 || memcmp(p1, p2, len1) != 0) abort();
    const Tmkms__Nitro__SignState *s = state_of(a);
    if (s || state_of(b)) {
        check_state(s);
        check_state(state_of(b));
    }
    if (a->body_case == TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT) check_report(a->metrics_report);
    (void)tm_nitro_body_name(a->body_case);
    free(p1);
    free(p2);
    tm_nitro_msg_free(a);
    tm_nitro_msg_free(b);
}

static void recv_stream(const uint8_t *data, size_t size)
{
    mem_conn c = {.base = {.ops = &mem_ops, .peer = "fuzz"}, .data = data, .len = size, .pos = 0};
    for (int i = 0; i < 64; i++) {
        tm_nitro_msg *m = (tm_nitro_msg *)&c;
        tm_status st = tm_nitro_recv(&c.base, &m);
        if (st != TM_OK) {
            if (m) abort();
            return;
        }
        if (!m || m->version != TM_NITRO_PROTO_VERSION) abort();
        if (state_of(m)) check_state(state_of(m));
        tm_nitro_msg_free(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    decode_round_trip(copy, size);
    recv_stream(copy, size);
    free(copy);
    return 0;
}
