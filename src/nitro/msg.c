/* Framing and validation of the host<->enclave messages (see msg.h). Everything here runs
 * on bytes from the other side of the trust boundary, so each field is checked against
 * the bound host.proto states before any caller sees the message. */
#include "tmkms/nitro/msg.h"

#include "tmkms/log.h"
#include "tmkms/metrics.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr) TM_TRY(expr)

static tm_status check_text(const char *s, size_t max, bool may_be_empty, const char *field)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    TM_ENSURE(n <= max, TM_ERR_TOO_LARGE, "%s: longer than %zu bytes", field, max);
    TM_ENSURE(n > 0 || may_be_empty, TM_ERR_INVALID, "%s: empty", field);
    for (size_t i = 0; i < n; i++)
        TM_ENSURE(s[i] >= 0x20 && s[i] < 0x7f, TM_ERR_INVALID, "%s: byte %zu is not printable ASCII", field,
                  i);
    return TM_OK;
}

static tm_status check_bytes(const ProtobufCBinaryData *b, size_t min, size_t max, const char *field)
{
    TM_ENSURE(b->len <= max, TM_ERR_TOO_LARGE, "%s: %zu bytes, at most %zu allowed", field, b->len, max);
    TM_ENSURE(b->len >= min, TM_ERR_INVALID, "%s: %zu bytes, at least %zu needed", field, b->len, min);
    return TM_OK;
}

/* A region is a DNS label-ish name: it becomes part of kms.REGION.amazonaws.com. */
static tm_status check_region(const char *s, const char *field)
{
    CHECK(check_text(s, TM_NITRO_MAX_REGION, false, field));
    TM_ENSURE(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s) && s[0] != '-', TM_ERR_INVALID,
              "%s: \"%s\" is not a region name ([a-z0-9-])", field, s);
    return TM_OK;
}

static tm_status check_credentials(const Tmkms__Nitro__AwsCredentials *c, const char *field)
{
    TM_ENSURE(c, TM_ERR_INVALID, "%s: missing", field);
    /* Never echo credential text into an error: only the field name. */
    TM_ENSURE(check_text(c->access_key_id, TM_NITRO_MAX_AKID, false, "") == TM_OK, TM_ERR_INVALID,
              "%s.access_key_id: empty, too long or not printable", field);
    TM_ENSURE(check_text(c->secret_access_key, TM_NITRO_MAX_SECRET, false, "") == TM_OK, TM_ERR_INVALID,
              "%s.secret_access_key: empty, too long or not printable", field);
    TM_ENSURE(check_text(c->session_token, TM_NITRO_MAX_TOKEN, true, "") == TM_OK, TM_ERR_INVALID,
              "%s.session_token: too long or not printable", field);
    tm_err_clear();
    return TM_OK;
}

static tm_status check_port(uint32_t port, bool may_be_zero, const char *field)
{
    TM_ENSURE(port != 0 || may_be_zero, TM_ERR_INVALID, "%s: 0", field);
    TM_ENSURE(port != 0xFFFFFFFFu, TM_ERR_INVALID, "%s: the ANY port is not an endpoint", field);
    return TM_OK;
}

static tm_status check_keygen_request(const Tmkms__Nitro__KeygenRequest *r)
{
    CHECK(check_region(r->aws_region, "keygen_request.aws_region"));
    CHECK(check_text(r->kms_key_id, TM_NITRO_MAX_KEY_ID, false, "keygen_request.kms_key_id"));
    CHECK(check_credentials(r->credentials, "keygen_request.credentials"));
    return check_port(r->kms_proxy_port, true, "keygen_request.kms_proxy_port");
}

