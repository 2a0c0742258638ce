/* The helper's side of the enclave's state store: it answers StateLoadRequest with the
 * chain's state from the state file and StatePersist with StateAck only after the core's
 * file store made the state durable (pwrite + fdatasync). It never lets the file go
 * backwards: a state below the one on disk is refused. One enclave connection at a time:
 * a new one replaces the old (an enclave that restarted dials again). */
#ifndef TMKMS_NITRO_HELPER_STATE_SERVER_H
#define TMKMS_NITRO_HELPER_STATE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tmkms/chain_metrics.h"
#include "tmkms/conn.h"
#include "tmkms/nitro/vsock.h"
#include "tmkms/state.h"

typedef struct {
    const char *chain_id;
    const char *path;       /* for log lines */
    tm_state_store *store;  /* the file store; this server's */
    pthread_mutex_t lock;   /* store, last, current */
    tm_sign_state last;     /* what the file holds */
    int current_fd;         /* the enclave's connection being served, -1 none */
    unsigned long persisted;
    /* What `status` and the metrics show; under lock. */
    unsigned long connections;      /* enclave state connections accepted */
    unsigned long persist_failures; /* persists refused or failed */
    char last_persist_error[256];
    int64_t last_new_unix; /* wall time of the last persisted state; 0 none since start */
    /* Metrics (NULL when off): the chain's series as `tmkms` names them (chain_metrics.h),
     * every persisted state counting as a signature of its step; the enclave's state
     * connection up (1/0) and its reconnections after the first. */
    tm_chain_metrics *metrics;
    tm_gauge *enclave_up;
    tm_counter *enclave_restarts;
} state_server;

/* Opens the chain's state file; TM_ERR_NOT_FOUND says how to create one. Its metrics go
 * into tm_metrics_global() (set before, or none). */
tm_status state_server_open(state_server *s, const char *path, const char *chain_id);
void state_server_close(state_server *s);

/* Accept loop on `l` (runs until the listener fails or is shut down). */
void state_server_run(state_server *s, tm_vsock_listener *l);

/* Serves one enclave stream that is already connected, on the calling thread, until it
 * ends: a StateLoadRequest answered, then StatePersists acknowledged once durable. A
 * failure other than TM_ERR_IO is sent to the enclave as an Error before returning it
 * (TM_ERR_EOF: the enclave closed the stream). `conn` stays open: the caller closes it.
 * state_server_run serves each accepted connection with it, on a thread of its own. */
tm_status state_server_serve(state_server *s, tm_conn *conn);

#endif
