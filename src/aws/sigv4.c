/* AWS Signature Version 4. See sigv4.h. */
#include "tmkms/aws/sigv4.h"

#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tmkms/buf.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_VALUE_MAX 4096

static tm_status put_str(tm_writer *w, const char *s)
{
    tm_status st = tm_write_bytes(w, s, strlen(s));
    if (st != TM_OK) return tm_err_set(TM_ERR_TOO_LARGE, "sigv4: canonical request over %zu bytes", w->cap);
    return TM_OK;
}

static tm_status put_char(tm_writer *w, char c)
{
    return put_str(w, (char[2]){c, 0});
}

static tm_status finish(tm_writer *w)
{
    TM_ENSURE(tm_write_u8(w, 0) == TM_OK, TM_ERR_TOO_LARGE, "sigv4: output over %zu bytes", w->cap);
    w->len--;
    return TM_OK;
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Canonical URI: every byte but unreserved ones and '/' percent-encoded (upper-case hex),
 * as botocore does for services other than S3 (the path as sent is encoded once more). */
static tm_status put_uri(tm_writer *w, const char *path)
{
    if (!path || !*path) return put_char(w, '/');
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (unreserved(*p) || *p == '/') {
            TM_TRY(put_char(w, (char)*p));
        } else {
            char enc[4];
            snprintf(enc, sizeof(enc), "%%%02X", *p);
            TM_TRY(put_str(w, enc));
        }
    }
    return TM_OK;
}

typedef struct {
    const char *s;
    size_t len;
} span;

static int span_cmp(span a, span b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.s, b.s, n);
    if (c) return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* Canonical query: parameters sorted by name then value (code point order); the query as
 * sent is assumed already percent-encoded, parameters without '=' get an empty value. */
static tm_status put_query(tm_writer *w, const char *query)
{
    enum { MAX_PARAMS = 64 };
    span params[MAX_PARAMS];
    size_t n = 0;
    if (!query || !*query) return TM_OK;
    for (const char *p = query; *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        TM_ENSURE(n < MAX_PARAMS, TM_ERR_TOO_LARGE, "sigv4: more than %d query parameters", MAX_PARAMS);
        if (len) params[n++] = (span){p, len};
        p += len + (end ? 1 : 0);
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: stable, n is small */
        for (size_t j = i; j > 0 && span_cmp(params[j - 1], params[j]) > 0; j--) {
            span t = params[j];
            params[j] = params[j - 1];
            params[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        if (i) TM_TRY(put_char(w, '&'));
        TM_TRY(tm_write_bytes(w, params[i].s, params[i].len) == TM_OK
                   ? TM_OK
                   : tm_err_set(TM_ERR_TOO_LARGE, "sigv4: query too long"));
        if (!memchr(params[i].s, '=', params[i].len)) TM_TRY(put_char(w, '='));
    }
    return TM_OK;
}

static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || !ca) return ca - cb;
    }
}

/* Header value: leading/trailing whitespace trimmed, inner runs of spaces collapsed. */
static tm_status put_value(tm_writer *w, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    bool space = false;
    for (; *v; v++) {
        if (*v == '\n' || *v == '\r') return tm_err_set(TM_ERR_INVALID, "sigv4: header value with a line break");
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space) TM_TRY(put_char(w, ' '));
        space = false;
        TM_TRY(put_char(w, *v));
    }
    return TM_OK;
}

static tm_status put_lower(tm_writer *w, const char *s)
{
    for (; *s; s++) TM_TRY(put_char(w, (char)tolower((unsigned char)*s)));
    return TM_OK;
}

static tm_status check_header_name(const char *name)
{
    TM_ENSURE(name && *name, TM_ERR_INVALID, "sigv4: empty header name");
    for (const char *p = name; *p; p++)
        TM_ENSURE(*p > ' ' && *p < 127 && *p != ':', TM_ERR_INVALID, "sigv4: header name \"%.64s\" has a forbidden character", name);
    return TM_OK;
}

