/* AWS KMS client over JSON 1.1. See kms.h. */
#include "tmkms/aws/kms.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tmkms/aws/http.h"
#include "tmkms/aws/sigv4.h"
#include "tmkms/metrics.h"

#define KMS_CONTENT_TYPE "application/x-amz-json-1.1"
#define DEFAULT_ATTEMPTS 4u
#define DEFAULT_BASE_MS 100u
#define DEFAULT_CAP_MS 3000u
#define DEFAULT_MAX_RESPONSE (64u * 1024u)
#define MAX_BODY (32u * 1024u)

void tm_kms_bytes_free(tm_kms_bytes *b)
{
    if (!b || !b->data) return;
    if (b->secure) {
        sodium_free(b->data);
    } else {
        sodium_memzero(b->data, b->len);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
}

/* ---- endpoint ---- */

static tm_status url_part(CURLU *u, CURLUPart part, char **out, const char *what)
{
    CURLUcode rc = curl_url_get(u, part, out, 0);
    TM_ENSURE(rc == CURLUE_OK, TM_ERR_CONFIG, "KMS endpoint: no %s", what);
    return TM_OK;
}

static tm_status endpoint_from_url(const char *endpoint, char *url, size_t url_cap, char *host, size_t host_cap)
{
    tm_status status = TM_OK;
    char *scheme = NULL, *h = NULL, *port = NULL, *path = NULL;
    CURLU *u = curl_url();
    TM_ENSURE(u, TM_ERR_NOMEM, "KMS endpoint: out of memory");
    TM_ENSURE_GOTO(curl_url_set(u, CURLUPART_URL, endpoint, 0) == CURLUE_OK, TM_ERR_CONFIG,
                   "KMS endpoint \"%.200s\" is not a URL", endpoint);
    TM_TRY_GOTO(url_part(u, CURLUPART_SCHEME, &scheme, "scheme"));
    TM_ENSURE_GOTO(strcmp(scheme, "https") == 0, TM_ERR_CONFIG, "KMS endpoint \"%.200s\" is not https://", endpoint);
    TM_TRY_GOTO(url_part(u, CURLUPART_HOST, &h, "host"));
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) port = NULL;
    TM_ENSURE_GOTO(curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") == 0, TM_ERR_CONFIG,
                   "KMS endpoint \"%.200s\" has a path", endpoint);
    int n = port && strcmp(port, "443") != 0 ? snprintf(host, host_cap, "%s:%s", h, port) : snprintf(host, host_cap, "%s", h);
    TM_ENSURE_GOTO(n > 0 && (size_t)n < host_cap, TM_ERR_CONFIG, "KMS endpoint host too long");
    n = snprintf(url, url_cap, "https://%s/", host);
    TM_ENSURE_GOTO(n > 0 && (size_t)n < url_cap, TM_ERR_CONFIG, "KMS endpoint too long");
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return status;
}

tm_status tm_kms_endpoint(const tm_kms_config *cfg, char *url, size_t url_cap, char *host, size_t host_cap)
{
    const char *r = cfg->region;
    TM_ENSURE(r && *r && strlen(r) < 64, TM_ERR_CONFIG, "KMS: no region");
    for (const char *p = r; *p; p++)
        TM_ENSURE((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-', TM_ERR_CONFIG,
                  "KMS: region \"%s\" is not like us-east-1", r);
    if (cfg->endpoint) return endpoint_from_url(cfg->endpoint, url, url_cap, host, host_cap);
    int n = snprintf(host, host_cap, "kms.%s.amazonaws.com", r);
    TM_ENSURE(n > 0 && (size_t)n < host_cap, TM_ERR_CONFIG, "KMS: host too long");
    n = snprintf(url, url_cap, "https://%s/", host);
    TM_ENSURE(n > 0 && (size_t)n < url_cap, TM_ERR_CONFIG, "KMS: URL too long");
    return TM_OK;
}

/* ---- signing ---- */

static tm_status set_header(char *dst, size_t cap, const char *name, const char *value)
{
    int n = snprintf(dst, cap, "%s: %s", name, value);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "KMS: %s header too long", name);
    return TM_OK;
}

