/* The etcd v3 client: options, the connection pool, one exchange with failover, and the
 * three calls. See etcd.h; the answers are parsed in etcd_parse.c. */
#include "tmkms/ha/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/clock.h"

#define DEFAULT_TIMEOUT_MS 1000L
#define MAX_URL 256
/* Idle handles kept open; more may exist while many calls run at once. */
#define POOL_KEEP 8
/* An endpoint gets at least this much of the budget to connect, when there is that much. */
#define MIN_CONNECT_MS 200L
#define FAILURES_CAP 1024

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One easy handle with its own connection cache (libcurl keeps a connection open per
 * handle and host), its headers and its answer buffer. */
typedef struct conn {
    CURL *curl;
    struct curl_slist *headers;
    char *body; /* TM_ETCD_MAX_BODY + 1 */
    size_t len;
    bool too_large;
    char curl_error[CURL_ERROR_SIZE];
    struct conn *next;
} conn;

struct tm_etcd {
    char *endpoints[TM_ETCD_MAX_ENDPOINTS];
    size_t n_endpoints;
    char *ca_file, *cert_file, *key_file;
    long timeout_ms;
    atomic_size_t current; /* the endpoint that answered last */
    pthread_mutex_t lock;  /* guards idle and n_idle */
    conn *idle;
    size_t n_idle;
};

/* ---- options ---- */

static tm_status check_url(const char *url)
{
    size_t n = strnlen(url, MAX_URL);
    const char *host = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    TM_ENSURE(n < MAX_URL, TM_ERR_CONFIG, "etcd endpoint longer than %d characters", MAX_URL - 1);
    TM_ENSURE(host != NULL, TM_ERR_CONFIG, "etcd endpoint %s: not an http:// or https:// URL", url);
    TM_ENSURE(*host != '\0' && *host != '/', TM_ERR_CONFIG, "etcd endpoint %s: no host", url);
    /* host[:port] only (one trailing '/' allowed): we append the API paths ourselves. */
    for (const char *p = host; *p; p++) {
        bool trailing_slash = *p == '/' && p[1] == '\0';
        TM_ENSURE(*p > ' ' && *p < 0x7f && !strchr("?#@\\", *p) && (*p != '/' || trailing_slash),
                  TM_ERR_CONFIG, "etcd endpoint %s: only scheme://host:port is allowed", url);
    }
    return TM_OK;
}

/* Opens `path` (O_NONBLOCK: a FIFO planted there must not hang us) and stats it. */
static tm_status check_readable(const char *path, const char *what, struct stat *st)
{
    tm_status status = TM_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return tm_err_set(TM_ERR_NOT_FOUND, "etcd %s %s does not exist", what, path);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "etcd %s %s: cannot open: %s", what, path, strerror(errno));
    TM_ENSURE_GOTO(fstat(fd, st) == 0, TM_ERR_IO, "etcd %s %s: cannot stat: %s", what, path, strerror(errno));
    TM_ENSURE_GOTO(S_ISREG(st->st_mode), TM_ERR_INVALID, "etcd %s %s is not a regular file", what, path);
out:
    close(fd);
    return status;
}

/* As for our own keys (keyfile.c): a private key others can read is refused. */
static tm_status check_key_file(const char *path)
{
    struct stat st = {0};
    TM_TRY(check_readable(path, "key file", &st));
    unsigned mode = (unsigned)(st.st_mode & 07777);
    TM_ENSURE((mode & (S_IRWXG | S_IRWXO)) == 0, TM_ERR_PERMISSION,
              "etcd key file %s is accessible by group/others (mode %04o); run chmod 600 %s", path, mode,
              path);
    return TM_OK;
}

