/* The helper's own vsock proxy: the enclave's only way to AWS KMS. It listens on one
 * vsock port of the parent (8000 by default; the enclave dials CID 3) and relays every
 * connection, byte for byte, to one fixed TCP endpoint: kms.REGION.amazonaws.com:443.
 * The destination is chosen when the proxy starts and nothing the enclave sends can
 * change it (TLS runs end to end between the enclave and KMS). Connections are bounded
 * (num_workers at once; more are accepted and closed at once), idle ones are closed
 * after PROXY_IDLE_SECONDS, and a stop request shuts every connection down and joins its
 * thread before proxy_serve returns. */
#ifndef TMKMS_NITRO_HELPER_PROXY_H
#define TMKMS_NITRO_HELPER_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/link.h"
#include "tmkms/metrics.h"

#define PROXY_IDLE_SECONDS 300
#define PROXY_CONNECT_TIMEOUT_MS 5000
#define PROXY_HOST_MAX 128

/* What a proxy counts (optional): connections relaying now, the proxy's state as a link's
 * (status_doc.h) and the same into metrics series when they are set (NULL: none). Set up
 * with proxy_stats_init; read from any thread. */
typedef struct {
    _Atomic int64_t relaying; /* connections relaying now */
    /* connected: relaying > 0; sessions: destination connections made; since: when
     * relaying last went from 0 to 1 or back (0: never); last_error: the last failure to
     * reach the destination, "" once a connection relays again. The proxy changes them
     * under link.lock. */
    tm_link_stats link;
    tm_gauge *connected;     /* relaying now */
    tm_counter *connections; /* destination connections made */
} proxy_stats;

/* Zero counts, no metrics series. */
void proxy_stats_init(proxy_stats *stats);

typedef struct {
    int listen_fd;      /* listening stream socket (vsock, or Unix in simulation) */
    char host[PROXY_HOST_MAX + 1]; /* the one destination */
    char port[8];
    char unix_path[108]; /* instead of host:port when set: a Unix socket (the node's) */
    uint32_t max_conns;
    int stop_fd;        /* becomes readable (or hung up) when the proxy must stop */
    int idle_seconds;   /* 0: PROXY_IDLE_SECONDS; < 0: never idle (the node relay) */
    const char *log_name; /* the module of its log lines; NULL: "vsock-proxy" */
    proxy_stats *stats;   /* NULL: not counted */
} proxy_opts;

/* Serves until stop_fd is readable; TM_OK then. Errors only when accepting fails for
 * good (the listening socket is closed by the caller). */
tm_status proxy_serve(const proxy_opts *opts);

/* Parses a simulation target "HOST:PORT" / "[V6]:PORT": HOST must be a loopback IP
 * literal (127.0.0.0/8 or ::1), PORT 1..65535. Anything else is TM_ERR_INVALID: the
 * simulated proxy cannot be pointed off this machine. */
tm_status proxy_parse_loopback_target(const char *text, char host[PROXY_HOST_MAX + 1], char port[8]);

#endif
