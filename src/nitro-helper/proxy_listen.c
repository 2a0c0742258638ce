/* The vsock proxy's listening socket: AF_VSOCK on the parent (any CID, the enclave dials
 * CID 3), or in simulation the Unix socket that stands for parent port `port`.
 * Provisional: the simulation naming here (DIR/vsock-3-PORT.sock) is replaced by the
 * shared vsock module's mapping when it lands. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy.h"

#define PARENT_CID 3
#define LISTEN_BACKLOG 16

static tm_status listen_unix(const char *dir, uint32_t port, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vsock-%u-%u.sock", dir, PARENT_CID, port);
    TM_ENSURE(n > 0 && (size_t)n < sizeof(sa.sun_path), TM_ERR_INVALID, "simulation folder %s: path too long", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "socket: %s", strerror(errno));
    struct stat st;
    if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return tm_err_set(TM_ERR_IO, "listen on %s (vsock port %u in simulation): %s", sa.sun_path, port, strerror(e));
    }
    *out = fd;
    return TM_OK;
}

static tm_status listen_vsock(uint32_t port, int *out)
{
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "vsock socket: %s (is this a Nitro-enabled instance?)", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return tm_err_set(TM_ERR_IO, "listen on vsock port %u: %s", port, strerror(e));
    }
    *out = fd;
    return TM_OK;
}

tm_status proxy_listen(const char *sim_dir, uint32_t port, int *fd)
{
    return sim_dir != NULL ? listen_unix(sim_dir, port, fd) : listen_vsock(port, fd);
}
