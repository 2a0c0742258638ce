/* See notify_relay.h. */
#include "notify_relay.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tmkms/nitro/msg.h"

#define DATAGRAM_MAX 4096

static bool systemd_var(const char *v)
{
    return strncmp(v, "NOTIFY_SOCKET=", 14) == 0 || strncmp(v, "WATCHDOG_USEC=", 14) == 0 ||
           strncmp(v, "WATCHDOG_PID=", 13) == 0;
}

/* env without systemd's variables, plus `extra` when not NULL. */
static char **child_env(char **env, char *extra)
{
    size_t n = 0, k = 0;
    while (env && env[n])
        n++;
    char **out = calloc(n + 2, sizeof(*out));
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!systemd_var(env[i])) out[k++] = env[i];
    if (extra) out[k++] = extra;
    out[k] = NULL;
    return out;
}

static tm_status bind_abstract(notify_relay *r)
{
    /* Linux's autobind (an address of the family alone): the kernel picks an abstract name
     * no other socket has, five hex digits; getsockname tells it. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int on = 1;
    TM_ENSURE(setsockopt(r->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0 &&
                  bind(r->fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) == 0,
              TM_ERR_IO, "notify socket: %s", strerror(errno));
    socklen_t sl = sizeof(sa);
    TM_ENSURE(getsockname(r->fd, (struct sockaddr *)&sa, &sl) == 0, TM_ERR_IO, "notify socket: %s",
              strerror(errno));
    size_t len = sl - offsetof(struct sockaddr_un, sun_path); /* the leading NUL included */
    TM_ENSURE(len > 1 && len < sizeof(r->name) && sa.sun_path[0] == '\0', TM_ERR_IO,
              "notify socket: not an abstract address");
    r->name[0] = '@';
    memcpy(r->name + 1, sa.sun_path + 1, len - 1);
    r->name[len] = '\0';
    return TM_OK;
}

/* Whether systemd gave us a NOTIFY_SOCKET (without it there is nobody to relay to, and the
 * helper, not told of one, never loads libsystemd). */
static bool under_systemd(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], "NOTIFY_SOCKET=", 14) == 0) return true;
    return false;
}

tm_status notify_relay_open(notify_relay *r, char **env)
{
    tm_status status = TM_OK;
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    if (!under_systemd(env)) {
        r->helper_env = child_env(env, NULL);
        r->proxy_env = child_env(env, NULL);
        TM_ENSURE_GOTO(r->helper_env && r->proxy_env, TM_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    TM_ENSURE_GOTO(r->fd >= 0, TM_ERR_IO, "notify socket: %s", strerror(errno));
    TM_TRY_GOTO(bind_abstract(r));
    size_t var_len = strlen("NOTIFY_SOCKET=") + strlen(r->name) + 1;
    r->notify_var = malloc(var_len);
    TM_ENSURE_GOTO(r->notify_var, TM_ERR_NOMEM, "out of memory");
    snprintf(r->notify_var, var_len, "NOTIFY_SOCKET=%s", r->name);
    r->helper_env = child_env(env, r->notify_var);
    r->proxy_env = child_env(env, NULL);
    TM_ENSURE_GOTO(r->helper_env && r->proxy_env, TM_ERR_NOMEM, "out of memory");
out:
    if (status != TM_OK) notify_relay_close(r);
    return status;
}

/* READY=1 and STATUS= of one datagram (newline-separated assignments). */
static void parse(char *text, notify_msg *m)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, "READY=1") == 0) m->ready = true;
        if (strncmp(line, "STATUS=", 7) != 0) continue;
        tm_nitro_copy_printable(m->status, line + 7, NOTIFY_STATUS_MAX);
    }
}

bool notify_relay_recv(notify_relay *r, notify_msg *m)
{
    char buf[DATAGRAM_MAX + 1];
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {buf, DATAGRAM_MAX};
    struct msghdr h = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
    memset(m, 0, sizeof(*m));
    if (r->fd < 0) return false;
    ssize_t n = recvmsg(r->fd, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return false;
    buf[n] = '\0';
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            m->pid = cred.pid;
        }
    }
    parse(buf, m);
    return true;
}

void notify_relay_close(notify_relay *r)
{
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    free(r->helper_env);
    free(r->proxy_env);
    free(r->notify_var);
    r->helper_env = r->proxy_env = NULL;
    r->notify_var = NULL;
}
