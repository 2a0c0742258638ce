#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/clock.h"

/* tmkms echoes a vote with its extension (up to 1 MiB in practice); leave headroom. */
#define WIRE_MAX_FRAME ((size_t)4 << 20)

volatile int wire_stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    wire_stop_requested = 1;
}

void wire_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocked poll() returns EINTR and the loop sees the flag. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
}

const char *wire_status_name(wire_status st)
{
    switch (st) {
    case WS_OK: return "ok";
    case WS_CLOSED: return "connection closed";
    case WS_TIMEOUT: return "timeout";
    case WS_STOPPED: return "stopped";
    case WS_BADFRAME: return "bad frame";
    case WS_SYS: return "system error";
    }
    return "?";
}

/* Waits for `events` on fd until deadline (monotonic ms). */
static wire_status wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        if (wire_stop_requested) {
            return WS_STOPPED;
        }
        int64_t left = deadline - (int64_t)tm_monotonic_ms();
        if (left <= 0) {
            return WS_TIMEOUT;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > 200 ? 200 : (int)left);
        if (rc < 0 && errno != EINTR) {
            return WS_SYS;
        }
        if (rc > 0) {
            return WS_OK;
        }
    }
}

wire_status wire_listen(wire *w, const char *path, int timeout_ms)
{
    memset(w, 0, sizeof(*w));
    w->lfd = -1;
    w->fd = -1;
    w->timeout_ms = timeout_ms;
    if (strlen(path) >= sizeof(w->path)) {
        fprintf(stderr, "validator-sim: socket path too long (max %zu): %s\n", sizeof(w->path) - 1, path);
        return WS_SYS;
    }
    memcpy(w->path, path, strlen(path) + 1);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path); /* a stale socket from an earlier run */
    w->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (w->lfd < 0 || bind(w->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(w->lfd, 4) != 0) {
        fprintf(stderr, "validator-sim: listen on %s: %s\n", path, strerror(errno));
        return WS_SYS;
    }
    return WS_OK;
}

wire_status wire_listen_secure(wire *w, secure_listener *l, int timeout_ms)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->timeout_ms = timeout_ms;
    w->secure = l;
    w->lfd = secure_listen_fd(l);
    return WS_OK;
}

void wire_drop(wire *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    w->rlen = 0;
}

wire_status wire_accept(wire *w, int timeout_ms)
{
    wire_drop(w);
    int64_t deadline = (int64_t)tm_monotonic_ms() + timeout_ms;
    for (;;) {
        wire_status st = wait_fd(w->lfd, POLLIN, deadline);
        if (st != WS_OK) {
            return st;
        }
        w->fd = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (w->fd < 0 || !w->secure) {
            return w->fd >= 0 ? WS_OK : WS_SYS;
        }
        /* A KMS that fails the handshake or is not the allowed one: wait for the next. */
        w->fd = secure_accept(w->secure, w->fd, w->timeout_ms);
        if (w->fd >= 0) {
            return WS_OK;
        }
    }
}

void wire_close(wire *w)
{
    wire_drop(w);
    if (w->secure) {
        secure_close(w->secure); /* closes lfd */
        w->secure = NULL;
        w->lfd = -1;
    }
    if (w->lfd >= 0) {
        close(w->lfd);
        w->lfd = -1;
        unlink(w->path);
    }
    free(w->rbuf);
    w->rbuf = NULL;
    w->rcap = 0;
}

wire_status wire_send_raw(wire *w, const uint8_t *p, size_t n)
{
    int64_t deadline = (int64_t)tm_monotonic_ms() + w->timeout_ms;
    size_t off = 0;
    while (off < n) {
        wire_status st = wait_fd(w->fd, POLLOUT, deadline);
        if (st != WS_OK) {
            return st;
        }
        ssize_t k = send(w->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return (errno == EPIPE || errno == ECONNRESET) ? WS_CLOSED : WS_SYS;
        }
        off += (size_t)k;
    }
    return WS_OK;
}

int wire_encode(const Tendermint__Privval__Message *msg, uint8_t **out, size_t *len)
{
    size_t body = tendermint__privval__message__get_packed_size(msg);
    uint8_t prefix[10];
    size_t plen = 0;
    for (uint64_t v = body;; v >>= 7) {
        prefix[plen++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80) {
            break;
        }
    }
    uint8_t *buf = malloc(plen + body);
    if (!buf) {
        return -1;
    }
    memcpy(buf, prefix, plen);
    tendermint__privval__message__pack(msg, buf + plen);
    *out = buf;
    *len = plen + body;
    return 0;
}

