/* A local control socket. See status_socket.h. */
#include "tmkms/status_socket.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tmkms/log.h"

#define SUN_PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

tm_status tm_status_socket_path_beside(const char *file, const char *name, char *out, size_t cap)
{
    char *copy = strdup(file);
    TM_ENSURE(copy != NULL, TM_ERR_NOMEM, "out of memory");
    int n = snprintf(out, cap, "%s/%s", dirname(copy), name);
    free(copy);
    TM_ENSURE(n > 0 && (size_t)n < cap && (size_t)n < SUN_PATH_CAP, TM_ERR_TOO_LARGE,
              "status socket path for %s longer than a Unix socket path can be", file);
    return TM_OK;
}

typedef struct {
    int fd;
    tm_status_render_fn render;
    void *ctx;
} server;

static void answer(const server *s, int client)
{
    /* A client that does not read cannot hold the thread for long. */
    struct timeval tv = {.tv_sec = 1};
    (void)setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *doc = s->render(s->ctx);
    if (!doc) return;
    size_t len = strlen(doc), off = 0;
    while (off < len) {
        ssize_t n = send(client, doc + off, len - off, MSG_NOSIGNAL);
        if (n <= 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    free(doc);
}

static void *serve(void *arg)
{
    server *s = arg;
    for (;;) {
        int client = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            tm_log_error("status", "status socket: accept: %s; no more status answers", strerror(errno));
            return NULL;
        }
        answer(s, client);
        close(client);
    }
}

/* Only a socket is ever removed: anything else at the path is an operator's file. */
static tm_status remove_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return TM_OK;
    TM_ENSURE(S_ISSOCK(st.st_mode), TM_ERR_EXISTS,
              "status socket %s: a file that is not a socket is in the way", path);
    TM_ENSURE(unlink(path) == 0, TM_ERR_IO, "status socket %s: cannot remove the stale one: %s", path,
              strerror(errno));
    return TM_OK;
}

static char bound_path[SUN_PATH_CAP];

void tm_status_server_remove(void)
{
    if (bound_path[0]) (void)unlink(bound_path);
    bound_path[0] = '\0';
}

tm_status tm_status_server_start(const char *path, tm_status_render_fn render, void *ctx)
{
    tm_status status = TM_OK;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    TM_ENSURE(strlen(path) < sizeof(addr.sun_path), TM_ERR_TOO_LARGE, "status socket path %s too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    TM_TRY(remove_stale(path));
    server *s = calloc(1, sizeof(*s)); /* lives as long as the process */
    TM_ENSURE(s != NULL, TM_ERR_NOMEM, "out of memory");
    s->render = render;
    s->ctx = ctx;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE_GOTO(s->fd >= 0, TM_ERR_IO, "status socket: %s", strerror(errno));
    /* 0600 from the start: no window where another user could connect. */
    mode_t old = umask(0177);
    int bound = bind(s->fd, (struct sockaddr *)&addr, sizeof(addr));
    int bind_errno = errno;
    umask(old);
    TM_ENSURE_GOTO(bound == 0, TM_ERR_IO, "status socket %s: bind: %s", path, strerror(bind_errno));
    TM_ENSURE_GOTO(listen(s->fd, 8) == 0, TM_ERR_IO, "status socket %s: listen: %s", path, strerror(errno));
    memcpy(bound_path, addr.sun_path, sizeof(bound_path));
    pthread_t tid;
    TM_ENSURE_GOTO(pthread_create(&tid, NULL, serve, s) == 0, TM_ERR_IO,
                   "status socket: cannot start its thread");
    pthread_detach(tid);
    return TM_OK;
out:
    if (s->fd >= 0) close(s->fd);
    free(s);
    return status;
}

tm_status tm_status_socket_fetch(const char *path, const char *program, char **out)
{
    tm_status status = TM_OK;
    char *buf = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    TM_ENSURE(plen < sizeof(addr.sun_path), TM_ERR_TOO_LARGE, "%s: too long for a Unix socket path", path);
    memcpy(addr.sun_path, path, plen + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 5};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    TM_ENSURE_GOTO(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, TM_ERR_NOT_FOUND,
                   "%s: %s (is %s running with this config?)", path, strerror(errno), program);
    buf = malloc(TM_STATUS_MAX_BYTES + 1);
    TM_ENSURE_GOTO(buf != NULL, TM_ERR_NOMEM, "out of memory");
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, TM_STATUS_MAX_BYTES - len, 0);
        if (n < 0 && errno == EINTR) continue;
        TM_ENSURE_GOTO(n >= 0, TM_ERR_IO, "%s: %s", path, strerror(errno));
        if (n == 0) break;
        len += (size_t)n;
        TM_ENSURE_GOTO(len < TM_STATUS_MAX_BYTES, TM_ERR_TOO_LARGE, "%s: answer over %u bytes", path,
                       TM_STATUS_MAX_BYTES);
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return status;
}
