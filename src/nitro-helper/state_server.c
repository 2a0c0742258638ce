/* See state_server.h. */
#include "state_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/clock.h"
#include "tmkms/guard.h"
#include "tmkms/log.h"
#include "tmkms/nitro/msg.h"

#define MOD "state"

typedef struct {
    state_server *s;
    tm_conn *conn;
    int fd;
} state_conn;

tm_status state_server_open(state_server *s, const char *path, const char *chain_id)
{
    memset(s, 0, sizeof(*s));
    s->chain_id = chain_id;
    s->path = path;
    s->current_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    tm_status status = tm_state_file_open(path, chain_id, &s->store, &s->last);
    if (status == TM_ERR_NOT_FOUND)
        return tm_err_set(
            status,
            "no state file at %s; refusing to start from an unknown state. If this key has never "
            "signed on chain '%s', create it with tmkms-nitro-helper init --chain-id %s (or import "
            "the node's priv_validator_state.json with tmkms state import)",
            path, chain_id, chain_id);
    if (status != TM_OK) return tm_err_prefix(status, "state file %s: ", path);
    tm_metrics *metrics = tm_metrics_global();
    /* Refusals are the enclave's (its guard refuses; a persist refused here is one of its
     * refusals too): the helper mirrors them from its metrics reports (metrics_mirror.c). */
    s->metrics = tm_chain_metrics_new_ex(metrics, chain_id, TM_CHAIN_METRICS_NO_REFUSALS);
    tm_chain_metrics_last(s->metrics, &s->last);
    s->enclave_up =
        tm_metrics_gauge(metrics, "tmkms_nitro_enclave_up",
                         "1 while the enclave's state connection to the helper is established.", NULL);
    s->enclave_restarts =
        tm_metrics_counter(metrics, "tmkms_nitro_enclave_restarts_total",
                           "Times the enclave connected to the helper's state port again after its first "
                           "connection (an enclave restart or a reconnection).",
                           NULL);
    tm_gauge_set(s->enclave_up, 0);
    return TM_OK;
}

/* A persisted state is a new signature of its step (the enclave releases it after the ack). */
static void record_new(state_server *s, const tm_sign_state *next, uint64_t ns)
{
    s->last_new_unix = (int64_t)time(NULL);
    tm_chain_metrics_persisted(s->metrics, ns);
    if (next->step >= TM_STEP_PROPOSE && next->step <= TM_STEP_PRECOMMIT)
        tm_chain_metrics_signed(s->metrics,
                                (tm_signed_kind)(TM_SIGNED_PROPOSAL + (next->step - TM_STEP_PROPOSE)));
    tm_chain_metrics_last(s->metrics, next);
    tm_chain_metrics_new_state(s->metrics, s->last_new_unix);
}

void state_server_close(state_server *s)
{
    if (s->store) s->store->ops->close(s->store);
    s->store = NULL;
    tm_chain_metrics_free(s->metrics);
    s->metrics = NULL;
    pthread_mutex_destroy(&s->lock);
}

static tm_status send_ack(tm_conn *conn, uint64_t seq)
{
    Tmkms__Nitro__StateAck a = TMKMS__NITRO__STATE_ACK__INIT;
    a.seq = seq;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_STATE_ACK;
    m.state_ack = &a;
    return tm_nitro_send(conn, &m);
}

static tm_status answer_load(state_conn *c, const Tmkms__Nitro__StateLoadRequest *req)
{
    state_server *s = c->s;
    TM_ENSURE(strcmp(req->chain_id, s->chain_id) == 0, TM_ERR_REFUSED,
              "the enclave asked for chain '%s', this helper serves '%s'", req->chain_id, s->chain_id);
    pthread_mutex_lock(&s->lock);
    tm_sign_state last = s->last;
    pthread_mutex_unlock(&s->lock);
    Tmkms__Nitro__SignState st;
    tm_nitro_state_to_msg(&last, &st);
    Tmkms__Nitro__StateLoadResponse r = TMKMS__NITRO__STATE_LOAD_RESPONSE__INIT;
    r.state = &st;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE;
    m.state_load_response = &r;
    tm_log_info(MOD, "[%s] enclave loaded state %lld/%d/%s", s->chain_id, (long long)last.height, last.round,
                tm_step_name(last.step));
    return tm_nitro_send(c->conn, &m);
}