wire_status wire_send(wire *w, const Tendermint__Privval__Message *msg, size_t chunk)
{
    uint8_t *buf;
    size_t len;
    if (wire_encode(msg, &buf, &len) != 0) {
        return WS_SYS;
    }
    wire_status st = WS_OK;
    if (chunk == 0) {
        st = wire_send_raw(w, buf, len);
    }
    for (size_t off = 0; chunk && off < len && st == WS_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        st = wire_send_raw(w, buf + off, n);
        /* A pause makes it likely that the reader sees the pieces one at a time. */
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    free(buf);
    return st;
}

/* Parses a uvarint at the start of the buffer: 1 complete, 0 need more, -1 invalid. */
static int parse_prefix(const uint8_t *p, size_t n, uint64_t *v, size_t *used)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            *used = i + 1;
            return 1;
        }
    }
    return n >= 10 ? -1 : 0;
}

static wire_status fill(wire *w, int64_t deadline)
{
    if (w->rcap - w->rlen < 65536) {
        size_t ncap = w->rcap ? w->rcap * 2 : 131072;
        uint8_t *p = realloc(w->rbuf, ncap);
        if (!p) {
            return WS_SYS;
        }
        w->rbuf = p;
        w->rcap = ncap;
    }
    wire_status st = wait_fd(w->fd, POLLIN, deadline);
    if (st != WS_OK) {
        return st;
    }
    ssize_t k = recv(w->fd, w->rbuf + w->rlen, w->rcap - w->rlen, MSG_DONTWAIT);
    if (k == 0) {
        return WS_CLOSED;
    }
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return WS_OK;
        }
        return errno == ECONNRESET ? WS_CLOSED : WS_SYS;
    }
    w->rlen += (size_t)k;
    return WS_OK;
}

wire_status wire_recv(wire *w, Tendermint__Privval__Message **out)
{
    *out = NULL;
    int64_t deadline = (int64_t)tm_monotonic_ms() + w->timeout_ms;
    for (;;) {
        uint64_t body = 0;
        size_t used = 0;
        int pr = parse_prefix(w->rbuf, w->rlen, &body, &used);
        if (pr < 0 || (pr == 1 && body > WIRE_MAX_FRAME)) {
            return WS_BADFRAME;
        }
        if (pr == 1 && w->rlen - used >= body) {
            *out = tendermint__privval__message__unpack(NULL, (size_t)body, w->rbuf + used);
            size_t total = used + (size_t)body;
            memmove(w->rbuf, w->rbuf + total, w->rlen - total);
            w->rlen -= total;
            return *out ? WS_OK : WS_BADFRAME;
        }
        wire_status st = fill(w, deadline);
        if (st != WS_OK) {
            return st;
        }
    }
}

/* One step of wire_send_expect_close: reads what is there; WS_CLOSED is the good news. */
static wire_status drain_once(wire *w)
{
    uint8_t junk[4096];
    ssize_t k = recv(w->fd, junk, sizeof(junk), MSG_DONTWAIT);
    if (k == 0 || (k < 0 && (errno == ECONNRESET || errno == EPIPE))) {
        return WS_CLOSED;
    }
    if (k > 0) {
        return WS_BADFRAME; /* it answered instead of closing */
    }
    return WS_OK;
}

wire_status wire_send_expect_close(wire *w, const uint8_t *p, size_t n)
{
    int64_t deadline = (int64_t)tm_monotonic_ms() + w->timeout_ms;
    size_t off = 0;
    bool writable = true;
    for (;;) {
        if (wire_stop_requested) {
            return WS_STOPPED;
        }
        int64_t left = deadline - (int64_t)tm_monotonic_ms();
        if (left <= 0) {
            return WS_TIMEOUT;
        }
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN | (writable && off < n ? POLLOUT : 0)};
        int rc = poll(&pfd, 1, left > 200 ? 200 : (int)left);
        if (rc < 0 && errno != EINTR) {
            return WS_SYS;
        }
        if (rc <= 0) {
            continue;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            wire_status st = drain_once(w);
            if (st == WS_CLOSED) {
                return WS_OK;
            }
            if (st != WS_OK) {
                return st;
            }
        }
        if ((pfd.revents & POLLOUT) && off < n) {
            ssize_t k = send(w->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0) {
                off += (size_t)k;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                writable = false; /* EPIPE/ECONNRESET: the close will show on the read side */
            }
        }
    }
}
