/* libcurl exchanges. See http.h. */
#include "tmkms/aws/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_RESPONSE (256u * 1024u)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct {
    const tm_http_request *req;
    tm_http_response *resp;
    size_t max;
    bool too_large;
    bool alloc_failed;
} exchange;

static void *body_alloc(bool secure, size_t n)
{
    return secure ? sodium_malloc(n) : malloc(n);
}

static void body_free(bool secure, void *p, size_t cap)
{
    if (!p) return;
    if (secure) {
        sodium_free(p);
    } else {
        sodium_memzero(p, cap);
        free(p);
    }
}

static bool body_grow(tm_http_response *r, size_t need)
{
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *p = body_alloc(r->secure, cap);
    if (!p) return false;
    if (r->body) memcpy(p, r->body, r->len); /* len is 0 until the first body_grow */
    body_free(r->secure, r->body, r->cap);
    r->body = p;
    r->cap = cap;
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    exchange *x = ud;
    tm_http_response *r = x->resp;
    size_t n = size * nmemb;
    if (n > x->max - r->len) {
        x->too_large = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap && !body_grow(r, r->len + n + 1)) {
        x->alloc_failed = true;
        return 0;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    exchange *x = ud;
    size_t n = size * nmemb;
    static const char name[] = "x-amzn-errortype:";
    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t len = n - (sizeof(name) - 1);
        while (len && (*v == ' ' || *v == '\t')) v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
        char *out = x->resp->amzn_error_type;
        if (len >= sizeof(x->resp->amzn_error_type)) len = sizeof(x->resp->amzn_error_type) - 1;
        memcpy(out, v, len);
        out[len] = '\0';
    }
    return n;
}

/* ---- connect via: a relay ----
 * libcurl 7.88 (Debian 12) ignores CURL_SOCKOPT_ALREADY_CONNECTED (curl issue 10626), so an
 * already-connected stream cannot be handed to it. Instead curl connects to a private
 * abstract Unix socket and a relay thread copies bytes between that connection and the
 * hook's stream (vsock in the enclave). curl still speaks TLS to the URL's host name and
 * checks its certificate: the relay only carries ciphertext. */

typedef struct {
    int listen_fd;
    int remote_fd;
    long timeout_ms;
    pthread_t thread;
    bool started;
} relay;

static bool pump(int from, int to)
{
    uint8_t buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += w;
    }
    return true;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    struct pollfd lp = {r->listen_fd, POLLIN, 0};
    int local = poll(&lp, 1, (int)r->timeout_ms) == 1 && (lp.revents & POLLIN) ? accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC) : -1;
    while (local >= 0) {
        struct pollfd p[2] = {{local, POLLIN, 0}, {r->remote_fd, POLLIN, 0}};
        if (poll(p, 2, (int)r->timeout_ms) <= 0) break;
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(local, r->remote_fd)) break;
        if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(r->remote_fd, local)) break;
    }
    if (local >= 0) close(local);
    return NULL;
}

static tm_status relay_start(relay *r, const tm_http_request *req, char *name, size_t cap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint8_t rnd[12];
    char hex[25];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    int n = snprintf(name, cap, "tmkms-kms-%ld-%s", (long)getpid(), hex);
    TM_ENSURE(n > 0 && (size_t)n < cap && (size_t)n < sizeof(sa.sun_path) - 1, TM_ERR_INVALID, "http: relay name too long");
    memcpy(sa.sun_path + 1, name, (size_t)n); /* abstract: leading NUL */
    r->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->remote_fd = req->connect(req->connect_ctx);
    TM_ENSURE(r->remote_fd >= 0, TM_ERR_IO, "%s %s: connect via hook failed: %s", req->method, req->url, strerror(errno));
    r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    TM_ENSURE(r->listen_fd >= 0 && bind(r->listen_fd, (struct sockaddr *)&sa, len) == 0 && listen(r->listen_fd, 1) == 0,
              TM_ERR_IO, "http: relay socket: %s", strerror(errno));
    TM_ENSURE(pthread_create(&r->thread, NULL, relay_main, r) == 0, TM_ERR_IO, "http: cannot start the relay thread");
    r->started = true;
    return TM_OK;
}