/* Durable first, then the ack. */
static tm_status persist(state_conn *c, const Tmkms__Nitro__StatePersist *p)
{
    state_server *s = c->s;
    tm_sign_state next;
    TM_TRY(tm_nitro_state_from_msg(p->state, &next)); /* validated already; converts */
    pthread_mutex_lock(&s->lock);
    tm_status status = TM_OK;
    if (tm_hrs_compare(next.height, next.round, next.step, s->last.height, s->last.round, s->last.step) < 0) {
        status = tm_err_set(TM_ERR_DOUBLE_SIGN,
                            "state_persist.state %lld/%d/%s is below the file's %lld/%d/%s (a regression)",
                            (long long)next.height, next.round, tm_step_name(next.step),
                            (long long)s->last.height, s->last.round, tm_step_name(s->last.step));
    }
    uint64_t t0 = 0;
    if (status == TM_OK) {
        if (s->metrics) t0 = tm_monotonic_ns(); /* no clock read when nobody looks */
        status = s->store->ops->persist(s->store, &next);
    }
    if (status == TM_OK) {
        s->last = next;
        s->persisted++;
        record_new(s, &next, s->metrics ? tm_monotonic_ns() - t0 : 0);
    } else {
        s->persist_failures++;
        snprintf(s->last_persist_error, sizeof(s->last_persist_error), "%s", tm_err_msg());
    }
    pthread_mutex_unlock(&s->lock);
    if (status != TM_OK)
        return tm_err_prefix(status, "not persisted (the enclave withholds the signature): ");
    return send_ack(c->conn, p->seq);
}

static tm_status serve_one(state_conn *c)
{
    tm_nitro_msg *m = NULL;
    TM_TRY(tm_nitro_recv_expect(c->conn, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST, &m));
    tm_status status = answer_load(c, m->state_load_request);
    tm_nitro_msg_free(m);
    while (status == TM_OK) {
        status = tm_nitro_recv_expect(c->conn, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST, &m);
        if (status != TM_OK) break;
        status = persist(c, m->state_persist);
        tm_nitro_msg_free(m);
    }
    return status;
}

tm_status state_server_serve(state_server *s, tm_conn *conn)
{
    state_conn c = {.s = s, .conn = conn, .fd = -1};
    tm_status status = serve_one(&c);
    if (status == TM_ERR_EOF) {
        tm_log_info(MOD, "[%s] the enclave closed the state connection", s->chain_id);
    } else {
        tm_log_error(MOD, "[%s] state connection: %s", s->chain_id, tm_err_msg());
        if (status != TM_ERR_IO) tm_nitro_send_error(conn, status, tm_err_msg());
    }
    return status;
}

static void *conn_main(void *arg)
{
    state_conn *c = arg;
    state_server_serve(c->s, c->conn);
    pthread_mutex_lock(&c->s->lock);
    if (c->s->current_fd == c->fd) {
        c->s->current_fd = -1;
        tm_gauge_set(c->s->enclave_up, 0);
    }
    pthread_mutex_unlock(&c->s->lock);
    tm_conn_close(c->conn);
    free(c);
    return NULL;
}

void state_server_run(state_server *s, tm_vsock_listener *l)
{
    for (;;) {
        int fd = -1;
        tm_status status = tm_vsock_accept_fd(l, -1, &fd);
        if (status == TM_ERR_TIMEOUT) continue;
        if (status != TM_OK) {
            tm_log_error(MOD, "state port: %s", tm_err_msg());
            return;
        }
        state_conn *c = calloc(1, sizeof(*c));
        if (!c || tm_conn_from_fd(fd, tm_vsock_listener_name(l), 0, &c->conn) != TM_OK) {
            tm_log_error(MOD, "state port: out of memory");
            free(c);
            continue;
        }
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->lock);
        /* The enclave dials again when it restarts or a persist failed: the old stream is
         * dead or abandoned, so unblock its thread. */
        if (s->current_fd >= 0) shutdown(s->current_fd, SHUT_RDWR);
        s->current_fd = fd;
        if (s->connections++ > 0) tm_counter_add(s->enclave_restarts, 1);
        tm_gauge_set(s->enclave_up, 1);
        pthread_mutex_unlock(&s->lock);
        pthread_t tid;
        if (pthread_create(&tid, NULL, conn_main, c) != 0) {
            tm_log_error(MOD, "state port: cannot start a thread");
            tm_conn_close(c->conn);
            free(c);
            continue;
        }
        pthread_detach(tid);
    }
}
