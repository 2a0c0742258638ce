/* vsock endpoints: address text, sockaddr_vm, listeners and dialling. See vsock.h. */
#include "tmkms/nitro/vsock.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tm_vsock_listener {
    tm_vsock_net net; /* a copy: callers often pass a net that lives on their stack */
    int fd;
    char name[128];
};

tm_status tm_vsock_parse_u32(const char *text, const char *what, uint32_t *out)
{
    TM_ENSURE(text && *text, TM_ERR_INVALID, "%s: empty", what);
    uint64_t v = 0;
    size_t n = 0;
    for (; text[n]; n++) {
        TM_ENSURE(text[n] >= '0' && text[n] <= '9', TM_ERR_INVALID, "%s \"%.32s\" is not a decimal number", what,
                  text);
        TM_ENSURE(n < 10, TM_ERR_INVALID, "%s \"%.32s\" is too long", what, text);
        v = v * 10 + (uint64_t)(text[n] - '0');
    }
    TM_ENSURE(v <= UINT32_MAX, TM_ERR_INVALID, "%s %.32s is above 4294967295", what, text);
    *out = (uint32_t)v;
    return TM_OK;
}

static const char *skip_prefix(const char *text)
{
    if (strncmp(text, "vsock://", 8) == 0) return text + 8;
    if (strncmp(text, "vsock:", 6) == 0) return text + 6;
    return text;
}

tm_status tm_vsock_ep_parse(const char *text, tm_vsock_ep *out)
{
    TM_ENSURE(text, TM_ERR_INVALID, "vsock address: empty");
    const char *rest = skip_prefix(text);
    const char *colon = strchr(rest, ':');
    TM_ENSURE(colon, TM_ERR_INVALID, "vsock address \"%.64s\" is not CID:PORT", text);
    char cid[16];
    size_t clen = (size_t)(colon - rest);
    TM_ENSURE(clen > 0 && clen < sizeof(cid), TM_ERR_INVALID, "vsock address \"%.64s\": bad CID", text);
    memcpy(cid, rest, clen);
    cid[clen] = '\0';
    tm_vsock_ep ep;
    if (strcmp(cid, "any") == 0) ep.cid = TM_VSOCK_CID_ANY;
    else TM_TRY(tm_vsock_parse_u32(cid, "vsock CID", &ep.cid));
    TM_TRY(tm_vsock_parse_u32(colon + 1, "vsock port", &ep.port));
    *out = ep;
    return TM_OK;
}

tm_status tm_vsock_ep_format(const tm_vsock_ep *ep, char *buf, size_t cap)
{
    int n;
    if (ep->cid == TM_VSOCK_CID_ANY) n = snprintf(buf, cap, "vsock:any:%u", (unsigned)ep->port);
    else n = snprintf(buf, cap, "vsock:%u:%u", (unsigned)ep->cid, (unsigned)ep->port);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "vsock address does not fit %zu bytes", cap);
    return TM_OK;
}

tm_status tm_vsock_sockaddr(const tm_vsock_ep *ep, struct sockaddr_storage *out, socklen_t *len)
{
    struct sockaddr_vm vm;
    memset(&vm, 0, sizeof(vm));
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = ep->cid;
    vm.svm_port = ep->port;
    memset(out, 0, sizeof(*out));
    memcpy(out, &vm, sizeof(vm));
    *len = (socklen_t)sizeof(vm);
    return TM_OK;
}

/* ---- AF_VSOCK ---- */

static tm_status real_socket(const tm_vsock_ep *ep, char *name, size_t name_cap, int *fd)
{
    TM_TRY(tm_vsock_ep_format(ep, name, name_cap));
    *fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(*fd >= 0, TM_ERR_IO, "%s: socket: %s", name, strerror(errno));
    return TM_OK;
}

static tm_status real_listen(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap)
{
    (void)net;
    struct sockaddr_storage ss;
    socklen_t len;
    TM_TRY(tm_vsock_sockaddr(ep, &ss, &len));
    TM_TRY(real_socket(ep, name, name_cap, fd));
    if (bind(*fd, (struct sockaddr *)&ss, len) != 0 || listen(*fd, 16) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return tm_err_set(TM_ERR_IO, "%s: bind/listen: %s", name, strerror(err));
    }
    return TM_OK;
}

