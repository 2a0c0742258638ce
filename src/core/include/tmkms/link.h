/* The connection to one validator node, kept up for as long as the process serves: dial,
 * secure (Secret Connection or Noise with this KMS's identity, the node pinned), serve
 * the privval session, back off, dial again. `tmkms` runs one per [[validator]]; the
 * enclave runs one over its vsock stream (the helper relays the bytes to the node). */
#ifndef TMKMS_LINK_H
#define TMKMS_LINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/conn.h"
#include "tmkms/error.h"
#include "tmkms/session.h"

typedef enum {
    TM_LINK_PLAIN,             /* unix://: privval frames as they are */
    TM_LINK_SECRET_CONNECTION, /* tcp://: Tendermint Secret Connection */
    TM_LINK_NOISE,             /* noise://: libp2p Noise XX */
} tm_link_transport;

/* Connect and handshake within this long (see docs/TRANSPORTS.md). */
#define TM_LINK_NET_TIMEOUT_MS 10000

/* What `tmkms status` shows of one link; updated by tm_link_run, read by anyone. */
typedef struct {
    atomic_int connected;          /* 1 while a session serves */
    atomic_uint_fast64_t sessions; /* sessions started */
    atomic_int_fast64_t since;     /* Unix time the current state (up or down) began; 0: never up */
    pthread_mutex_t lock;          /* for last_error */
    char last_error[256];          /* the last failure ("" none) */
} tm_link_stats;

/* Initialise before the link runs. */
void tm_link_stats_init(tm_link_stats *stats);
/* A copy of last_error (cap bytes, always terminated). */
void tm_link_stats_error(tm_link_stats *stats, char *out, size_t cap);

typedef struct {
    const char *chain_id; /* for log lines */
    const char *addr;     /* the node's address as the operator wrote it, for log lines */
    tm_session session;
    /* The byte stream to the node (TCP, a Unix socket, vsock to the helper's relay).
     * TM_ERR_CONFIG means it can never work: the link gives up. */
    tm_status (*dial_raw)(void *ctx, tm_conn **raw);
    void *dial_ctx;
    tm_link_transport transport;
    const uint8_t *identity_seed; /* 32 bytes in locked memory; SC and Noise only */
    bool pinned;                  /* SC: pin = the node ID (20 bytes); Noise: always, its key */
    uint8_t pin[32];
    bool reconnect; /* false: one session, then return */
    /* What a close before the first request most likely means, for the log line (NULL:
     * the node does not allow this KMS's identity, as CometBFT's listeners do). */
    const char *early_close_hint;
    tm_link_stats *stats; /* NULL: not shown anywhere */
} tm_link;

/* Serve until the link gives up (a config error, or the session ended and !reconnect). */
void tm_link_run(const tm_link *link);

/* One connection: dial_raw, then the transport's handshake and pin check. */
tm_status tm_link_connect(const tm_link *link, tm_conn **conn);

/* Log the identity this KMS presents on the link (node ID for SC, peer ID for Noise). */
void tm_link_log_identity(const tm_link *link, const char *key_source);

#endif
