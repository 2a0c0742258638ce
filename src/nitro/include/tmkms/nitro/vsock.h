/* vsock endpoints between the parent instance and its Nitro enclave, and their
 * simulation on machines without Nitro.
 *
 * An address is a context ID (CID) and a port. The enclave listens on CID "any"; the
 * parent instance is CID 3 as the enclave sees it. In production the sockets are AF_VSOCK.
 * In simulation (`--simulate DIR`) every endpoint is a Unix socket in DIR named
 * `vsock-<CID>-<PORT>.sock`: a listener binds the name of its own CID, a dialler connects
 * to the name of the CID it dials, so the helper (CID 3) and a simulated enclave (its CID,
 * e.g. 16) find each other exactly as over vsock. Nothing else changes between the two. */
#ifndef TMKMS_NITRO_VSOCK_H
#define TMKMS_NITRO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "tmkms/conn.h"
#include "tmkms/error.h"

#define TM_VSOCK_CID_ANY 0xFFFFFFFFu /* VMADDR_CID_ANY: listen on every CID */
#define TM_VSOCK_CID_HOST 2u         /* VMADDR_CID_HOST */
#define TM_VSOCK_CID_PARENT 3u       /* the parent instance, seen from a Nitro enclave */
#define TM_VSOCK_ADDR_STRLEN 32      /* "vsock://4294967295:4294967295" + NUL */

typedef struct {
    uint32_t cid;
    uint32_t port;
} tm_vsock_addr;

/* "vsock://CID:PORT" or "CID:PORT"; CID a number or "any". Ports 1..0xFFFFFFFE. */
tm_status tm_vsock_addr_parse(const char *text, tm_vsock_addr *out);
void tm_vsock_addr_format(const tm_vsock_addr *a, char out[TM_VSOCK_ADDR_STRLEN]);

/* The kernel's struct sockaddr_vm for `a`, as bytes (16 bytes: family AF_VSOCK,
 * reserved, port, cid, flags/zero), so the layout is tested without a vsock socket. */
#define TM_VSOCK_SOCKADDR_LEN 16
void tm_vsock_sockaddr(const tm_vsock_addr *a, uint8_t out[TM_VSOCK_SOCKADDR_LEN]);

/* Where endpoints live: sim_dir NULL means real vsock; otherwise the simulation
 * directory, with own_cid the CID this process plays (3 for the helper). */
typedef struct {
    const char *sim_dir;
    uint32_t own_cid;
} tm_vsock_ctx;

/* The Unix socket path that stands for CID:PORT in a simulation directory. */
tm_status tm_vsock_sim_path(const char *dir, uint32_t cid, uint32_t port, char *out, size_t cap);

/* Listen on `port` (any CID in production; own_cid's name in simulation). */
tm_status tm_vsock_listen(const tm_vsock_ctx *ctx, uint32_t port, int *lfd);
/* Accept one connection within timeout_ms (<= 0: wait for ever); per-read/write timeout
 * io_timeout_ms on the result (0: none). */
tm_status tm_vsock_accept(int lfd, int timeout_ms, int io_timeout_ms, tm_conn **out);
tm_status tm_vsock_dial(const tm_vsock_ctx *ctx, const tm_vsock_addr *to, int io_timeout_ms, tm_conn **out);
/* Stop listening; in simulation also remove the socket file. */
void tm_vsock_close_listener(const tm_vsock_ctx *ctx, uint32_t port, int lfd);

#endif
