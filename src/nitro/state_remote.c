/* See state_remote.h. Runs under the chain's lock (tm_chain_sign), so one exchange at a
 * time. */
#include "tmkms/nitro/state_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/guard.h"
#include "tmkms/log.h"
#include "tmkms/nitro/msg.h"

#define MOD "state"

typedef struct {
    tm_state_store base;
    const tm_vsock_net *net;
    tm_vsock_ep ep;
    char chain_id[TM_MAX_CHAIN_ID_LEN + 1];
    int timeout_ms;
    tm_conn *conn;
    uint64_t seq;
    bool have_acked;
    tm_sign_state acked; /* the newest state the helper acknowledged */
} remote_store;

static int compare_states(const tm_sign_state *a, const tm_sign_state *b)
{
    return tm_hrs_compare(a->height, a->round, a->step, b->height, b->round, b->step);
}

/* Dial and load: the helper's state for our chain into *loaded. */
static tm_status connect_and_load(remote_store *rs, tm_sign_state *loaded)
{
    tm_status status = TM_OK;
    tm_nitro_msg *resp = NULL;
    TM_TRY(tm_vsock_dial(rs->net, &rs->ep, rs->timeout_ms, &rs->conn));
    Tmkms__Nitro__StateLoadRequest req = TMKMS__NITRO__STATE_LOAD_REQUEST__INIT;
    req.chain_id = rs->chain_id;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST;
    m.state_load_request = &req;
    TM_TRY_GOTO(tm_nitro_send(rs->conn, &m));
    TM_TRY_GOTO(tm_nitro_recv_expect(rs->conn, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE, &resp));
    TM_TRY_GOTO(tm_nitro_state_from_msg(resp->state_load_response->state, loaded));
out:
    tm_nitro_msg_free(resp);
    if (status != TM_OK) {
        tm_conn_close(rs->conn);
        rs->conn = NULL;
    }
    return status;
}

/* After a reconnect: the host may have lost or rolled back what it acknowledged. The
 * enclave's memory is the authority while it runs; say so loudly. */
static void check_reloaded(const remote_store *rs, const tm_sign_state *host)
{
    if (rs->have_acked && compare_states(host, &rs->acked) < 0)
        tm_log_error(MOD,
                     "[%s] the helper's state %lld/%d/%s is older than the %lld/%d/%s it acknowledged: the host "
                     "lost or rolled back the state file; continuing from the enclave's own record",
                     rs->chain_id, (long long)host->height, host->round, tm_step_name(host->step),
                     (long long)rs->acked.height, rs->acked.round, tm_step_name(rs->acked.step));
}

static tm_status exchange(remote_store *rs, const tm_sign_state *state)
{
    tm_nitro_msg *resp = NULL;
    Tmkms__Nitro__SignState s;
    tm_nitro_state_to_msg(state, &s);
    Tmkms__Nitro__StatePersist p = TMKMS__NITRO__STATE_PERSIST__INIT;
    p.seq = ++rs->seq;
    p.state = &s;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST;
    m.state_persist = &p;
    TM_TRY(tm_nitro_send(rs->conn, &m));
    TM_TRY(tm_nitro_recv_expect(rs->conn, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK, &resp));
    uint64_t got = resp->state_ack->seq;
    tm_nitro_msg_free(resp);
    TM_ENSURE(got == p.seq, TM_ERR_INVALID, "state_ack.seq: %llu, expected %llu", (unsigned long long)got,
              (unsigned long long)p.seq);
    return TM_OK;
}

static tm_status reconnect(remote_store *rs)
{
    tm_sign_state host;
    tm_status status = connect_and_load(rs, &host);
    if (status != TM_OK) return tm_err_prefix(status, "helper state port: ");
    check_reloaded(rs, &host);
    tm_log_info(MOD, "[%s] reconnected to the helper's state store", rs->chain_id);
    return TM_OK;
}

static tm_status remote_persist(tm_state_store *store, const tm_sign_state *state)
{
    remote_store *rs = (remote_store *)store;
    bool reused = rs->conn != NULL;
    if (!reused) TM_TRY(reconnect(rs));
    tm_status status = exchange(rs, state);
    if (status != TM_OK) {
        tm_conn_close(rs->conn);
        rs->conn = NULL;
        /* A connection from before a helper restart is closed by a dead peer: the persist
         * breaks on it at once (EOF or EPIPE) although a new helper listens. Dial once more
         * and resend; nothing was released, and persisting the same state twice is harmless.
         * A silent helper (timeout) or a fresh connection failing is not retried. */
        if (reused && status != TM_ERR_TIMEOUT) {
            tm_log_info(MOD, "[%s] the state connection broke (%s); dialling the helper again", rs->chain_id,
                        tm_err_msg());
            TM_TRY(reconnect(rs));
            status = exchange(rs, state);
            if (status != TM_OK) {
                tm_conn_close(rs->conn);
                rs->conn = NULL;
            }
        }
        if (status != TM_OK) return tm_err_prefix(status, "helper did not acknowledge the state: ");
    }
    rs->acked = *state;
    rs->have_acked = true;
    return TM_OK;
}

static void remote_close(tm_state_store *store)
{
    remote_store *rs = (remote_store *)store;
    tm_conn_close(rs->conn);
    free(rs);
}

static const struct tm_state_store_ops remote_ops = {remote_persist, remote_close};

tm_status tm_remote_state_open(const tm_vsock_net *net, const tm_vsock_ep *ep, const char *chain_id, int timeout_ms,
                               tm_state_store **store, tm_sign_state *loaded)
{
    TM_ENSURE(strlen(chain_id) <= TM_MAX_CHAIN_ID_LEN, TM_ERR_INVALID, "chain id too long");
    remote_store *rs = calloc(1, sizeof(*rs));
    TM_ENSURE(rs, TM_ERR_NOMEM, "out of memory");
    rs->base.ops = &remote_ops;
    rs->net = net;
    rs->ep = *ep;
    snprintf(rs->chain_id, sizeof(rs->chain_id), "%s", chain_id);
    rs->timeout_ms = timeout_ms;
    tm_status status = connect_and_load(rs, loaded);
    if (status != TM_OK) {
        free(rs);
        return tm_err_prefix(status, "helper state port: ");
    }
    rs->acked = *loaded;
    rs->have_acked = true;
    *store = &rs->base;
    return TM_OK;
}
