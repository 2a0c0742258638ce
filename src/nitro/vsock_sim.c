/* The simulated vsock net: endpoints are Unix stream sockets DIR/vsock-<cid>-<port>.sock.
 * Kept apart from vsock.c so that the production enclave, which never calls
 * tm_vsock_net_simulated, does not contain it. See vsock.h and docs/SIMULATION.md. */
#include "tmkms/nitro/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

tm_status tm_vsock_sim_path(const char *dir, uint32_t cid, uint32_t port, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/vsock-%u-%u.sock", dir, (unsigned)cid, (unsigned)port);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "simulated vsock path under \"%.64s\" is too long", dir);
    return TM_OK;
}

static tm_status sim_addr(const tm_vsock_net *net, uint32_t cid, uint32_t port, struct sockaddr_un *addr, char *name,
                          size_t name_cap)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    TM_TRY(tm_vsock_sim_path(net->dir, cid, port, addr->sun_path, sizeof(addr->sun_path)));
    int n = snprintf(name, name_cap, "%s", addr->sun_path);
    TM_ENSURE(n > 0 && (size_t)n < name_cap, TM_ERR_TOO_LARGE, "simulated vsock name too long");
    return TM_OK;
}

/* A leftover socket file of an earlier run is removed; anything else at that path stays
 * and makes bind fail. */
static void remove_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
}

static tm_status sim_listen(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap)
{
    uint32_t cid = ep->cid == TM_VSOCK_CID_ANY ? net->local_cid : ep->cid;
    struct sockaddr_un addr;
    TM_TRY(sim_addr(net, cid, ep->port, &addr, name, name_cap));
    remove_stale(addr.sun_path);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(*fd >= 0, TM_ERR_IO, "%s: socket: %s", name, strerror(errno));
    if (bind(*fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(*fd, 16) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return tm_err_set(TM_ERR_IO, "%s: bind/listen: %s", name, strerror(err));
    }
    return TM_OK;
}

static tm_status sim_dial(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap)
{
    struct sockaddr_un addr;
    TM_TRY(sim_addr(net, ep->cid, ep->port, &addr, name, name_cap));
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(*fd >= 0, TM_ERR_IO, "%s: socket: %s", name, strerror(errno));
    if (connect(*fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return tm_err_set(err == ENOENT || err == ECONNREFUSED ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: connect: %s",
                          name, strerror(err));
    }
    return TM_OK;
}

static void sim_unlisten(const tm_vsock_net *net, const char *name)
{
    (void)net;
    remove_stale(name);
}

static const struct tm_vsock_net_ops sim_ops = {.listen = sim_listen, .dial = sim_dial, .unlisten = sim_unlisten};

tm_status tm_vsock_net_simulated(const char *dir, uint32_t local_cid, tm_vsock_net *out)
{
    memset(out, 0, sizeof(*out));
    TM_ENSURE(dir && *dir, TM_ERR_INVALID, "--simulate: empty directory");
    size_t len = strlen(dir);
    /* the longest name: "/vsock-4294967295-4294967295.sock" = 33 bytes */
    TM_ENSURE(len < sizeof(out->dir) && len + 34 <= sizeof(((struct sockaddr_un *)0)->sun_path), TM_ERR_INVALID,
              "--simulate %.64s: directory path too long for Unix socket names (at most %zu bytes)", dir,
              sizeof(((struct sockaddr_un *)0)->sun_path) - 34);
    struct stat st;
    TM_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), TM_ERR_NOT_FOUND, "--simulate %s: not a directory", dir);
    TM_ENSURE(local_cid != TM_VSOCK_CID_ANY, TM_ERR_INVALID, "--simulate: the local CID cannot be 'any'");
    memcpy(out->dir, dir, len + 1);
    out->local_cid = local_cid;
    out->ops = &sim_ops;
    return TM_OK;
}