static tm_status check_keygen_response(const Tmkms__Nitro__KeygenResponse *r)
{
    CHECK(check_bytes(&r->sealed_consensus_key, 1, TM_NITRO_MAX_SEALED,
                      "keygen_response.sealed_consensus_key"));
    CHECK(check_bytes(&r->consensus_pubkey, TM_ED25519_PUBKEY_LEN, TM_ED25519_PUBKEY_LEN,
                      "keygen_response.consensus_pubkey"));
    CHECK(check_bytes(&r->attestation_doc, 1, TM_NITRO_MAX_ATTESTATION, "keygen_response.attestation_doc"));
    CHECK(
        check_bytes(&r->sealed_identity_key, 0, TM_NITRO_MAX_SEALED, "keygen_response.sealed_identity_key"));
    size_t want_id = r->sealed_identity_key.len ? TM_ED25519_PUBKEY_LEN : 0;
    return check_bytes(&r->identity_pubkey, want_id, want_id, "keygen_response.identity_pubkey");
}

static tm_status check_start_request(const Tmkms__Nitro__StartRequest *r)
{
    CHECK(check_text(r->chain_id, TM_MAX_CHAIN_ID_LEN, false, "start_request.chain_id"));
    TM_ENSURE(r->max_height >= 0, TM_ERR_INVALID, "start_request.max_height: negative");
    CHECK(
        check_bytes(&r->sealed_consensus_key, 1, TM_NITRO_MAX_SEALED, "start_request.sealed_consensus_key"));
    CHECK(check_bytes(&r->sealed_identity_key, 0, TM_NITRO_MAX_SEALED, "start_request.sealed_identity_key"));
    switch (r->transport) {
    case TMKMS__NITRO__TRANSPORT__TRANSPORT_PLAIN: break;
    case TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION:
    case TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE:
        TM_ENSURE(r->sealed_identity_key.len > 0, TM_ERR_INVALID,
                  "start_request.sealed_identity_key: required for a tcp:// or noise:// node");
        break;
    default:
        return tm_err_set(TM_ERR_INVALID, "start_request.transport: unknown value %d", (int)r->transport);
    }
    CHECK(check_text(r->peer_id, TM_NITRO_MAX_PEER_ID, true, "start_request.peer_id"));
    TM_ENSURE(r->transport == TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE ? r->peer_id && r->peer_id[0] : true,
              TM_ERR_INVALID, "start_request.peer_id: required for a noise:// node");
    CHECK(check_port(r->state_port, false, "start_request.state_port"));
    CHECK(check_port(r->node_port, false, "start_request.node_port"));
    CHECK(check_port(r->log_port, true, "start_request.log_port"));
    CHECK(check_region(r->aws_region, "start_request.aws_region"));
    CHECK(check_credentials(r->credentials, "start_request.credentials"));
    TM_ENSURE(r->log_level <= TM_LOG_DEBUG + 1, TM_ERR_INVALID, "start_request.log_level: %u unknown",
              r->log_level);
    return check_port(r->kms_proxy_port, true, "start_request.kms_proxy_port");
}

static tm_status check_state(const Tmkms__Nitro__SignState *s, const char *field)
{
    tm_sign_state tmp;
    TM_ENSURE(s, TM_ERR_INVALID, "%s: missing", field);
    tm_status st = tm_nitro_state_from_msg(s, &tmp);
    if (st != TM_OK) return tm_err_prefix(st, "%s.", field);
    return TM_OK;
}