tm_status tm_kms_prepare(const tm_kms_config *cfg, const char *op, const char *body, size_t body_len, time_t now,
                         tm_kms_prepared *out)
{
    memset(out, 0, sizeof(*out));
    TM_ENSURE(cfg->creds, TM_ERR_CONFIG, "KMS: no credentials");
    TM_TRY(tm_kms_endpoint(cfg, out->url, sizeof(out->url), out->host, sizeof(out->host)));
    int n = snprintf(out->target, sizeof(out->target), "TrentService.%s", op);
    TM_ENSURE(n > 0 && (size_t)n < sizeof(out->target), TM_ERR_INVALID, "KMS: operation name too long");
    tm_http_header hs[] = {{"Content-Type", KMS_CONTENT_TYPE}, {"Host", out->host}, {"X-Amz-Target", out->target}};
    tm_sigv4_input in = {"POST", "/", NULL, hs, 3, (const uint8_t *)body, body_len, cfg->region, "kms", NULL};
    tm_sigv4_signed sig;
    const tm_aws_credentials *c = cfg->creds;
    TM_TRY(tm_sigv4_sign(&in, c->access_key_id, c->secret_access_key, c->session_token, now, &sig));
    out->headers[out->n_headers++] = "Content-Type: " KMS_CONTENT_TYPE;
    TM_TRY(set_header(out->hdr_target, sizeof(out->hdr_target), "X-Amz-Target", out->target));
    out->headers[out->n_headers++] = out->hdr_target;
    TM_TRY(set_header(out->hdr_date, sizeof(out->hdr_date), "X-Amz-Date", sig.amz_date));
    out->headers[out->n_headers++] = out->hdr_date;
    TM_TRY(set_header(out->hdr_auth, sizeof(out->hdr_auth), "Authorization", sig.authorization));
    out->headers[out->n_headers++] = out->hdr_auth;
    if (c->session_token[0]) {
        TM_TRY(set_header(out->hdr_token, sizeof(out->hdr_token), "X-Amz-Security-Token", c->session_token));
        out->headers[out->n_headers++] = out->hdr_token;
    }
    return TM_OK;
}

/* ---- errors and retries ---- */

static void copy_printable(char *dst, size_t cap, const char *src, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        char c = src[i];
        if (c < ' ' || c >= 127) c = '?';
        dst[k++] = c;
    }
    dst[k] = '\0';
}

/* How much of an AWS error message is shown: up to its first blank line. A signature
 * mismatch (InvalidSignatureException, IncompleteSignatureException) goes on, after a blank
 * line, with the canonical request and string to sign AWS expected, which carry the signed
 * headers' values, our session token among them: never into a log. */
static size_t shown_message_len(const json_t *msg)
{
    const char *text = json_string_value(msg);
    size_t len = json_string_length(msg);
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\n') continue;
        if (text[i + 1] == '\n' || (text[i + 1] == '\r' && i + 2 < len && text[i + 2] == '\n')) return i;
    }
    return len;
}

/* "com.amazonaws.kms#AccessDeniedException" → after '#'; "Type:http://..." → before ':'. */
static void set_type(tm_kms_error *err, const char *t)
{
    const char *hash = strrchr(t, '#');
    if (hash) t = hash + 1;
    copy_printable(err->type, sizeof(err->type), t, strcspn(t, ":"));
}

static tm_status status_for(const tm_kms_error *err)
{
    if (err->http_status >= 500) return TM_ERR_IO;
    if (strcmp(err->type, "NotFoundException") == 0) return TM_ERR_NOT_FOUND;
    if (strcmp(err->type, "InvalidCiphertextException") == 0 || strcmp(err->type, "IncorrectKeyException") == 0)
        return TM_ERR_CRYPTO;
    if (tm_kms_is_retryable(err->http_status, err->type)) return TM_ERR_TIMEOUT;
    return TM_ERR_REFUSED;
}

tm_status tm_kms_parse_error(long http_status, const uint8_t *body, size_t len, const char *amzn_error_type,
                             tm_kms_error *err)
{
    unsigned attempts = err->attempts;
    memset(err, 0, sizeof(*err));
    err->attempts = attempts;
    err->http_status = http_status;
    json_t *root = body && len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL) : NULL;
    const char *type = json_string_value(json_object_get(root, "__type"));
    json_t *m = json_object_get(root, "message");
    json_t *msg = json_is_string(m) ? m : json_object_get(root, "Message");
    if (type && *type)
        set_type(err, type);
    else if (amzn_error_type && *amzn_error_type)
        set_type(err, amzn_error_type);
    if (!err->type[0]) snprintf(err->type, sizeof(err->type), "HTTP %ld", http_status);
    if (json_is_string(msg))
        copy_printable(err->message, sizeof(err->message), json_string_value(msg), shown_message_len(msg));
    else if (!root && len > 0) snprintf(err->message, sizeof(err->message), "%zu-byte answer that is not an AWS error object", len);
    json_decref(root);
    return tm_err_set(status_for(err), "%s: %s", err->type, err->message[0] ? err->message : "(no message)");
}

