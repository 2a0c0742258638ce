/* vsock endpoints for the Nitro programs, and their simulation.
 *
 * Addresses. A vsock endpoint is (CID, port), both 32-bit. Text form "CID:PORT", with an
 * optional "vsock:" or "vsock://" prefix; CID may be "any" (VMADDR_CID_ANY, for
 * listeners). Formatting always writes "vsock:CID:PORT" ("vsock:any:PORT" for ANY).
 *
 * Who listens, who dials (the reference's roles, tmkms-light):
 *   config   5050  the enclave listens (any CID); the helper dials ENCLAVE_CID:5050
 *   state    5555  the helper listens;  the enclave dials 3:5555 (3 = the parent)
 *   node     5000  the helper listens;  the enclave dials 3:5000 (one stream per session)
 *   logs     6050  the helper listens;  the enclave dials 3:6050
 *   KMS      8000  the vsock-proxy listens; the enclave dials 3:8000 (TLS to KMS inside)
 *
 * A tm_vsock_net says how endpoints are reached:
 *   - real (tm_vsock_net_real): AF_VSOCK sockets.
 *   - simulated (tm_vsock_net_simulated, vsock_sim.c): every endpoint is a Unix stream
 *     socket in a directory DIR, named after the LISTENER's CID and port:
 *
 *         DIR/vsock-<cid>-<port>.sock        (decimal, no padding)
 *
 *     A simulated net has its own CID (`local_cid`). Listening on (ANY, port) or on
 *     (local_cid, port) binds DIR/vsock-<local_cid>-<port>.sock; dialling (cid, port)
 *     connects to DIR/vsock-<cid>-<port>.sock. So the simulated enclave (local CID 16 by
 *     default) listens on DIR/vsock-16-5050.sock, the helper (local CID 3, the parent)
 *     listens on DIR/vsock-3-5555.sock, vsock-3-5000.sock, vsock-3-6050.sock, and the KMS
 *     vsock-proxy on DIR/vsock-3-8000.sock. See docs/SIMULATION.md.
 *
 *     The simulated net lives in its own object file: a program that never calls
 *     tm_vsock_net_simulated (the production enclave) does not link it.
 */
#ifndef TMKMS_NITRO_VSOCK_H
#define TMKMS_NITRO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tmkms/conn.h"
#include "tmkms/error.h"

#define TM_VSOCK_CID_ANY 0xFFFFFFFFu   /* VMADDR_CID_ANY */
#define TM_VSOCK_CID_HYPERVISOR 0u
#define TM_VSOCK_CID_LOCAL 1u
#define TM_VSOCK_CID_HOST 2u
#define TM_VSOCK_CID_PARENT 3u          /* the parent instance, seen from an enclave */
#define TM_VSOCK_SIM_DEFAULT_ENCLAVE_CID 16u

/* Default ports of the host<->enclave protocol (the reference's numbers). */
#define TM_NITRO_PORT_CONFIG 5050u
#define TM_NITRO_PORT_STATE 5555u
#define TM_NITRO_PORT_NODE 5000u
#define TM_NITRO_PORT_LOGS 6050u
#define TM_NITRO_PORT_KMS_PROXY 8000u

typedef struct {
    uint32_t cid;
    uint32_t port;
} tm_vsock_ep;

/* "16:5050", "vsock:16:5050", "vsock://any:5050". Decimal only, no sign, no spaces. */
tm_status tm_vsock_ep_parse(const char *text, tm_vsock_ep *out);
/* "vsock:16:5050" into buf[cap]; TM_ERR_TOO_LARGE when it does not fit. */
tm_status tm_vsock_ep_format(const tm_vsock_ep *ep, char *buf, size_t cap);
/* A CID or port alone ("16", "5050"), for --cid and the config's numbers. */
tm_status tm_vsock_parse_u32(const char *text, const char *what, uint32_t *out);

/* The struct sockaddr_vm for `ep` into `out` (zeroed first; at least
 * sizeof(struct sockaddr_vm) = 16 bytes: family u16, reserved u16, port u32, cid u32,
 * zero padding), its length in *len. No socket is created. */
tm_status tm_vsock_sockaddr(const tm_vsock_ep *ep, struct sockaddr_storage *out, socklen_t *len);

/* ---- reaching endpoints ---- */

typedef struct tm_vsock_net tm_vsock_net;
typedef struct tm_vsock_listener tm_vsock_listener;

struct tm_vsock_net_ops {
    /* A bound, listening stream socket for `ep` (cid may be ANY); `name` gets a
     * description for log lines. Returns the fd or -1 with tm_err set. */
    tm_status (*listen)(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap);
    tm_status (*dial)(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd, char *name, size_t name_cap);
    /* Undo what listen left behind (the simulated socket file). May be NULL. */
    void (*unlisten)(const tm_vsock_net *net, const char *name);
};

struct tm_vsock_net {
    const struct tm_vsock_net_ops *ops;
    uint32_t local_cid;  /* simulated: this process's CID */
    char dir[96];        /* simulated: the socket directory ("" for real) */
};

/* AF_VSOCK. */
void tm_vsock_net_real(tm_vsock_net *out);
/* Unix sockets in `dir` (which must exist); `local_cid` as above. The directory path
 * must leave room for the longest name below sun_path's 108 bytes. */
tm_status tm_vsock_net_simulated(const char *dir, uint32_t local_cid, tm_vsock_net *out);
/* DIR/vsock-<cid>-<port>.sock into out[cap]. */
tm_status tm_vsock_sim_path(const char *dir, uint32_t cid, uint32_t port, char *out, size_t cap);
bool tm_vsock_net_is_simulated(const tm_vsock_net *net);

/* Listen on `ep`. */
tm_status tm_vsock_listen(const tm_vsock_net *net, const tm_vsock_ep *ep, tm_vsock_listener **out);
/* Wait up to wait_ms (-1: forever) for a connection; TM_ERR_TIMEOUT when none came.
 * The connection's reads and writes time out after io_timeout_ms (0: never). */
tm_status tm_vsock_accept(tm_vsock_listener *l, int wait_ms, int io_timeout_ms, tm_conn **out);
/* Same, the raw connected fd (for relays). */
tm_status tm_vsock_accept_fd(tm_vsock_listener *l, int wait_ms, int *fd);
/* The listening fd, for poll(); and the description ("vsock:any:5050" or the path). */
int tm_vsock_listener_fd(const tm_vsock_listener *l);
const char *tm_vsock_listener_name(const tm_vsock_listener *l);
/* Closes and, when simulated, removes the socket file. NULL is fine. */
void tm_vsock_listener_close(tm_vsock_listener *l);
/* Only removes the socket file when simulated; the listener stays open and allocated. For
 * a process about to _exit while other threads may still be in accept on it. NULL is fine. */
void tm_vsock_listener_unlink(const tm_vsock_listener *l);

/* Dial `ep`; TM_ERR_NOT_FOUND when nobody listens there (so callers can retry). */
tm_status tm_vsock_dial(const tm_vsock_net *net, const tm_vsock_ep *ep, int io_timeout_ms, tm_conn **out);
/* Same, the raw connected fd (for relays and curl's connect hook). */
tm_status tm_vsock_dial_fd(const tm_vsock_net *net, const tm_vsock_ep *ep, int *fd);

/* A connect hook for tm_kms_config.connect (tm_aws_connect_fn): ctx is a
 * tm_vsock_target. Returns a connected fd or -1 with errno set. */
typedef struct {
    const tm_vsock_net *net;
    tm_vsock_ep ep;
} tm_vsock_target;
int tm_vsock_connect_hook(void *ctx);

#endif