/* Sorted (stable) indexes of the headers by lower-case name. */
static tm_status sort_headers(const tm_sigv4_input *in, size_t *order)
{
    TM_ENSURE(in->n_headers <= TM_SIGV4_MAX_HEADERS, TM_ERR_TOO_LARGE, "sigv4: more than %d headers",
              TM_SIGV4_MAX_HEADERS);
    for (size_t i = 0; i < in->n_headers; i++) {
        TM_TRY(check_header_name(in->headers[i].name));
        TM_ENSURE(in->headers[i].value, TM_ERR_INVALID, "sigv4: header %s has no value", in->headers[i].name);
        order[i] = i;
        for (size_t j = i; j > 0 && name_cmp(in->headers[order[j - 1]].name, in->headers[order[j]].name) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    }
    return TM_OK;
}

/* "name:v1,v2\n" lines into `w`, "name;name2" into `sh`. */
static tm_status put_headers(tm_writer *w, tm_writer *sh, const tm_sigv4_input *in)
{
    size_t order[TM_SIGV4_MAX_HEADERS];
    TM_TRY(sort_headers(in, order));
    for (size_t k = 0; k < in->n_headers; k++) {
        const tm_http_header *h = &in->headers[order[k]];
        bool same = k > 0 && name_cmp(in->headers[order[k - 1]].name, h->name) == 0;
        if (same) {
            TM_TRY(put_char(w, ','));
        } else {
            if (k > 0) TM_TRY(put_char(w, '\n'));
            TM_TRY(put_lower(w, h->name));
            TM_TRY(put_char(w, ':'));
            if (sh->len) TM_TRY(put_char(sh, ';'));
            TM_TRY(put_lower(sh, h->name));
        }
        TM_TRY(put_value(w, h->value));
    }
    if (in->n_headers) TM_TRY(put_char(w, '\n'));
    return finish(sh);
}

static void sha256_hex(const uint8_t *data, size_t len, char hex[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

tm_status tm_sigv4_canonical_request(const tm_sigv4_input *in, char *out, size_t cap,
                                     char *signed_headers, size_t sh_cap)
{
    TM_ENSURE(in->method && *in->method, TM_ERR_INVALID, "sigv4: no method");
    tm_writer w = tm_writer_init(out, cap);
    tm_writer sh = tm_writer_init(signed_headers, sh_cap);
    char body_hash[65];
    sha256_hex(in->body ? in->body : (const uint8_t *)"", in->body_len, body_hash);
    TM_TRY(put_str(&w, in->method));
    TM_TRY(put_char(&w, '\n'));
    TM_TRY(put_uri(&w, in->path));
    TM_TRY(put_char(&w, '\n'));
    TM_TRY(put_query(&w, in->query));
    TM_TRY(put_char(&w, '\n'));
    TM_TRY(put_headers(&w, &sh, in));
    TM_TRY(put_char(&w, '\n'));
    TM_TRY(put_str(&w, signed_headers));
    TM_TRY(put_char(&w, '\n'));
    TM_TRY(put_str(&w, body_hash));
    return finish(&w);
}

static tm_status check_scope_part(const char *what, const char *s)
{
    TM_ENSURE(s && *s, TM_ERR_INVALID, "sigv4: no %s", what);
    TM_ENSURE(strlen(s) < 64, TM_ERR_INVALID, "sigv4: %s too long", what);
    for (const char *p = s; *p; p++)
        TM_ENSURE(isalnum((unsigned char)*p) || *p == '-' || *p == '_', TM_ERR_INVALID,
                  "sigv4: %s \"%s\" has a forbidden character", what, s);
    return TM_OK;
}

tm_status tm_sigv4_string_to_sign(const tm_sigv4_input *in, const char *canonical_request,
                                  char *out, size_t cap)
{
    time_t t;
    TM_TRY(tm_sigv4_parse_date(in->amz_date ? in->amz_date : "", &t));
    TM_TRY(check_scope_part("region", in->region));
    TM_TRY(check_scope_part("service", in->service));
    char hash[65];
    sha256_hex((const uint8_t *)canonical_request, strlen(canonical_request), hash);
    int n = snprintf(out, cap, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", in->amz_date,
                     in->amz_date, in->region, in->service, hash);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "sigv4: string to sign over %zu bytes", cap);
    return TM_OK;
}

static void hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

tm_status tm_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                               const char *service, uint8_t out[32])
{
    enum { SECRET_MAX = 256 };
    uint8_t k[4 + SECRET_MAX];
    size_t slen = secret ? strlen(secret) : 0;
    TM_ENSURE(slen > 0 && slen <= SECRET_MAX, TM_ERR_INVALID, "sigv4: secret access key empty or too long");
    TM_ENSURE(date8 && strlen(date8) == 8, TM_ERR_INVALID, "sigv4: scope date is not YYYYMMDD");
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): k is the HMAC key "AWS4" || secret
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, slen); // NOLINT(bugprone-not-null-terminated-result): bytes, not a string
    uint8_t a[32], b[32];
    hmac(k, 4 + slen, date8, a);
    hmac(a, 32, region, b);
    hmac(b, 32, service, a);
    hmac(a, 32, "aws4_request", out);
    sodium_memzero(k, sizeof(k));
    sodium_memzero(a, sizeof(a));
    sodium_memzero(b, sizeof(b));
    return TM_OK;
}