bool tm_kms_is_retryable(long http_status, const char *type)
{
    static const char *const throttling[] = {"ThrottlingException", "Throttling", "ThrottledException",
                                              "RequestThrottledException", "TooManyRequestsException",
                                              "RequestLimitExceeded", "RequestThrottled", "SlowDown",
                                              "ProvisionedThroughputExceededException"};
    if (http_status == 429 || (http_status >= 500 && http_status <= 599)) return true;
    for (size_t i = 0; type && i < sizeof(throttling) / sizeof(throttling[0]); i++)
        if (strcmp(type, throttling[i]) == 0) return true;
    return false;
}

unsigned tm_kms_backoff_ms(unsigned attempt, unsigned base_ms, unsigned cap_ms, uint32_t rnd)
{
    uint64_t ceil = base_ms ? base_ms : 1;
    for (unsigned k = 1; k < attempt && ceil < cap_ms; k++) ceil *= 2;
    if (ceil > cap_ms) ceil = cap_ms;
    if (ceil == 0) ceil = 1;
    return (unsigned)(rnd % ceil) + 1;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- responses ---- */

tm_status tm_kms_parse_b64_field(const uint8_t *body, size_t len, const char *field, size_t max_len, bool secure,
                                 tm_kms_bytes *out)
{
    tm_status status = TM_OK;
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    TM_ENSURE(root, TM_ERR_INVALID, "KMS answer is not JSON: %s at byte %d", jerr.text, jerr.position);
    TM_ENSURE_GOTO(json_is_object(root), TM_ERR_INVALID, "KMS answer is not a JSON object");
    json_t *v = json_object_get(root, field);
    TM_ENSURE_GOTO(v, TM_ERR_INVALID, "KMS answer has no %s", field);
    TM_ENSURE_GOTO(json_is_string(v), TM_ERR_INVALID, "KMS answer: %s is not a string", field);
    size_t b64_len = json_string_length(v);
    TM_ENSURE_GOTO(b64_len > 0 && b64_len / 4 * 3 <= max_len + 2, TM_ERR_TOO_LARGE,
                   "KMS answer: %s empty or over %zu bytes", field, max_len);
    size_t cap = b64_len / 4 * 3 + 3;
    out->secure = secure;
    out->data = secure ? sodium_malloc(cap) : malloc(cap);
    TM_ENSURE_GOTO(out->data, TM_ERR_NOMEM, "KMS answer: out of memory");
    TM_ENSURE_GOTO(sodium_base642bin(out->data, cap, json_string_value(v), b64_len, NULL, &out->len, NULL,
                                     sodium_base64_VARIANT_ORIGINAL) == 0,
                   TM_ERR_INVALID, "KMS answer: %s is not valid base64", field);
    TM_ENSURE_GOTO(out->len > 0 && out->len <= max_len, TM_ERR_TOO_LARGE, "KMS answer: %s empty or over %zu bytes",
                   field, max_len);
out:
    json_decref(root);
    if (status != TM_OK) tm_kms_bytes_free(out);
    return status;
}

/* ---- calls ---- */

static tm_status attempt(const tm_kms_config *cfg, const char *op, const char *body, size_t body_len, bool secure,
                         tm_http_response *resp)
{
    tm_kms_prepared *p = sodium_malloc(sizeof(*p)); /* holds the session token */
    TM_ENSURE(p, TM_ERR_NOMEM, "KMS: out of memory");
    tm_status status = TM_OK;
    TM_TRY_GOTO(tm_kms_prepare(cfg, op, body, body_len, time(NULL), p));
    tm_http_request req = {.method = "POST", .url = p->url, .n_headers = p->n_headers, .body = (const uint8_t *)body,
                           .body_len = body_len, .ca_bundle = cfg->ca_bundle, .connect = cfg->connect,
                           .connect_ctx = cfg->connect_ctx, .timeout_ms = cfg->timeout_ms,
                           .max_response = cfg->max_response ? cfg->max_response : DEFAULT_MAX_RESPONSE,
                           .secure_body = secure};
    memcpy(req.headers, p->headers, p->n_headers * sizeof(p->headers[0]));
    status = tm_http_perform(&req, resp);
    if (status != TM_OK) tm_err_prefix(status, "KMS %s: ", op);
out:
    sodium_free(p);
    return status;
}

/* tmkms_kms_calls_total{operation, result}: one per call (after its retries), result "ok",
 * the AWS error type ("AccessDeniedException", "HTTP 503") or "transport_error". Into the
 * process's registry, if it has one (tm_metrics_global()). */
static void count_call(const char *op, const char *result)
{
    tm_metrics *metrics = tm_metrics_global();
    if (!metrics) return;
    tm_labels l = {{"operation", "result"}, {op, result[0] ? result : "unknown"}};
    tm_counter *c = tm_metrics_counter(metrics, "tmkms_kms_calls_total",
                                       "AWS KMS calls by operation and result (ok, the AWS error type, or "
                                       "transport_error), retries included in one call.",
                                       &l);
    tm_counter_add(c, 1);
}

/* POSTs `body` for `op`, retrying throttling and 5xx; TM_OK only with an HTTP 200 in resp. */
static tm_status call(const tm_kms_config *cfg, const char *op, const char *body, size_t body_len, bool secure,
                      tm_http_response *resp, tm_kms_error *err_out)
{
    tm_kms_error local = {0}, *err = err_out ? err_out : &local;
    unsigned max = cfg->max_attempts ? cfg->max_attempts : DEFAULT_ATTEMPTS;
    memset(err, 0, sizeof(*err));
    for (unsigned k = 1;; k++) {
        err->attempts = k;
        tm_status sent = attempt(cfg, op, body, body_len, secure, resp);
        if (sent != TM_OK) {
            count_call(op, "transport_error");
            return sent;
        }
        if (resp->status == 200) {
            count_call(op, "ok");
            return TM_OK;
        }
        tm_status st = tm_kms_parse_error(resp->status, resp->body, resp->len, resp->amzn_error_type, err);
        tm_http_response_free(resp);
        bool last = !tm_kms_is_retryable(err->http_status, err->type) || k >= max;
        if (last) count_call(op, err->type);
        if (!tm_kms_is_retryable(err->http_status, err->type)) return tm_err_prefix(st, "KMS %s: ", op);
        if (k >= max) return tm_err_prefix(st, "KMS %s (%u attempts): ", op, k);
        sleep_ms(tm_kms_backoff_ms(k, cfg->base_delay_ms ? cfg->base_delay_ms : DEFAULT_BASE_MS,
                                   cfg->max_delay_ms ? cfg->max_delay_ms : DEFAULT_CAP_MS, randombytes_random()));
    }
}

/* Appends raw text to a body buffer. */
static tm_status put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    TM_ENSURE(n < cap - *len, TM_ERR_TOO_LARGE, "KMS: request body over %zu bytes", cap);
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
    return TM_OK;
}

