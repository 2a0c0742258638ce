/* The plain file-descriptor connection: unix:// sockets (and, under the transports that
 * wrap it, the TCP stream below Secret Connection / Noise). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tmkms/clock.h"
#include "tmkms/conn.h"

typedef struct {
    tm_conn base;
    int fd;
    int timeout_ms;
    int64_t deadline_ms; /* CLOCK_MONOTONIC; 0: none */
} fd_conn;

/* Wait until fd is readable/writable; TM_ERR_TIMEOUT when the peer stalls or the deadline
 * passes. */
static tm_status wait_fd(const fd_conn *c, short events)
{
    if (c->timeout_ms <= 0 && c->deadline_ms == 0) return TM_OK;
    struct pollfd p = {.fd = c->fd, .events = events};
    for (;;) {
        int wait_ms = c->timeout_ms > 0 ? c->timeout_ms : -1;
        bool by_deadline = false;
        if (c->deadline_ms) {
            int64_t left = c->deadline_ms - (int64_t)tm_monotonic_ms();
            if (left < 0) left = 0;
            if (wait_ms < 0 || left < wait_ms) {
                wait_ms = (int)left;
                by_deadline = true;
            }
        }
        int n = poll(&p, 1, wait_ms);
        if (n > 0) return TM_OK;
        if (n == 0 && by_deadline) return tm_err_set(TM_ERR_TIMEOUT, "%s: handshake deadline passed", c->base.peer);
        if (n == 0) return tm_err_set(TM_ERR_TIMEOUT, "%s: no progress in %d ms", c->base.peer, c->timeout_ms);
        if (errno != EINTR) return tm_err_set(TM_ERR_IO, "%s: poll: %s", c->base.peer, strerror(errno));
    }
}

static tm_status fd_read(tm_conn *conn, void *buf, size_t cap, size_t *got)
{
    fd_conn *c = (fd_conn *)conn;
    for (;;) {
        TM_TRY(wait_fd(c, POLLIN));
        ssize_t n = read(c->fd, buf, cap);
        if (n > 0) {
            *got = (size_t)n;
            return TM_OK;
        }
        if (n == 0) return tm_err_set(TM_ERR_EOF, "%s: connection closed by peer", conn->peer);
        if (errno != EINTR && errno != EAGAIN)
            return tm_err_set(TM_ERR_IO, "%s: read: %s", conn->peer, strerror(errno));
    }
}

static tm_status fd_write_all(tm_conn *conn, const void *buf, size_t len)
{
    fd_conn *c = (fd_conn *)conn;
    const uint8_t *p = buf;
    while (len > 0) {
        TM_TRY(wait_fd(c, POLLOUT));
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return tm_err_set(TM_ERR_IO, "%s: write: %s", conn->peer, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return TM_OK;
}

static void fd_close(tm_conn *conn)
{
    fd_conn *c = (fd_conn *)conn;
    if (c->fd >= 0) close(c->fd);
    free(c);
}

static void fd_set_deadline(tm_conn *conn, int ms)
{
    fd_conn *c = (fd_conn *)conn;
    c->deadline_ms = ms > 0 ? (int64_t)tm_monotonic_ms() + ms : 0;
}

static const struct tm_conn_ops fd_ops = {
    .read = fd_read, .write_all = fd_write_all, .close = fd_close, .set_deadline = fd_set_deadline};

tm_status tm_conn_from_fd(int fd, const char *peer, int timeout_ms, tm_conn **out)
{
    fd_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return tm_err_set(TM_ERR_NOMEM, "out of memory");
    }
    c->base.ops = &fd_ops;
    snprintf(c->base.peer, sizeof(c->base.peer), "%s", peer);
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    *out = &c->base;
    return TM_OK;
}

tm_status tm_conn_dial_unix(const char *path, int timeout_ms, tm_conn **out)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t path_len = strlen(path);
    char peer[128];
    snprintf(peer, sizeof(peer), "unix://%s", path);
    TM_ENSURE(path_len > 0 && path_len < sizeof(addr.sun_path), TM_ERR_INVALID,
              "%s: socket path must be 1..%zu bytes", peer, sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, path_len + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "%s: socket: %s", peer, strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = errno;
        close(fd);
        return tm_err_set(err == ENOENT || err == ECONNREFUSED ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: connect: %s",
                          peer, strerror(err));
    }
    return tm_conn_from_fd(fd, peer, timeout_ms, out);
}

/* connect() that gives up after timeout_ms (a black-holed host would otherwise hold the
 * dialling thread for the kernel's SYN retries, about two minutes). Returns 0 or an errno;
 * fd is left blocking. */
static int connect_within(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (timeout_ms <= 0 || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return connect(fd, addr, len) == 0 ? 0 : errno;
    int err = 0;
    if (connect(fd, addr, len) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n;
            while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
            }
            socklen_t elen = sizeof(err);
            if (n == 0) err = ETIMEDOUT;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
        }
    }
    if (fcntl(fd, F_SETFL, flags) != 0 && err == 0) err = errno;
    return err;
}

tm_status tm_conn_dial_tcp(const char *host, const char *port, int timeout_ms, tm_conn **out)
{
    char peer[128];
    snprintf(peer, sizeof(peer), "tcp://%s:%s", host, port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    TM_ENSURE(rc == 0, TM_ERR_NOT_FOUND, "%s: %s", peer, gai_strerror(rc));
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        err = connect_within(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
        if (err == 0) {
            freeaddrinfo(res);
            int one = 1; /* requests and answers are small: do not wait to coalesce them */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return tm_conn_from_fd(fd, peer, timeout_ms, out);
        }
        close(fd);
    }
    freeaddrinfo(res);
    return tm_err_set(TM_ERR_NOT_FOUND, "%s: connect: %s", peer, strerror(err));
}

tm_status tm_parse_host_port(const char *addr, const char *hp, char host[256], char port[8])
{
    const char *colon = strrchr(hp, ':'), *h = hp;
    size_t hlen = colon ? (size_t)(colon - hp) : 0;
    if (hp[0] == '[') { /* [IPv6]:port */
        const char *close = strchr(hp, ']');
        TM_ENSURE(close && close[1] == ':', TM_ERR_INVALID, "%s: expected [IPv6]:port", addr);
        h = hp + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    }
    TM_ENSURE(colon && hlen > 0 && hlen < 256, TM_ERR_INVALID, "%s: expected host:port", addr);
    const char *p = colon + 1;
    size_t plen = strnlen(p, 8);
    TM_ENSURE(plen > 0 && plen <= 5 && strspn(p, "0123456789") == plen, TM_ERR_INVALID,
              "%s: the port '%s' is not a number", addr, p);
    long v = strtol(p, NULL, 10);
    TM_ENSURE(v >= 1 && v <= 65535, TM_ERR_INVALID, "%s: port %ld out of range 1-65535", addr, v);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return TM_OK;
}

tm_status tm_conn_read_exact(tm_conn *c, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        size_t got = 0;
        TM_TRY(tm_conn_read(c, p, len, &got));
        p += got;
        len -= got;
    }
    return TM_OK;
}

void tm_conn_close(tm_conn *conn)
{
    if (conn) conn->ops->close(conn);
}
