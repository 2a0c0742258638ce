/* vsock endpoints: addresses, the kernel's sockaddr_vm, and listen/accept/dial over either
 * AF_VSOCK (production) or the simulation's Unix sockets. */
#include "tmkms/nitro/vsock.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10 || strspn(s, "0123456789") < len) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

tm_status tm_vsock_addr_parse(const char *text, tm_vsock_addr *out)
{
    const char *s = strncmp(text, "vsock://", 8) == 0 ? text + 8 : text;
    const char *colon = strchr(s, ':');
    TM_ENSURE(colon != NULL, TM_ERR_INVALID, "'%s': expected vsock://CID:PORT", text);
    size_t cid_len = (size_t)(colon - s);
    if (cid_len == 3 && strncmp(s, "any", 3) == 0) {
        out->cid = TM_VSOCK_CID_ANY;
    } else {
        TM_ENSURE(parse_u32(s, cid_len, &out->cid), TM_ERR_INVALID, "'%s': the CID is not a number", text);
    }
    TM_ENSURE(parse_u32(colon + 1, strlen(colon + 1), &out->port) && out->port != 0 && out->port != UINT32_MAX,
              TM_ERR_INVALID, "'%s': the port must be 1..4294967294", text);
    return TM_OK;
}

void tm_vsock_addr_format(const tm_vsock_addr *a, char out[TM_VSOCK_ADDR_STRLEN])
{
    if (a->cid == TM_VSOCK_CID_ANY) snprintf(out, TM_VSOCK_ADDR_STRLEN, "vsock://any:%" PRIu32, a->port);
    else snprintf(out, TM_VSOCK_ADDR_STRLEN, "vsock://%" PRIu32 ":%" PRIu32, a->cid, a->port);
}

void tm_vsock_sockaddr(const tm_vsock_addr *a, uint8_t out[TM_VSOCK_SOCKADDR_LEN])
{
    struct sockaddr_vm sa;
    _Static_assert(sizeof(sa) == TM_VSOCK_SOCKADDR_LEN, "struct sockaddr_vm is 16 bytes");
    memset(&sa, 0, sizeof(sa));
    sa.svm_family = AF_VSOCK;
    sa.svm_port = a->port;
    sa.svm_cid = a->cid;
    memcpy(out, &sa, sizeof(sa));
}

tm_status tm_vsock_sim_path(const char *dir, uint32_t cid, uint32_t port, char *out, size_t cap)
{
    struct sockaddr_un un;
    int n = snprintf(out, cap, "%s/vsock-%" PRIu32 "-%" PRIu32 ".sock", dir, cid, port);
    TM_ENSURE(n > 0 && (size_t)n < cap && (size_t)n < sizeof(un.sun_path), TM_ERR_INVALID,
              "simulation directory '%s' is too long for a Unix socket path (%zu bytes at most)", dir,
              sizeof(un.sun_path) - 1);
    return TM_OK;
}

/* A socket bound to `sa` and listening; *lfd on success. */
static tm_status bind_listen(int family, const void *sa, socklen_t len, const char *what, int *lfd)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "%s: socket: %s", what, strerror(errno));
    if (bind(fd, sa, len) != 0 || listen(fd, 8) != 0) {
        int err = errno;
        close(fd);
        return tm_err_set(TM_ERR_IO, "%s: listen: %s", what, strerror(err));
    }
    *lfd = fd;
    return TM_OK;
}

tm_status tm_vsock_listen(const tm_vsock_ctx *ctx, uint32_t port, int *lfd)
{
    char what[TM_VSOCK_ADDR_STRLEN];
    tm_vsock_addr any = {TM_VSOCK_CID_ANY, port};
    tm_vsock_addr_format(&any, what);
    if (!ctx->sim_dir) {
        uint8_t sa[TM_VSOCK_SOCKADDR_LEN];
        tm_vsock_sockaddr(&any, sa);
        return bind_listen(AF_VSOCK, sa, sizeof(sa), what, lfd);
    }
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    TM_TRY(tm_vsock_sim_path(ctx->sim_dir, ctx->own_cid, port, un.sun_path, sizeof(un.sun_path)));
    unlink(un.sun_path); /* a stale socket of an earlier run */
    return bind_listen(AF_UNIX, &un, sizeof(un), un.sun_path, lfd);
}

tm_status tm_vsock_accept(int lfd, int timeout_ms, int io_timeout_ms, tm_conn **out)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1)) < 0 && errno == EINTR) {
    }
    TM_ENSURE(n >= 0, TM_ERR_IO, "vsock accept: poll: %s", strerror(errno));
    TM_ENSURE(n > 0, TM_ERR_TIMEOUT, "vsock accept: nobody connected within %d ms", timeout_ms);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "vsock accept: %s", strerror(errno));
    return tm_conn_from_fd(fd, "vsock-peer", io_timeout_ms, out);
}

tm_status tm_vsock_dial(const tm_vsock_ctx *ctx, const tm_vsock_addr *to, int io_timeout_ms, tm_conn **out)
{
    char what[TM_VSOCK_ADDR_STRLEN];
    tm_vsock_addr_format(to, what);
    TM_ENSURE(to->cid != TM_VSOCK_CID_ANY, TM_ERR_INVALID, "%s: cannot dial CID any", what);
    if (ctx->sim_dir) {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        TM_TRY(tm_vsock_sim_path(ctx->sim_dir, to->cid, to->port, path, sizeof(path)));
        tm_status status = tm_conn_dial_unix(path, io_timeout_ms, out);
        if (status == TM_OK) snprintf((*out)->peer, sizeof((*out)->peer), "%s", what);
        return status;
    }
    uint8_t sa[TM_VSOCK_SOCKADDR_LEN];
    tm_vsock_sockaddr(to, sa);
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "%s: socket: %s", what, strerror(errno));
    if (connect(fd, (const struct sockaddr *)sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        return tm_err_set(err == ECONNREFUSED || err == ENODEV ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: connect: %s",
                          what, strerror(err));
    }
    return tm_conn_from_fd(fd, what, io_timeout_ms, out);
}

void tm_vsock_close_listener(const tm_vsock_ctx *ctx, uint32_t port, int lfd)
{
    if (lfd >= 0) close(lfd);
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (ctx->sim_dir && tm_vsock_sim_path(ctx->sim_dir, ctx->own_cid, port, path, sizeof(path)) == TM_OK) unlink(path);
}