static tm_status check_labels(const Tmkms__Nitro__MetricSeries *s, size_t idx)
{
    TM_ENSURE(s->n_labels <= TM_METRICS_MAX_LABELS, TM_ERR_TOO_LARGE,
              "metrics_report.series[%zu].labels: %zu, at most %d", idx, s->n_labels, TM_METRICS_MAX_LABELS);
    for (size_t i = 0; i < s->n_labels; i++) {
        const Tmkms__Nitro__MetricLabel *l = s->labels[i];
        TM_ENSURE(l, TM_ERR_INVALID, "metrics_report.series[%zu].labels[%zu]: missing", idx, i);
        char field[96];
        snprintf(field, sizeof(field), "metrics_report.series[%zu].labels[%zu].name", idx, i);
        CHECK(check_text(l->name, TM_NITRO_MAX_LABEL_NAME, false, field));
        snprintf(field, sizeof(field), "metrics_report.series[%zu].labels[%zu].value", idx, i);
        CHECK(check_text(l->value, TM_NITRO_MAX_LABEL_VALUE, true, field));
        TM_ENSURE(tm_metrics_valid_label_name(l->name), TM_ERR_INVALID,
                  "metrics_report.series[%zu].labels[%zu].name: \"%s\" is not a label name", idx, i, l->name);
        TM_ENSURE(s->type != TM_NITRO_METRIC_HISTOGRAM || strcmp(l->name, "le") != 0, TM_ERR_INVALID,
                  "metrics_report.series[%zu].labels[%zu].name: \"le\" on a histogram", idx, i);
        for (size_t j = 0; j < i; j++)
            TM_ENSURE(strcmp(s->labels[j]->name, l->name) != 0, TM_ERR_INVALID,
                      "metrics_report.series[%zu].labels[%zu].name: \"%s\" given twice", idx, i, l->name);
    }
    return TM_OK;
}

/* A histogram's buckets are the latency buckets and count is their sum; the other types
 * carry only their own value. */
static tm_status check_values(const Tmkms__Nitro__MetricSeries *s, size_t idx)
{
    if (s->type != TM_NITRO_METRIC_HISTOGRAM) {
        TM_ENSURE(s->n_buckets == 0 && s->count == 0 && s->sum_ns == 0, TM_ERR_INVALID,
                  "metrics_report.series[%zu].buckets: only a histogram has buckets, count or sum_ns", idx);
        TM_ENSURE(s->type == TM_NITRO_METRIC_COUNTER ? s->gauge == 0 : s->counter == 0, TM_ERR_INVALID,
                  "metrics_report.series[%zu]: a value of another type", idx);
        return TM_OK;
    }
    TM_ENSURE(s->counter == 0 && s->gauge == 0, TM_ERR_INVALID,
              "metrics_report.series[%zu]: a histogram with a counter or gauge value", idx);
    TM_ENSURE(s->n_buckets == tm_metrics_latency_bounds_n + 1, TM_ERR_INVALID,
              "metrics_report.series[%zu].buckets: %zu, a histogram has %zu", idx, s->n_buckets,
              tm_metrics_latency_bounds_n + 1);
    uint64_t sum = 0;
    for (size_t i = 0; i < s->n_buckets; i++) {
        TM_ENSURE(s->buckets[i] <= UINT64_MAX - sum, TM_ERR_INVALID,
                  "metrics_report.series[%zu].buckets: the sum overflows", idx);
        sum += s->buckets[i];
    }
    TM_ENSURE(sum == s->count, TM_ERR_INVALID,
              "metrics_report.series[%zu].count: %llu, the buckets sum to %llu", idx,
              (unsigned long long)s->count, (unsigned long long)sum);
    return TM_OK;
}

static tm_status check_metrics_report(const Tmkms__Nitro__MetricsReport *r)
{
    TM_ENSURE(r->n_series <= TM_NITRO_MAX_METRIC_SERIES, TM_ERR_TOO_LARGE,
              "metrics_report.series: %zu, at most %d", r->n_series, TM_NITRO_MAX_METRIC_SERIES);
    for (size_t i = 0; i < r->n_series; i++) {
        const Tmkms__Nitro__MetricSeries *s = r->series[i];
        TM_ENSURE(s, TM_ERR_INVALID, "metrics_report.series[%zu]: missing", i);
        char field[80];
        snprintf(field, sizeof(field), "metrics_report.series[%zu].name", i);
        CHECK(check_text(s->name, TM_NITRO_MAX_METRIC_NAME, false, field));
        TM_ENSURE(tm_metrics_valid_name(s->name), TM_ERR_INVALID,
                  "metrics_report.series[%zu].name: \"%s\" is not a metric name", i, s->name);
        TM_ENSURE(s->type <= TM_NITRO_METRIC_HISTOGRAM, TM_ERR_INVALID,
                  "metrics_report.series[%zu].type: %u unknown", i, s->type);
        CHECK(check_labels(s, i));
        CHECK(check_values(s, i));
    }
    return TM_OK;
}