tm_status tm_sigv4_signature(const tm_sigv4_input *in, const char *secret, char sig_hex[65],
                             char *signed_headers, size_t sh_cap)
{
    char creq[TM_SIGV4_CANONICAL_MAX], sts[1024];
    uint8_t key[32], sig[32];
    char date8[9] = {0};
    TM_TRY(tm_sigv4_canonical_request(in, creq, sizeof(creq), signed_headers, sh_cap));
    TM_TRY(tm_sigv4_string_to_sign(in, creq, sts, sizeof(sts)));
    memcpy(date8, in->amz_date, 8);
    TM_TRY(tm_sigv4_signing_key(secret, date8, in->region, in->service, key));
    crypto_auth_hmacsha256(sig, (const uint8_t *)sts, strlen(sts), key);
    sodium_memzero(key, sizeof(key));
    sodium_bin2hex(sig_hex, 65, sig, sizeof(sig));
    return TM_OK;
}

tm_status tm_sigv4_format_date(time_t t, char out[TM_SIGV4_DATE_LEN + 1])
{
    struct tm tm;
    TM_ENSURE(gmtime_r(&t, &tm), TM_ERR_INVALID, "sigv4: time %lld out of range", (long long)t);
    TM_ENSURE(strftime(out, TM_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) == TM_SIGV4_DATE_LEN, TM_ERR_INVALID,
              "sigv4: time %lld out of range", (long long)t);
    return TM_OK;
}

tm_status tm_sigv4_parse_date(const char *s, time_t *out)
{
    TM_ENSURE(strlen(s) == TM_SIGV4_DATE_LEN && s[8] == 'T' && s[15] == 'Z', TM_ERR_INVALID,
              "sigv4: date \"%.32s\" is not YYYYMMDDTHHMMSSZ", s);
    for (int i = 0; i < 15; i++)
        TM_ENSURE(i == 8 || isdigit((unsigned char)s[i]), TM_ERR_INVALID, "sigv4: date \"%s\" is not YYYYMMDDTHHMMSSZ", s);
    struct tm tm = {0};
    char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    TM_ENSURE(end && *end == '\0', TM_ERR_INVALID, "sigv4: date \"%s\" is not a valid time", s);
    *out = timegm(&tm);
    return TM_OK;
}

