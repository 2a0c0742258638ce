/* How the HTTPS connection to KMS is carried. By default curl connects to the endpoint's
 * host. With a "connect via" hook curl is handed an already-connected stream socket
 * instead, while TLS (certificate chain and host name) stays that of the endpoint URL:
 * inside an enclave the stream is vsock to the parent's vsock-proxy (CID 3, port 8000),
 * in tests a loopback TCP port where the emulator listens. */
#ifndef TMKMS_AWS_NET_H
#define TMKMS_AWS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tmkms/error.h"

/* Returns a connected stream socket, or -1 with errno set. */
typedef int (*tm_aws_connect_fn)(void *ctx);

#define TM_VSOCK_PARENT_CID 3u
#define TM_VSOCK_PROXY_PORT 8000u

typedef enum { TM_VIA_NONE = 0, TM_VIA_TCP, TM_VIA_VSOCK } tm_via_kind;

/* A parsed "tcp:HOST:PORT" / "vsock:CID:PORT" target; `connect` + `ctx` for tm_kms_config. */
typedef struct {
    tm_via_kind kind;
    char host[256]; /* tcp: host name or address ([v6] brackets removed) */
    uint16_t port;
    uint32_t cid;   /* vsock */
} tm_aws_via;

/* "tcp:127.0.0.1:8443", "tcp:[::1]:8443", "vsock:3:8000" ("vsock" alone: 3:8000). */
tm_status tm_aws_via_parse(const char *spec, tm_aws_via *out);
/* The connect hook for a tm_aws_via (ctx = the tm_aws_via). */
int tm_aws_via_connect(void *ctx);

/* sockaddr_vm for CID:PORT, into `out` (at least sizeof(struct sockaddr_vm)). */
tm_status tm_vsock_addr(uint32_t cid, uint32_t port, struct sockaddr_storage *out, socklen_t *len);

#endif