static tm_status check_body(const tm_nitro_msg *m)
{
    switch (m->body_case) {
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST: return check_keygen_request(m->keygen_request);
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE: return check_keygen_response(m->keygen_response);
    case TMKMS__NITRO__MESSAGE__BODY_START_REQUEST: return check_start_request(m->start_request);
    case TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE:
        return check_bytes(&m->start_response->consensus_pubkey, TM_ED25519_PUBKEY_LEN, TM_ED25519_PUBKEY_LEN,
                           "start_response.consensus_pubkey");
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST:
        return check_text(m->state_load_request->chain_id, TM_MAX_CHAIN_ID_LEN, false,
                          "state_load_request.chain_id");
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE:
        return check_state(m->state_load_response->state, "state_load_response.state");
    case TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST:
        return check_state(m->state_persist->state, "state_persist.state");
    case TMKMS__NITRO__MESSAGE__BODY_STATE_ACK: return TM_OK;
    case TMKMS__NITRO__MESSAGE__BODY_LOG_LINE:
        TM_ENSURE(m->log_line->level <= TM_LOG_DEBUG, TM_ERR_INVALID, "log_line.level: %u unknown",
                  m->log_line->level);
        return check_text(m->log_line->text, TM_NITRO_MAX_LOG_LINE, true, "log_line.text");
    case TMKMS__NITRO__MESSAGE__BODY_ERROR:
        return check_text(m->error->message, TM_NITRO_MAX_ERROR, true, "error.message");
    case TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT: return check_metrics_report(m->metrics_report);
    default: return tm_err_set(TM_ERR_INVALID, "message: no body");
    }
}

tm_status tm_nitro_msg_validate(const tm_nitro_msg *m)
{
    TM_ENSURE(m->version == TM_NITRO_PROTO_VERSION, TM_ERR_INVALID,
              "message.version: %u, this program speaks version %u", m->version, TM_NITRO_PROTO_VERSION);
    return check_body(m);
}

/* protobuf-c refuses field number 0 in a one-byte tag but accepts it in a longer one
 * (0x80 0x00) and keeps it as an unknown field. Protobuf forbids field 0, and the
 * re-encoded message (a one-byte tag) no longer decodes: refuse it here, at any depth. */
static bool has_field_zero(const ProtobufCMessage *m)
{
    for (size_t i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) { /* MetricsReport.series, MetricSeries.labels */
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *subs = *(ProtobufCMessage *const *const *)((const char *)m + f->offset);
            for (size_t k = 0; k < n; k++)
                if (subs[k] && has_field_zero(subs[k])) return true;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)((const char *)m + f->offset);
        if (sub && has_field_zero(sub)) return true;
    }
    return false;
}

/* Decoded messages carry AWS credentials: every block protobuf-c allocates for them is
 * wiped when freed. Each block keeps its size in a 16-byte header (max_align_t). */
#define WIPE_HEADER 16

static void *wiping_alloc(void *data, size_t size)
{
    (void)data;
    if (size > SIZE_MAX - WIPE_HEADER) return NULL;
    unsigned char *p = malloc(size + WIPE_HEADER);
    if (!p) return NULL;
    memcpy(p, &size, sizeof(size));
    return p + WIPE_HEADER;
}

static void wiping_free(void *data, void *ptr)
{
    (void)data;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - WIPE_HEADER;
    size_t size;
    memcpy(&size, p, sizeof(size));
    sodium_memzero(ptr, size);
    free(p);
}

static ProtobufCAllocator wiping_allocator = {wiping_alloc, wiping_free, NULL};