static tm_status put_s(char *buf, size_t cap, size_t *len, const char *s)
{
    return put(buf, cap, len, s, strlen(s));
}

/* A JSON string literal (escaped by jansson). */
static tm_status put_json_string(char *buf, size_t cap, size_t *len, const char *s)
{
    json_t *j = json_string(s);
    TM_ENSURE(j, TM_ERR_INVALID, "KMS: key id is not UTF-8");
    char tmp[2048];
    size_t n = json_dumpb(j, tmp, sizeof(tmp), JSON_ENCODE_ANY);
    json_decref(j);
    TM_ENSURE(n > 0 && n <= sizeof(tmp), TM_ERR_TOO_LARGE, "KMS: key id too long");
    return put(buf, cap, len, tmp, n);
}

/* Standard base64 of `data`. */
static tm_status put_b64(char *buf, size_t cap, size_t *len, const uint8_t *data, size_t n)
{
    size_t need = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    TM_ENSURE(need < cap - *len, TM_ERR_TOO_LARGE, "KMS: request body over %zu bytes", cap);
    sodium_bin2base64(buf + *len, cap - *len, data, n, sodium_base64_VARIANT_ORIGINAL);
    *len += need - 1;
    return TM_OK;
}

/* The request body lives in sodium memory: Encrypt's carries a plaintext. */
typedef struct {
    char text[MAX_BODY];
    size_t len;
} body_buf;

static tm_status body_new(body_buf **out)
{
    *out = sodium_malloc(sizeof(body_buf));
    TM_ENSURE(*out, TM_ERR_NOMEM, "KMS: out of memory");
    (*out)->len = 0;
    (*out)->text[0] = '\0';
    return TM_OK;
}

#define B(b) (b)->text, sizeof((b)->text), &(b)->len

static tm_status finish_call(const tm_kms_config *cfg, const char *op, body_buf *b, const char *field, size_t max,
                             bool secure, tm_kms_bytes *out, tm_kms_error *err)
{
    tm_http_response resp = {0};
    tm_status status = call(cfg, op, b->text, b->len, secure, &resp, err);
    if (status == TM_OK) {
        status = tm_kms_parse_b64_field(resp.body, resp.len, field, max, secure, out);
        if (status != TM_OK) tm_err_prefix(status, "KMS %s: ", op);
    }
    tm_http_response_free(&resp);
    return status;
}