static tm_status check_options(const tm_etcd_options *o)
{
    TM_ENSURE(o->n_endpoints >= 1 && o->n_endpoints <= TM_ETCD_MAX_ENDPOINTS, TM_ERR_CONFIG,
              "etcd: %zu endpoints; between 1 and %d are needed", o->n_endpoints, TM_ETCD_MAX_ENDPOINTS);
    for (size_t i = 0; i < o->n_endpoints; i++) {
        TM_ENSURE(o->endpoints[i] != NULL, TM_ERR_CONFIG, "etcd: endpoint %zu missing", i);
        TM_TRY(check_url(o->endpoints[i]));
    }
    TM_ENSURE(o->timeout_ms >= 0 && o->timeout_ms <= 600000, TM_ERR_CONFIG,
              "etcd: timeout %ld ms out of range", o->timeout_ms);
    TM_ENSURE(!o->key_file || o->cert_file, TM_ERR_CONFIG, "etcd: a key file without a certificate file");
    struct stat st;
    if (o->ca_file) TM_TRY(check_readable(o->ca_file, "CA file", &st));
    if (o->cert_file) TM_TRY(check_readable(o->cert_file, "certificate file", &st));
    if (o->key_file) TM_TRY(check_key_file(o->key_file));
    return TM_OK;
}

static tm_status dup_str(const char *s, char **out)
{
    *out = NULL;
    if (!s) return TM_OK;
    *out = strdup(s);
    TM_ENSURE(*out != NULL, TM_ERR_NOMEM, "etcd: out of memory");
    return TM_OK;
}

static tm_status copy_options(tm_etcd *e, const tm_etcd_options *o)
{
    for (size_t i = 0; i < o->n_endpoints; i++) {
        TM_ENSURE(o->endpoints[i] != NULL, TM_ERR_CONFIG, "etcd: endpoint %zu missing", i);
        TM_TRY(dup_str(o->endpoints[i], &e->endpoints[i]));
        e->n_endpoints = i + 1;
        size_t n = strlen(e->endpoints[i]);
        if (e->endpoints[i][n - 1] == '/') e->endpoints[i][n - 1] = '\0';
    }
    TM_TRY(dup_str(o->ca_file, &e->ca_file));
    TM_TRY(dup_str(o->cert_file, &e->cert_file));
    TM_TRY(dup_str(o->key_file, &e->key_file));
    e->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    return TM_OK;
}

tm_status tm_etcd_open(const tm_etcd_options *options, tm_etcd **out)
{
    tm_status status = TM_OK;
    *out = NULL;
    TM_TRY(check_options(options));
    pthread_once(&curl_once, curl_init);
    TM_ENSURE(curl_init_rc == CURLE_OK, TM_ERR_IO, "etcd: curl_global_init failed");
    tm_etcd *e = calloc(1, sizeof(*e));
    TM_ENSURE(e != NULL, TM_ERR_NOMEM, "etcd: out of memory");
    atomic_init(&e->current, 0);
    TM_ENSURE_GOTO(pthread_mutex_init(&e->lock, NULL) == 0, TM_ERR_NOMEM, "etcd: mutex");
    TM_TRY_GOTO(copy_options(e, options));
    *out = e;
    e = NULL;
out:
    if (e) tm_etcd_close(e);
    return status;
}

/* ---- the pool ---- */

static void conn_free(conn *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->body);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    conn *c = ud;
    size_t n = size * nmemb;
    if (n > TM_ETCD_MAX_BODY - c->len) {
        c->too_large = true;
        return 0; /* curl aborts the transfer */
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    c->body[c->len] = '\0';
    return n;
}

/* Options that never change for a handle. */
static void conn_setup(const tm_etcd *e, conn *c)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* HTTP/1.1: etcd serves gRPC over HTTP/2 on the same port; the gateway is plain HTTP. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)e->n_endpoints);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (e->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    if (e->cert_file) curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
    if (e->key_file) curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
}

static tm_status conn_new(const tm_etcd *e, conn **out)
{
    tm_status status = TM_OK;
    conn *c = calloc(1, sizeof(*c));
    TM_ENSURE(c != NULL, TM_ERR_NOMEM, "etcd: out of memory");
    c->body = malloc(TM_ETCD_MAX_BODY + 1);
    c->curl = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* "Expect:" off: curl would otherwise wait for 100-continue before a body over 1 KiB. */
    bool headers_ok = c->headers && curl_slist_append(c->headers, "Expect:");
    TM_ENSURE_GOTO(c->body && c->curl && headers_ok, TM_ERR_NOMEM, "etcd: cannot allocate a curl handle");
    conn_setup(e, c);
    *out = c;
    c = NULL;
out:
    conn_free(c);
    return status;
}

