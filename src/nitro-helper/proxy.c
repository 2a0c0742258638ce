/* The helper's vsock → TCP proxy to KMS; see proxy.h. One thread per connection, at
 * most max_conns of them; the accept loop owns the slots, joins finished threads and,
 * on stop, shuts every socket down (which wakes the threads) and joins them all. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/log.h"

#define RELAY_BUF 16384
#define MOD "vsock-proxy"
/* The module name of a proxy's log lines: the helper's node relay has its own. */
#define NAME(o) ((o)->log_name != NULL ? (o)->log_name : MOD)

typedef struct {
    pthread_t thread;
    bool used;
    atomic_bool done;
    int client_fd, target_fd; /* guarded by the proxy's lock once the thread runs */
    unsigned long id;
    const proxy_opts *opts;
    pthread_mutex_t *lock;
    bool *stopping; /* guarded by lock */
} slot;

/* ---- the destination ---- */

static int set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    if (set_nonblock(fd, true) == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && set_nonblock(fd, false) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t el = sizeof(err);
        if (poll(&p, 1, PROXY_CONNECT_TIMEOUT_MS) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
            err == 0 && set_nonblock(fd, false) == 0)
            return fd;
        errno = err != 0 ? err : ETIMEDOUT;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int connect_unix(const proxy_opts *o, char *why, size_t cap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->unix_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return fd;
    snprintf(why, cap, "cannot connect to unix://%s: %s", o->unix_path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
}

static int connect_target(const proxy_opts *o, char *why, size_t cap)
{
    if (o->unix_path[0]) return connect_unix(o, why, cap);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, cap, "cannot resolve %s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) fd = connect_one(ai);
    if (fd < 0) snprintf(why, cap, "cannot connect to %s:%s: %s", o->host, o->port, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

/* ---- relaying ---- */

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* Moves what is readable on `from` to `to`; false when `from` is finished (EOF or
 * error) or `to` failed. A clean EOF half-closes `to`. */
static bool pump(int from, int to, char *buf, bool *eof)
{
    ssize_t r = recv(from, buf, RELAY_BUF, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (r == 0) {
        *eof = true;
        shutdown(to, SHUT_WR);
        return true;
    }
    return r > 0 && write_all(to, buf, (size_t)r);
}

static void relay(int a, int b, int idle_s)
{
    char *buf = malloc(RELAY_BUF);
    bool a_eof = false, b_eof = false, ok = buf != NULL;
    while (ok && !(a_eof && b_eof)) {
        struct pollfd p[2] = {{a_eof ? -1 : a, POLLIN, 0}, {b_eof ? -1 : b, POLLIN, 0}};
        int n = poll(p, 2, idle_s < 0 ? -1 : idle_s * 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* idle for too long, or poll failed */
        if (p[0].revents & (POLLERR | POLLNVAL) || p[1].revents & (POLLERR | POLLNVAL)) break;
        if (p[0].revents) ok = pump(a, b, buf, &a_eof);
        if (ok && p[1].revents) ok = pump(b, a, buf, &b_eof);
    }
    free(buf);
}

static void slot_close(slot *s)
{
    pthread_mutex_lock(s->lock);
    if (s->client_fd >= 0) close(s->client_fd);
    if (s->target_fd >= 0) close(s->target_fd);
    s->client_fd = s->target_fd = -1;
    pthread_mutex_unlock(s->lock);
}

/* A destination that stays down would log a line per attempt (the enclave redials every
 * second): the same failure is logged once at warning level, repeats at debug level. */
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_failure[256];

static void report_connect(const proxy_opts *o, unsigned long id, const char *why)
{
    pthread_mutex_lock(&failure_lock);
    bool repeat = why ? strcmp(why, last_failure) == 0 : last_failure[0] == '\0';
    if (why) snprintf(last_failure, sizeof(last_failure), "%s", why);
    else if (last_failure[0]) tm_log_info(NAME(o), "connection %lu: destination reachable again", id);
    if (!why) last_failure[0] = '\0';
    pthread_mutex_unlock(&failure_lock);
    if (!why) return;
    if (repeat) tm_log_debug(NAME(o), "connection %lu: %s (again)", id, why);
    else tm_log_warn(NAME(o), "connection %lu: %s (repeats are logged at debug level)", id, why);
}

void proxy_stats_init(proxy_stats *stats)
{
    atomic_init(&stats->relaying, 0);
    tm_link_stats_init(&stats->link);
    stats->connected = NULL;
    stats->connections = NULL;
}

/* A connection starts (delta 1) or stops (-1) relaying: the counts, and the state and its
 * time when relaying goes from 0 to 1 or back. Under the lock, so the state always matches
 * the count. */
static void stats_relaying(proxy_stats *st, int delta)
{
    pthread_mutex_lock(&st->link.lock);
    int64_t now_relaying = atomic_fetch_add(&st->relaying, delta) + delta;
    if (delta > 0) {
        atomic_fetch_add(&st->link.sessions, 1);
        st->link.last_error[0] = '\0';
    }
    if (atomic_load(&st->link.connected) != (now_relaying > 0)) {
        atomic_store(&st->link.connected, now_relaying > 0);
        atomic_store(&st->link.since, (int_fast64_t)time(NULL));
    }
    pthread_mutex_unlock(&st->link.lock);
    tm_gauge_add(st->connected, delta);
    if (delta > 0) tm_counter_add(st->connections, 1);
}

static void stats_failure(proxy_stats *st, const char *why)
{
    pthread_mutex_lock(&st->link.lock);
    snprintf(st->link.last_error, sizeof(st->link.last_error), "%s", why);
    pthread_mutex_unlock(&st->link.lock);
}

static void *conn_thread(void *arg)
{
    slot *s = arg;
    char why[256] = "";
    int fd = connect_target(s->opts, why, sizeof(why));
    pthread_mutex_lock(s->lock);
    s->target_fd = fd;
    bool stopping = *s->stopping;
    pthread_mutex_unlock(s->lock);
    report_connect(s->opts, s->id, fd < 0 ? why : NULL);
    proxy_stats *st = s->opts->stats;
    if (fd < 0 && st) stats_failure(st, why);
    if (fd >= 0 && !stopping) {
        tm_log_debug(NAME(s->opts), "connection %lu: relaying", s->id);
        if (st) stats_relaying(st, 1);
        relay(s->client_fd, fd, s->opts->idle_seconds != 0 ? s->opts->idle_seconds : PROXY_IDLE_SECONDS);
        if (st) stats_relaying(st, -1);
        tm_log_debug(NAME(s->opts), "connection %lu: closed", s->id);
    }
    slot_close(s);
    atomic_store(&s->done, true);
    return NULL;
}

/* ---- the accept loop ---- */

static void reap(slot *slots, uint32_t n, bool all)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!slots[i].used || (!all && !atomic_load(&slots[i].done))) continue;
        pthread_join(slots[i].thread, NULL);
        slots[i].used = false;
    }
}

static void shutdown_all(slot *slots, uint32_t n, pthread_mutex_t *lock, bool *stopping)
{
    pthread_mutex_lock(lock);
    *stopping = true;
    for (uint32_t i = 0; i < n; i++) {
        if (!slots[i].used) continue;
        if (slots[i].client_fd >= 0) shutdown(slots[i].client_fd, SHUT_RDWR);
        if (slots[i].target_fd >= 0) shutdown(slots[i].target_fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(lock);
}

static void start_conn(const proxy_opts *o, slot *slots, pthread_mutex_t *lock, bool *stopping, int cfd,
                       unsigned long id)
{
    reap(slots, o->max_conns, false);
    slot *s = NULL;
    for (uint32_t i = 0; i < o->max_conns && s == NULL; i++)
        if (!slots[i].used) s = &slots[i];
    if (s == NULL) {
        tm_log_warn(NAME(o), "connection %lu refused: %u connections are open already (num_workers)", id,
                    o->max_conns);
        close(cfd);
        return;
    }
    *s = (slot){.used = true, .client_fd = cfd, .target_fd = -1, .id = id, .opts = o, .lock = lock, .stopping = stopping};
    atomic_init(&s->done, false);
    if (pthread_create(&s->thread, NULL, conn_thread, s) != 0) {
        tm_log_error(NAME(o), "connection %lu: cannot start a thread", id);
        close(cfd);
        s->used = false;
    }
}

static bool stop_requested(int stop_fd, short revents)
{
    return stop_fd >= 0 && revents != 0;
}

tm_status proxy_serve(const proxy_opts *o)
{
    tm_status status = TM_OK;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    slot *slots = calloc(o->max_conns, sizeof(*slots));
    unsigned long next_id = 1;
    bool stopping = false;
    if (slots == NULL) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    if (o->unix_path[0])
        tm_log_info(NAME(o), "relaying to unix://%s, at most %u connections", o->unix_path, o->max_conns);
    else
        tm_log_info(NAME(o), "relaying to %s:%s, at most %u connections", o->host, o->port, o->max_conns);
    for (;;) {
        struct pollfd p[2] = {{o->listen_fd, POLLIN, 0}, {o->stop_fd, POLLIN, 0}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR) {
            status = tm_err_set(TM_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
        if (stop_requested(o->stop_fd, p[1].revents)) break;
        reap(slots, o->max_conns, false);
        if (!(p[0].revents & POLLIN)) continue;
        int cfd = accept4(o->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0) {
            start_conn(o, slots, &lock, &stopping, cfd, next_id++);
        } else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED && errno != EMFILE && errno != ENFILE) {
            status = tm_err_set(TM_ERR_IO, "accept: %s", strerror(errno));
            break;
        }
    }
    shutdown_all(slots, o->max_conns, &lock, &stopping);
    reap(slots, o->max_conns, true);
    free(slots);
    tm_log_info(NAME(o), "stopped");
    return status;
}

/* ---- targets and listening ---- */

static bool loopback_literal(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
}

tm_status proxy_parse_loopback_target(const char *text, char host[PROXY_HOST_MAX + 1], char port[8])
{
    size_t n = strnlen(text, PROXY_HOST_MAX + 8);
    const char *colon = strrchr(text, ':');
    TM_ENSURE(n < PROXY_HOST_MAX + 8 && colon != NULL && colon != text, TM_ERR_INVALID,
              "target '%.80s': expected HOST:PORT", text);
    const char *h = text, *h_end = colon;
    if (text[0] == '[') {
        TM_ENSURE(colon > text + 1 && colon[-1] == ']', TM_ERR_INVALID, "target '%.80s': expected [V6]:PORT", text);
        h = text + 1;
        h_end = colon - 1;
    }
    size_t hl = (size_t)(h_end - h);
    TM_ENSURE(hl > 0 && hl <= PROXY_HOST_MAX, TM_ERR_INVALID, "target '%.80s': bad host", text);
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    TM_ENSURE(errno == 0 && end != colon + 1 && *end == 0 && p >= 1 && p <= 65535, TM_ERR_INVALID,
              "target '%.80s': the port must be 1..65535", text);
    TM_ENSURE(loopback_literal(host), TM_ERR_INVALID,
              "target '%.80s': only a loopback address (127.0.0.0/8 or ::1) can stand in for KMS in simulation", text);
    snprintf(port, 8, "%ld", p);
    return TM_OK;
}
