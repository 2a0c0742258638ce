/* The enclave's state store: the chain's state is made durable by the helper on the host.
 *
 * The enclave dials the helper's state port, asks for the chain's state
 * (StateLoadRequest/Response), then for every new state sends StatePersist{seq, state} and
 * waits for StateAck{seq}: the helper answers only once the state is on disk (write +
 * fdatasync). persist() returns TM_OK only after that ack, so the guard releases a
 * signature only when its state is durable on the host. A broken or silent helper fails
 * the persist (the signature is withheld) and the next persist dials again. A connection
 * that worked before and now breaks at once (the helper was restarted) is dialled again
 * within the same persist, once; a timeout is not retried.
 *
 * The host is untrusted and could hand back an older state. The enclave keeps the newest
 * state it saw acknowledged in memory and never goes below it while it runs; what the host
 * returns after an enclave restart is what the enclave starts from (see THREAT_MODEL.md). */
#ifndef TMKMS_NITRO_STATE_REMOTE_H
#define TMKMS_NITRO_STATE_REMOTE_H

#include "tmkms/nitro/vsock.h"
#include "tmkms/state.h"

/* Dial `ep` through `net` and load the chain's state into *loaded. timeout_ms bounds each
 * exchange (the persist round trip included). `net` must outlive the store. */
tm_status tm_remote_state_open(const tm_vsock_net *net, const tm_vsock_ep *ep, const char *chain_id, int timeout_ms,
                               tm_state_store **store, tm_sign_state *loaded);

#endif