static tm_status pool_take(tm_etcd *e, conn **out)
{
    pthread_mutex_lock(&e->lock);
    conn *c = e->idle;
    if (c) {
        e->idle = c->next;
        e->n_idle--;
    }
    pthread_mutex_unlock(&e->lock);
    if (c) {
        *out = c;
        return TM_OK;
    }
    return conn_new(e, out);
}

static void pool_give(tm_etcd *e, conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&e->lock);
    bool keep = e->n_idle < POOL_KEEP;
    if (keep) {
        c->next = e->idle;
        e->idle = c;
        e->n_idle++;
    }
    pthread_mutex_unlock(&e->lock);
    if (!keep) conn_free(c);
}

void tm_etcd_close(tm_etcd *e)
{
    if (!e) return;
    while (e->idle) {
        conn *c = e->idle;
        e->idle = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&e->lock);
    for (size_t i = 0; i < e->n_endpoints; i++)
        free(e->endpoints[i]);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    free(e);
}

size_t tm_etcd_endpoint_count(const tm_etcd *e)
{
    return e->n_endpoints;
}

const char *tm_etcd_endpoint(const tm_etcd *e, size_t i)
{
    return i < e->n_endpoints ? e->endpoints[i] : NULL;
}

/* ---- one exchange ---- */

typedef enum {
    ATTEMPT_OK,    /* a 200 answer is in c->body */
    ATTEMPT_RETRY, /* this endpoint could not answer now: try the next one */
    ATTEMPT_FATAL, /* an answer that another endpoint would give as well */
} attempt_result;

typedef struct {
    char why[320];     /* what went wrong, for the error message */
    tm_status refusal; /* the status of an ATTEMPT_FATAL */
} attempt_info;

/* gRPC codes for "not now, maybe elsewhere": DeadlineExceeded, ResourceExhausted, Unavailable. */
static bool retryable(long http, int code)
{
    return http >= 500 || code == 4 || code == 8 || code == 14;
}

/* Classify a non-200 answer; info->why gets the endpoint's explanation. */
static attempt_result http_error(conn *c, long http, attempt_info *info)
{
    int code;
    char msg[160];
    tm_etcd_parse_error(c->body, c->len, &code, msg, sizeof(msg));
    snprintf(info->why, sizeof(info->why), "HTTP %ld, code %d: %s", http, code, msg);
    info->refusal = TM_ERR_REFUSED;
    return retryable(http, code) ? ATTEMPT_RETRY : ATTEMPT_FATAL;
}