tm_status tm_sigv4_sign(const tm_sigv4_input *in, const char *access_key_id,
                        const char *secret_access_key, const char *session_token, time_t now,
                        tm_sigv4_signed *out)
{
    tm_http_header hs[TM_SIGV4_MAX_HEADERS];
    bool token = session_token && *session_token;
    TM_ENSURE(in->n_headers + 2 <= TM_SIGV4_MAX_HEADERS, TM_ERR_TOO_LARGE, "sigv4: too many headers");
    TM_ENSURE(access_key_id && *access_key_id && !strpbrk(access_key_id, "/, "), TM_ERR_INVALID,
              "sigv4: access key id empty or with a forbidden character");
    TM_TRY(tm_sigv4_format_date(now, out->amz_date));
    memcpy(hs, in->headers, in->n_headers * sizeof(*hs));
    size_t n = in->n_headers;
    hs[n++] = (tm_http_header){"x-amz-date", out->amz_date};
    if (token) hs[n++] = (tm_http_header){"x-amz-security-token", session_token};
    tm_sigv4_input signed_in = *in;
    signed_in.headers = hs;
    signed_in.n_headers = n;
    signed_in.amz_date = out->amz_date;
    char sig[65], sh[TM_SIGV4_SIGNED_HEADERS_MAX];
    TM_TRY(tm_sigv4_signature(&signed_in, secret_access_key, sig, sh, sizeof(sh)));
    TM_ENSURE(strstr(sh, "host") != NULL, TM_ERR_INVALID, "sigv4: the host header must be signed");
    int len = snprintf(out->authorization, sizeof(out->authorization),
                       SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                       access_key_id, out->amz_date, in->region, in->service, sh, sig);
    TM_ENSURE(len > 0 && (size_t)len < sizeof(out->authorization), TM_ERR_TOO_LARGE,
              "sigv4: Authorization header too long");
    return TM_OK;
}

/* Copies the text after `key` up to one of `stops` (or the end) into out. */
static tm_status auth_field(const char *value, const char *key, const char *stops, char *out, size_t cap)
{
    const char *p = strstr(value, key);
    TM_ENSURE(p, TM_ERR_INVALID, "Authorization header has no %.*s", (int)strlen(key) - 1, key);
    p += strlen(key);
    size_t len = strcspn(p, stops);
    TM_ENSURE(len > 0 && len < cap, TM_ERR_INVALID, "Authorization header: %.*s empty or too long",
              (int)strlen(key) - 1, key);
    memcpy(out, p, len);
    out[len] = '\0';
    return TM_OK;
}

/* Splits "AKID/DATE/REGION/SERVICE/aws4_request" into `out`. */
static tm_status parse_credential(const char *cred, tm_sigv4_auth *out)
{
    char *parts[5] = {out->access_key_id, out->date8, out->region, out->service, NULL};
    const size_t caps[4] = {sizeof(out->access_key_id), sizeof(out->date8), sizeof(out->region), sizeof(out->service)};
    const char *p = cred;
    for (int i = 0; i < 4; i++) {
        const char *slash = strchr(p, '/');
        TM_ENSURE(slash, TM_ERR_INVALID, "Authorization header: Credential is not AKID/DATE/REGION/SERVICE/aws4_request");
        size_t len = (size_t)(slash - p);
        TM_ENSURE(len > 0 && len < caps[i], TM_ERR_INVALID, "Authorization header: Credential part %d empty or too long", i + 1);
        memcpy(parts[i], p, len);
        parts[i][len] = '\0';
        p = slash + 1;
    }
    TM_ENSURE(strcmp(p, "aws4_request") == 0, TM_ERR_INVALID, "Authorization header: Credential does not end in aws4_request");
    TM_ENSURE(strlen(out->date8) == 8, TM_ERR_INVALID, "Authorization header: Credential date is not YYYYMMDD");
    return TM_OK;
}

tm_status tm_sigv4_parse_authorization(const char *value, tm_sigv4_auth *out)
{
    char cred[512];
    memset(out, 0, sizeof(*out));
    TM_ENSURE(value && strncmp(value, SIGV4_ALGORITHM " ", strlen(SIGV4_ALGORITHM) + 1) == 0, TM_ERR_INVALID,
              "Authorization header is not " SIGV4_ALGORITHM);
    TM_TRY(auth_field(value, "Credential=", ", ", cred, sizeof(cred)));
    TM_TRY(parse_credential(cred, out));
    TM_TRY(auth_field(value, "SignedHeaders=", ", ", out->signed_headers, sizeof(out->signed_headers)));
    TM_TRY(auth_field(value, "Signature=", ", ", out->signature, sizeof(out->signature)));
    TM_ENSURE(strlen(out->signature) == 64 && strspn(out->signature, "0123456789abcdef") == 64, TM_ERR_INVALID,
              "Authorization header: Signature is not 64 lower-case hex digits");
    return TM_OK;
}