tm_status tm_nitro_msg_decode(const uint8_t *buf, size_t len, tm_nitro_msg **out)
{
    *out = NULL;
    TM_ENSURE(len > 0 && len <= TM_NITRO_FRAME_MAX, TM_ERR_INVALID, "frame: length %zu outside 1..%u", len,
              TM_NITRO_FRAME_MAX);
    tm_nitro_msg *m = tmkms__nitro__message__unpack(&wiping_allocator, len, buf);
    TM_ENSURE(m, TM_ERR_INVALID, "message: %zu bytes that are not a host.proto Message", len);
    if (has_field_zero(&m->base)) {
        tmkms__nitro__message__free_unpacked(m, &wiping_allocator);
        tm_err_set(TM_ERR_INVALID, "message: %zu bytes that are not a host.proto Message (field number 0)",
                   len);
        return TM_ERR_INVALID;
    }
    tm_status status = tm_nitro_msg_validate(m);
    if (status != TM_OK) {
        tmkms__nitro__message__free_unpacked(m, &wiping_allocator);
        return status;
    }
    *out = m;
    return TM_OK;
}

void tm_nitro_msg_free(tm_nitro_msg *m)
{
    if (m) tmkms__nitro__message__free_unpacked(m, &wiping_allocator);
}

tm_status tm_nitro_send(tm_conn *conn, tm_nitro_msg *m)
{
    m->version = TM_NITRO_PROTO_VERSION;
    size_t len = tmkms__nitro__message__get_packed_size(m);
    TM_ENSURE(len > 0 && len <= TM_NITRO_FRAME_MAX, TM_ERR_TOO_LARGE, "message of %zu bytes exceeds a frame",
              len);
    uint8_t *frame = malloc(4 + len);
    TM_ENSURE(frame, TM_ERR_NOMEM, "out of memory");
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    tmkms__nitro__message__pack(m, frame + 4);
    tm_status status = tm_conn_write_all(conn, frame, 4 + len);
    /* Frames can carry credentials and sealed keys: do not leave them in freed memory. */
    memset(frame, 0, 4 + len);
    __asm__ volatile("" : : "r"(frame) : "memory");
    free(frame);
    return status;
}

tm_status tm_nitro_recv(tm_conn *conn, tm_nitro_msg **out)
{
    bool in_sync = false;
    return tm_nitro_recv_sync(conn, out, &in_sync);
}

tm_status tm_nitro_recv_sync(tm_conn *conn, tm_nitro_msg **out, bool *in_sync)
{
    uint8_t hdr[4];
    *out = NULL;
    *in_sync = false;
    TM_TRY(tm_conn_read_exact(conn, hdr, sizeof(hdr)));
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    TM_ENSURE(len > 0 && len <= TM_NITRO_FRAME_MAX, TM_ERR_INVALID, "frame: length %u outside 1..%u", len,
              TM_NITRO_FRAME_MAX);
    uint8_t *buf = malloc(len);
    TM_ENSURE(buf, TM_ERR_NOMEM, "out of memory");
    tm_status status = tm_conn_read_exact(conn, buf, len);
    if (status == TM_OK) {
        *in_sync = true;
        status = tm_nitro_msg_decode(buf, len, out);
    }
    memset(buf, 0, len);
    __asm__ volatile("" : : "r"(buf) : "memory");
    free(buf);
    return status;
}

tm_status tm_nitro_recv_expect(tm_conn *conn, tm_nitro_body want, tm_nitro_msg **out)
{
    tm_nitro_msg *m = NULL;
    *out = NULL;
    TM_TRY(tm_nitro_recv(conn, &m));
    return tm_nitro_expect(m, want, out);
}

tm_status tm_nitro_expect(tm_nitro_msg *m, tm_nitro_body want, tm_nitro_msg **out)
{
    *out = NULL;
    if (m->body_case == want) {
        *out = m;
        return TM_OK;
    }
    tm_status status;
    if (m->body_case == TMKMS__NITRO__MESSAGE__BODY_ERROR) {
        uint32_t code = m->error->code;
        /* A peer's EOF code would read as our connection closing: report it as a refusal. */
        status =
            code > TM_OK && code <= TM_ERR_CONFIG && code != TM_ERR_EOF ? (tm_status)code : TM_ERR_REFUSED;
        tm_err_set(status, "%s", m->error->message ? m->error->message : "");
    } else {
        status = tm_err_set(TM_ERR_INVALID, "expected %s, got %s", tm_nitro_body_name(want),
                            tm_nitro_body_name(m->body_case));
    }
    tm_nitro_msg_free(m);
    return status;
}