static void relay_stop(relay *r)
{
    if (r->listen_fd >= 0) shutdown(r->listen_fd, SHUT_RDWR);
    if (r->remote_fd >= 0) shutdown(r->remote_fd, SHUT_RDWR);
    if (r->started) pthread_join(r->thread, NULL);
    if (r->listen_fd >= 0) close(r->listen_fd);
    if (r->remote_fd >= 0) close(r->remote_fd);
    r->listen_fd = r->remote_fd = -1;
    r->started = false;
}

static tm_status set_connect_via(CURL *c, const tm_http_request *req, relay *r)
{
    char name[80];
    if (!req->connect) return TM_OK;
    TM_TRY(relay_start(r, req, name, sizeof(name)));
    curl_easy_setopt(c, CURLOPT_ABSTRACT_UNIX_SOCKET, name); /* curl copies the string */
    return TM_OK;
}

static tm_status set_options(CURL *c, const tm_http_request *req, exchange *x, struct curl_slist *hdrs)
{
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (req->ca_bundle) curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_bundle);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    return TM_OK;
}

static tm_status build_headers(const tm_http_request *req, struct curl_slist **out)
{
    struct curl_slist *list = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; list && i < req->n_headers; i++) {
        struct curl_slist *next = curl_slist_append(list, req->headers[i]);
        if (!next) {
            curl_slist_free_all(list);
            list = NULL;
        }
        list = next;
    }
    TM_ENSURE(list, TM_ERR_NOMEM, "http: out of memory for headers");
    *out = list;
    return TM_OK;
}

static tm_status transport_error(const exchange *x, CURLcode rc, const char *errbuf)
{
    if (x->too_large)
        return tm_err_set(TM_ERR_TOO_LARGE, "%s %s: response body over %zu bytes", x->req->method, x->req->url, x->max);
    if (x->alloc_failed) return tm_err_set(TM_ERR_NOMEM, "%s %s: out of memory", x->req->method, x->req->url);
    tm_status st = rc == CURLE_OPERATION_TIMEDOUT ? TM_ERR_TIMEOUT : TM_ERR_IO;
    return tm_err_set(st, "%s %s: %s", x->req->method, x->req->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

tm_status tm_http_perform(const tm_http_request *req, tm_http_response *resp)
{
    tm_status status = TM_OK;
    struct curl_slist *hdrs = NULL;
    relay r = {-1, -1, 0, 0, false};
    char errbuf[CURL_ERROR_SIZE] = {0};
    memset(resp, 0, sizeof(*resp));
    resp->secure = req->secure_body;
    exchange x = {req, resp, req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE, false, false};
    pthread_once(&curl_once, curl_init);
    TM_ENSURE(curl_init_rc == CURLE_OK, TM_ERR_IO, "http: curl_global_init failed");
    TM_ENSURE(req->n_headers <= TM_HTTP_MAX_HEADERS, TM_ERR_TOO_LARGE, "http: too many headers");
    CURL *c = curl_easy_init();
    TM_ENSURE(c, TM_ERR_NOMEM, "http: curl_easy_init failed");
    TM_TRY_GOTO(build_headers(req, &hdrs));
    TM_TRY_GOTO(set_options(c, req, &x, hdrs));
    TM_TRY_GOTO(set_connect_via(c, req, &r));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        status = transport_error(&x, rc, errbuf);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!resp->body) TM_ENSURE_GOTO(body_grow(resp, 1), TM_ERR_NOMEM, "http: out of memory");
    resp->body[resp->len] = '\0';
out:
    if (status != TM_OK) tm_http_response_free(resp);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    relay_stop(&r);
    return status;
}

void tm_http_response_free(tm_http_response *resp)
{
    body_free(resp->secure, resp->body, resp->cap);
    resp->body = NULL;
    resp->len = resp->cap = 0;
}