tm_status tm_kms_encrypt(const tm_kms_config *cfg, const char *key_id, const uint8_t *plaintext, size_t len,
                         tm_kms_bytes *ciphertext_blob, tm_kms_error *err)
{
    tm_status status = TM_OK;
    body_buf *b = NULL;
    TM_ENSURE(key_id && *key_id, TM_ERR_INVALID, "KMS Encrypt: no key id");
    TM_ENSURE(len > 0 && len <= TM_KMS_MAX_PLAINTEXT, TM_ERR_INVALID, "KMS Encrypt: plaintext of %zu bytes (1..%d)", len,
              TM_KMS_MAX_PLAINTEXT);
    TM_TRY(body_new(&b));
    TM_TRY_GOTO(put_s(B(b), "{\"KeyId\":"));
    TM_TRY_GOTO(put_json_string(B(b), key_id));
    TM_TRY_GOTO(put_s(B(b), ",\"Plaintext\":\""));
    TM_TRY_GOTO(put_b64(B(b), plaintext, len));
    TM_TRY_GOTO(put_s(B(b), "\"}"));
    status = finish_call(cfg, "Encrypt", b, "CiphertextBlob", TM_KMS_MAX_CIPHERTEXT, false, ciphertext_blob, err);
out:
    sodium_free(b);
    return status;
}

tm_status tm_kms_decrypt(const tm_kms_config *cfg, const char *key_id, const uint8_t *blob, size_t len,
                         const tm_kms_recipient *recipient, tm_kms_bytes *out, tm_kms_error *err)
{
    tm_status status = TM_OK;
    body_buf *b = NULL;
    TM_ENSURE(len > 0 && len <= TM_KMS_MAX_CIPHERTEXT, TM_ERR_INVALID, "KMS Decrypt: ciphertext of %zu bytes (1..%d)",
              len, TM_KMS_MAX_CIPHERTEXT);
    TM_ENSURE(!recipient || (recipient->len > 0 && recipient->len <= TM_KMS_MAX_ATTESTATION), TM_ERR_INVALID,
              "KMS Decrypt: attestation document empty or over %d bytes", TM_KMS_MAX_ATTESTATION);
    TM_TRY(body_new(&b));
    TM_TRY_GOTO(put_s(B(b), "{\"CiphertextBlob\":\""));
    TM_TRY_GOTO(put_b64(B(b), blob, len));
    TM_TRY_GOTO(put_s(B(b), "\""));
    if (key_id) {
        TM_TRY_GOTO(put_s(B(b), ",\"KeyId\":"));
        TM_TRY_GOTO(put_json_string(B(b), key_id));
    }
    if (recipient) {
        TM_TRY_GOTO(put_s(B(b), ",\"Recipient\":{\"KeyEncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\","
                                "\"AttestationDocument\":\""));
        TM_TRY_GOTO(put_b64(B(b), recipient->attestation_document, recipient->len));
        TM_TRY_GOTO(put_s(B(b), "\"}"));
    }
    TM_TRY_GOTO(put_s(B(b), "}"));
    status = recipient ? finish_call(cfg, "Decrypt", b, "CiphertextForRecipient", MAX_BODY, false, out, err)
                       : finish_call(cfg, "Decrypt", b, "Plaintext", TM_KMS_MAX_PLAINTEXT, true, out, err);
out:
    sodium_free(b);
    return status;
}

tm_status tm_kms_generate_random(const tm_kms_config *cfg, size_t n, tm_kms_bytes *out, tm_kms_error *err)
{
    tm_status status = TM_OK;
    body_buf *b = NULL;
    char num[48];
    TM_ENSURE(n >= 1 && n <= TM_KMS_MAX_RANDOM, TM_ERR_INVALID, "KMS GenerateRandom: %zu bytes (1..%d)", n,
              TM_KMS_MAX_RANDOM);
    TM_TRY(body_new(&b));
    snprintf(num, sizeof(num), "{\"NumberOfBytes\":%zu}", n);
    TM_TRY_GOTO(put_s(B(b), num));
    status = finish_call(cfg, "GenerateRandom", b, "Plaintext", TM_KMS_MAX_RANDOM, true, out, err);
    if (status == TM_OK && out->len != n) {
        tm_kms_bytes_free(out);
        status = tm_err_set(TM_ERR_INVALID, "KMS GenerateRandom: asked for %zu bytes, got another count", n);
    }
out:
    sodium_free(b);
    return status;
}