static tm_status real_dial(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap)
{
    (void)net;
    struct sockaddr_storage ss;
    socklen_t len;
    TM_TRY(tm_vsock_sockaddr(ep, &ss, &len));
    TM_TRY(real_socket(ep, name, name_cap, fd));
    if (connect(*fd, (struct sockaddr *)&ss, len) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return tm_err_set(err == ECONNREFUSED || err == ENODEV || err == ECONNRESET ? TM_ERR_NOT_FOUND : TM_ERR_IO,
                          "%s: connect: %s", name, strerror(err));
    }
    return TM_OK;
}

static const struct tm_vsock_net_ops real_ops = {.listen = real_listen, .dial = real_dial, .unlisten = NULL};

void tm_vsock_net_real(tm_vsock_net *out)
{
    memset(out, 0, sizeof(*out));
    out->ops = &real_ops;
    out->local_cid = TM_VSOCK_CID_ANY;
}

bool tm_vsock_net_is_simulated(const tm_vsock_net *net)
{
    return net->ops != &real_ops;
}

/* ---- listeners and connections, any net ---- */

tm_status tm_vsock_listen(const tm_vsock_net *net, const tm_vsock_ep *ep, tm_vsock_listener **out)
{
    tm_vsock_listener *l = calloc(1, sizeof(*l));
    TM_ENSURE(l, TM_ERR_NOMEM, "out of memory");
    l->net = *net;
    tm_status status = net->ops->listen(net, ep, &l->fd, l->name, sizeof(l->name));
    if (status != TM_OK) {
        free(l);
        return status;
    }
    *out = l;
    return TM_OK;
}

tm_status tm_vsock_accept_fd(tm_vsock_listener *l, int wait_ms, int *fd)
{
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, wait_ms)) < 0 && errno == EINTR) {
    }
    TM_ENSURE(n >= 0, TM_ERR_IO, "%s: poll: %s", l->name, strerror(errno));
    TM_ENSURE(n > 0, TM_ERR_TIMEOUT, "%s: no connection within %d ms", l->name, wait_ms);
    *fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    TM_ENSURE(*fd >= 0, errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? TM_ERR_TIMEOUT : TM_ERR_IO,
              "%s: accept: %s", l->name, strerror(errno));
    return TM_OK;
}

tm_status tm_vsock_accept(tm_vsock_listener *l, int wait_ms, int io_timeout_ms, tm_conn **out)
{
    int fd = -1;
    TM_TRY(tm_vsock_accept_fd(l, wait_ms, &fd));
    return tm_conn_from_fd(fd, l->name, io_timeout_ms, out);
}

int tm_vsock_listener_fd(const tm_vsock_listener *l)
{
    return l->fd;
}

const char *tm_vsock_listener_name(const tm_vsock_listener *l)
{
    return l->name;
}

void tm_vsock_listener_unlink(const tm_vsock_listener *l)
{
    if (l && l->net.ops->unlisten) l->net.ops->unlisten(&l->net, l->name);
}

void tm_vsock_listener_close(tm_vsock_listener *l)
{
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    tm_vsock_listener_unlink(l);
    free(l);
}

tm_status tm_vsock_dial_fd(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd)
{
    char name[128];
    return net->ops->dial(net, ep, fd, name, sizeof(name));
}

tm_status tm_vsock_dial(const tm_vsock_net *net, const tm_vsock_ep *ep, int io_timeout_ms, tm_conn **out)
{
    char name[128];
    int fd = -1;
    TM_TRY(net->ops->dial(net, ep, &fd, name, sizeof(name)));
    return tm_conn_from_fd(fd, name, io_timeout_ms, out);
}

int tm_vsock_connect_hook(void *ctx)
{
    const tm_vsock_target *t = ctx;
    if (!t || !t->net) {
        errno = EINVAL;
        return -1;
    }
    int fd = -1;
    if (tm_vsock_dial_fd(t->net, &t->ep, &fd) != TM_OK) {
        errno = ECONNREFUSED;
        return -1;
    }
    return fd;
}