static attempt_result attempt(tm_etcd *e, conn *c, size_t ep, const char *path, const char *req,
                              long budget_ms, long connect_ms, attempt_info *info)
{
    char url[MAX_URL + 32];
    long http = 0;
    snprintf(url, sizeof(url), "%s%s", e->endpoints[ep], path);
    c->len = 0;
    c->body[0] = '\0';
    c->too_large = false;
    c->curl_error[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(req));
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, budget_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    CURLcode rc = curl_easy_perform(c->curl);
    if (c->too_large) {
        snprintf(info->why, sizeof(info->why), "answer longer than %u bytes", (unsigned)TM_ETCD_MAX_BODY);
        info->refusal = TM_ERR_CORRUPT;
        return ATTEMPT_FATAL;
    }
    if (rc != CURLE_OK) {
        snprintf(info->why, sizeof(info->why), "%s",
                 c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
        return ATTEMPT_RETRY;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
    if (http != 200) return http_error(c, http, info);
    return ATTEMPT_OK;
}

/* Append "url: why" to the call's list of failures. */
static void note_failure(char *fails, size_t cap, const char *url, const char *why)
{
    size_t n = strnlen(fails, cap);
    if (n + 1 < cap) snprintf(fails + n, cap - n, "%s%s: %s", n ? "; " : "", url, why);
}

/* Send `req` to `tries` endpoints from `first` on, each at most once and all within the
 * call's budget. On TM_OK, c->body holds the answer and *ep its sender. */
static tm_status exchange(tm_etcd *e, conn *c, const char *path, const char *req, size_t first, size_t tries,
                          size_t *ep)
{
    char fails[FAILURES_CAP] = "";
    attempt_info info;
    long deadline = (long)tm_monotonic_ms() + e->timeout_ms;
    for (size_t k = 0; k < tries; k++) {
        size_t i = (first + k) % e->n_endpoints;
        long left = deadline - (long)tm_monotonic_ms();
        if (left <= 0) {
            note_failure(fails, sizeof(fails), e->endpoints[i], "not tried, no time left");
            break;
        }
        /* A silent endpoint must not take the whole budget from the ones after it. */
        long share = left / (long)(tries - k);
        long connect_ms = share > MIN_CONNECT_MS ? share : (left < MIN_CONNECT_MS ? left : MIN_CONNECT_MS);
        attempt_result r = attempt(e, c, i, path, req, left, connect_ms, &info);
        if (r == ATTEMPT_OK) {
            *ep = i;
            return TM_OK;
        }
        if (r == ATTEMPT_FATAL)
            return tm_err_set(info.refusal, "etcd %s%s: %s", e->endpoints[i], path, info.why);
        note_failure(fails, sizeof(fails), e->endpoints[i], info.why);
    }
    return tm_err_set(TM_ERR_UNAVAILABLE, "etcd %s: no endpoint answered within %ld ms: %s", path,
                      e->timeout_ms, fails);
}

/* ---- requests ---- */

static tm_status b64(const uint8_t *bin, size_t len, char **out)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    *out = malloc(cap);
    TM_ENSURE(*out != NULL, TM_ERR_NOMEM, "etcd: out of memory");
    sodium_bin2base64(*out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
    return TM_OK;
}

static tm_status check_key(const char *key)
{
    TM_ENSURE(key != NULL && key[0] != '\0', TM_ERR_INVALID, "etcd: empty key");
    size_t n = strnlen(key, TM_ETCD_MAX_KEY + 1);
    TM_ENSURE(n <= TM_ETCD_MAX_KEY, TM_ERR_INVALID, "etcd: key longer than %d bytes", TM_ETCD_MAX_KEY);
    return TM_OK;
}

/* Serialize `j` (which this consumes) compactly. */
static tm_status dump(json_t *j, char **out)
{
    *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    TM_ENSURE(*out != NULL, TM_ERR_NOMEM, "etcd: cannot build a request");
    return TM_OK;
}

static tm_status range_request(const char *key, char **out)
{
    char *k;
    TM_TRY(b64((const uint8_t *)key, strlen(key), &k));
    tm_status status = dump(json_pack("{s:s}", "key", k), out);
    free(k);
    return status;
}

/* compare mod_revision == expected; success: put; failure: range (what won). */
static tm_status txn_request(const char *key, int64_t expected, const uint8_t *value, size_t len, char **out)
{
    tm_status status = TM_OK;
    char *k = NULL, *v = NULL, rev[24];
    snprintf(rev, sizeof(rev), "%lld", (long long)expected);
    TM_TRY_GOTO(b64((const uint8_t *)key, strlen(key), &k));
    TM_TRY_GOTO(b64(value, len, &v));
    json_t *j = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[{s:{s:s,s:s}}],s:[{s:{s:s}}]}", "compare", "key", k,
                          "result", "EQUAL", "target", "MOD", "mod_revision", rev, "success", "request_put",
                          "key", k, "value", v, "failure", "request_range", "key", k);
    TM_TRY_GOTO(dump(j, out));
out:
    free(k);
    free(v);
    return status;
}

/* One request to `tries` endpoints from `first` on; `parse` gets the answer. */
typedef tm_status (*parse_fn)(const char *body, size_t len, void *ctx);

static tm_status call_endpoints(tm_etcd *e, size_t first, size_t tries, const char *path, const char *req,
                                parse_fn parse, void *ctx, size_t *answered)
{
    conn *c;
    size_t ep = 0;
    *answered = SIZE_MAX;
    TM_TRY(pool_take(e, &c));
    tm_status status = exchange(e, c, path, req, first, tries, &ep);
    if (status == TM_OK) {
        *answered = ep;
        status = parse(c->body, c->len, ctx);
        if (status != TM_OK) tm_err_prefix(status, "etcd %s%s: ", e->endpoints[ep], path);
    }
    pool_give(e, c);
    return status;
}