void tm_nitro_copy_printable(char *dst, const char *src, size_t max)
{
    size_t n = 0;
    for (; src && n < max && src[n]; n++) {
        char c = src[n];
        if (c < 0x20 || c >= 0x7f) c = '?';
        dst[n] = c;
    }
    dst[n] = '\0';
}

void tm_nitro_send_error(tm_conn *conn, tm_status code, const char *text)
{
    char cut[TM_NITRO_MAX_ERROR + 1];
    tm_nitro_copy_printable(cut, text, TM_NITRO_MAX_ERROR);
    Tmkms__Nitro__Error e = TMKMS__NITRO__ERROR__INIT;
    e.code = (uint32_t)code;
    e.message = cut;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_ERROR;
    m.error = &e;
    (void)tm_nitro_send(conn, &m);
}

tm_status tm_nitro_state_from_msg(const Tmkms__Nitro__SignState *m, tm_sign_state *out)
{
    memset(out, 0, sizeof(*out));
    TM_ENSURE(m->height >= 0, TM_ERR_INVALID, "height: negative");
    TM_ENSURE(m->round >= 0, TM_ERR_INVALID, "round: negative");
    TM_ENSURE(m->step <= TM_STEP_PRECOMMIT, TM_ERR_INVALID, "step: %u is not 0..3", m->step);
    TM_ENSURE(m->sign_bytes.len <= TM_MAX_SIGN_BYTES, TM_ERR_TOO_LARGE, "sign_bytes: %zu bytes, at most %d",
              m->sign_bytes.len, TM_MAX_SIGN_BYTES);
    TM_ENSURE(m->signature.len == 0 || m->signature.len == TM_ED25519_SIG_LEN, TM_ERR_INVALID,
              "signature: %zu bytes, 0 or 64 expected", m->signature.len);
    out->height = m->height;
    out->round = m->round;
    out->step = (tm_step)m->step;
    out->sign_bytes_len = m->sign_bytes.len;
    if (m->sign_bytes.len) memcpy(out->sign_bytes, m->sign_bytes.data, m->sign_bytes.len);
    out->has_signature = m->signature.len == TM_ED25519_SIG_LEN;
    if (out->has_signature) memcpy(out->signature, m->signature.data, TM_ED25519_SIG_LEN);
    return TM_OK;
}

void tm_nitro_state_to_msg(const tm_sign_state *state, Tmkms__Nitro__SignState *m)
{
    tmkms__nitro__sign_state__init(m);
    m->height = state->height;
    m->round = state->round;
    m->step = (uint32_t)state->step;
    m->sign_bytes.len = state->sign_bytes_len;
    m->sign_bytes.data = (uint8_t *)state->sign_bytes;
    m->signature.len = state->has_signature ? TM_ED25519_SIG_LEN : 0;
    m->signature.data = (uint8_t *)state->signature;
}

const char *tm_nitro_body_name(tm_nitro_body body)
{
    switch (body) {
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST: return "keygen_request";
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE: return "keygen_response";
    case TMKMS__NITRO__MESSAGE__BODY_START_REQUEST: return "start_request";
    case TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE: return "start_response";
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST: return "state_load_request";
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE: return "state_load_response";
    case TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST: return "state_persist";
    case TMKMS__NITRO__MESSAGE__BODY_STATE_ACK: return "state_ack";
    case TMKMS__NITRO__MESSAGE__BODY_LOG_LINE: return "log_line";
    case TMKMS__NITRO__MESSAGE__BODY_ERROR: return "error";
    case TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT: return "metrics_report";
    default: return "no body";
    }
}
