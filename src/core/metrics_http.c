/* The metrics endpoint (tmkms/metrics.h): libmicrohttpd with its own polling thread on one
 * address. GET/HEAD /metrics answers the exposition; other paths 404, other methods 405.
 *
 * SIGPIPE: libmicrohttpd sends with MSG_NOSIGNAL on Linux (MHD_FEATURE_AUTOSUPPRESS_SIGPIPE),
 * so a client closing early cannot raise it; the programs ignore SIGPIPE as well. Checked
 * at start. */
#include "tmkms/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tmkms/log.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MAX_CONNECTIONS 16
#define TIMEOUT_SECONDS 10

struct tm_metrics_server {
    tm_metrics *metrics;
    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic bool started; /* before: MHD's messages are kept in start_error */
    char start_error[256];
};

/* The port of an AF_INET or AF_INET6 address, host order. */
static uint16_t sockaddr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, ss, sizeof sin6);
        return ntohs(sin6.sin6_port);
    }
    struct sockaddr_in sin;
    memcpy(&sin, ss, sizeof sin);
    return ntohs(sin.sin_port);
}

/* MHD's messages: kept (the first one) while starting, so that a failed start can say why;
 * logged as warnings afterwards. */
static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    tm_metrics_server *server = cls;
    char line[256];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n <= 0) return;
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) {
        line[--len] = '\0';
    }
    if (!server->started) {
        if (server->start_error[0] == '\0')
            (void)snprintf(server->start_error, sizeof server->start_error, "%s", line);
        return;
    }
    tm_log_warn("metrics", "http: %s", line);
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned int code, const char *text,
                                  const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return MHD_NO;
    enum MHD_Result ok =
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (ok == MHD_YES && allow != NULL) ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES) ok = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    tm_metrics_server *server = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    const bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    const bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && !head)
        return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n", "GET, HEAD");
    if (strcmp(url, "/metrics") != 0) return queue_text(conn, MHD_HTTP_NOT_FOUND, "Not Found\n", NULL);

    char *body = NULL;
    size_t len = 0;
    if (tm_metrics_render(server->metrics, &body, &len) != TM_OK) {
        tm_log_warn("metrics", "rendering failed: %s", tm_err_msg());
        return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal Server Error\n", NULL);
    }
    /* MHD frees the body with free(); for HEAD it sends the headers (Content-Length too) only. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    if (ok == MHD_YES) ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

tm_status tm_metrics_server_start(tm_metrics *metrics, const char *addr, tm_metrics_server **out)
{
    tm_status status = TM_OK;
    tm_metrics_server *server = NULL;
    struct sockaddr_storage ss;
    TM_ENSURE(out != NULL, TM_ERR_INVALID, "metrics server: no output");
    *out = NULL;
    TM_ENSURE(metrics != NULL, TM_ERR_INVALID, "metrics server: no registry");
    TM_TRY(tm_metrics_parse_addr(addr, &ss));
    TM_ENSURE(MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) == MHD_YES, TM_ERR_INVALID,
              "metrics server: this libmicrohttpd does not suppress SIGPIPE");

    server = calloc(1, sizeof *server);
    TM_ENSURE_GOTO(server != NULL, TM_ERR_NOMEM, "metrics server: out of memory");
    server->metrics = metrics;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    const uint16_t want_port = sockaddr_port(&ss);
    errno = 0;
    server->daemon =
        MHD_start_daemon(flags, want_port, NULL, NULL, handle, server,
                         /* first, so that every message goes through it */
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, server, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)TIMEOUT_SECONDS, MHD_OPTION_END);
    const int err = errno;
    TM_ENSURE_GOTO(server->daemon != NULL, TM_ERR_IO, "metrics server: cannot listen on %s: %s", addr,
                   server->start_error[0] != '\0' ? server->start_error
                   : err != 0                     ? strerror(err)
                                                  : "libmicrohttpd did not start");
    server->started = true; /* the polling thread may log from now on: MHD_start_daemon returned */

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info != NULL ? info->port : 0;
    if (server->port == 0) {
        const union MHD_DaemonInfo *fd_info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_storage bound = {0};
        socklen_t bound_len = sizeof bound;
        TM_ENSURE_GOTO(fd_info != NULL &&
                           getsockname(fd_info->listen_fd, (struct sockaddr *)&bound, &bound_len) == 0,
                       TM_ERR_IO, "metrics server on %s: cannot read the bound port", addr);
        server->port = sockaddr_port(&bound);
    }
    const char *port_colon = strrchr(addr, ':'); /* parsed: HOST:PORT; the port as bound (":0" picks one) */
    tm_log_info("metrics", "Prometheus metrics on http://%.*s:%u/metrics", (int)(port_colon - addr), addr,
                (unsigned)server->port);
    if (!is_loopback(&ss))
        tm_log_warn("metrics", "%s is not a loopback address: anyone who reaches it reads the metrics", addr);
    *out = server;
    server = NULL;
out:
    tm_metrics_server_stop(server);
    return status;
}

uint16_t tm_metrics_server_port(const tm_metrics_server *server)
{
    return server != NULL ? server->port : 0;
}

void tm_metrics_server_stop(tm_metrics_server *server)
{
    if (server == NULL) return;
    if (server->daemon != NULL) MHD_stop_daemon(server->daemon);
    free(server);
}