/* With failover, starting with the endpoint that answered last. */
static tm_status call(tm_etcd *e, const char *path, const char *req, parse_fn parse, void *ctx)
{
    size_t seen = atomic_load(&e->current), first = seen % e->n_endpoints, answered;
    tm_status status = call_endpoints(e, first, e->n_endpoints, path, req, parse, ctx, &answered);
    if (answered != SIZE_MAX)
        atomic_store(&e->current, answered);
    else if (status == TM_ERR_UNAVAILABLE)
        /* Nobody answered in time. The first endpoint may be hung rather than dead (a
         * stopped member, a network that drops packets: the connection is accepted or
         * already pooled, and only the whole budget ends the attempt), so the endpoints
         * after it were never tried; starting every call with it again would refuse every
         * signature for as long as it hangs. Start the next call with the next endpoint
         * (unless another thread moved `current` meanwhile). */
        atomic_compare_exchange_strong(&e->current, &seen, (first + 1) % e->n_endpoints);
    return status;
}

typedef struct {
    const char *key;
    tm_etcd_kv *kv;
    bool *swapped;
} parse_ctx;

static tm_status parse_range_cb(const char *body, size_t len, void *ctx)
{
    parse_ctx *p = ctx;
    return tm_etcd_parse_range(body, len, p->key, p->kv);
}

static tm_status parse_txn_cb(const char *body, size_t len, void *ctx)
{
    parse_ctx *p = ctx;
    return tm_etcd_parse_txn(body, len, p->key, p->swapped, p->kv);
}

tm_status tm_etcd_get(tm_etcd *e, const char *key, tm_etcd_kv *out)
{
    char *req = NULL;
    out->len = 0;
    out->mod_revision = 0;
    TM_TRY(check_key(key));
    TM_TRY(range_request(key, &req));
    parse_ctx p = {key, out, NULL};
    tm_status status = call(e, "/v3/kv/range", req, parse_range_cb, &p);
    free(req);
    return status;
}

tm_status tm_etcd_cas(tm_etcd *e, const char *key, int64_t expected_revision, const uint8_t *value,
                      size_t len, bool *swapped, tm_etcd_kv *current)
{
    tm_status status = TM_OK;
    char *req = NULL;
    *swapped = false;
    current->len = 0;
    current->mod_revision = 0;
    TM_TRY(check_key(key));
    TM_ENSURE(expected_revision >= 0, TM_ERR_INVALID, "etcd cas %s: expected revision %lld < 0", key,
              (long long)expected_revision);
    TM_ENSURE(len <= TM_ETCD_MAX_VALUE && (value || len == 0), TM_ERR_TOO_LARGE,
              "etcd cas %s: value of %zu bytes, at most %d", key, len, TM_ETCD_MAX_VALUE);
    TM_TRY(txn_request(key, expected_revision, value ? value : (const uint8_t *)"", len, &req));
    parse_ctx p = {key, current, swapped};
    TM_TRY_GOTO(call(e, "/v3/kv/txn", req, parse_txn_cb, &p));
    /* The failure branch reads in the same transaction as the compare: it cannot see the
     * revision the compare rejected, and a won swap cannot land at or below it. */
    TM_ENSURE_GOTO(*swapped ? current->mod_revision > expected_revision
                            : current->mod_revision != expected_revision,
                   TM_ERR_CORRUPT, "etcd cas %s: revision %lld contradicts the compare on %lld", key,
                   (long long)current->mod_revision, (long long)expected_revision);
    if (*swapped) {
        if (len) memcpy(current->value, value, len);
        current->len = len;
    }
out:
    if (status != TM_OK) {
        *swapped = false;
        current->len = 0;
        current->mod_revision = 0;
    }
    free(req);
    return status;
}

static tm_status parse_status_cb(const char *body, size_t len, void *ctx)
{
    return tm_etcd_parse_status(body, len, ctx);
}

void tm_etcd_endpoint_status(tm_etcd *e, size_t i, tm_etcd_member_status *out)
{
    memset(out, 0, sizeof(*out));
    if (i >= e->n_endpoints) {
        snprintf(out->error, sizeof(out->error), "no endpoint %zu", i);
        return;
    }
    size_t answered;
    tm_status st = call_endpoints(e, i, 1, "/v3/maintenance/status", "{}", parse_status_cb, out, &answered);
    if (st != TM_OK) {
        memset(out, 0, sizeof(*out));
        snprintf(out->error, sizeof(out->error), "%s", tm_err_msg());
    }
}
