/* See link.h. Moved out of tmkms's service so the enclave serves its node with exactly the
 * same handshake, pin checks, backoff and failure logging. */
#include "tmkms/link.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tmkms/log.h"
#include "tmkms/metrics.h"
#include "tmkms/noise.h"
#include "tmkms/sdnotify.h"
#include "tmkms/secretconn.h"

/* Capped at 1 s: a starting CometBFT v0.38 node waits only ~3 s for its signer to dial in
 * before it gives up and exits, so a longer wait could keep a restarted node down. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

/* systemd STATUS= (sdnotify.h): the sessions up right now, across every link. Only
 * counted here (two lines in tm_link_run); read by the program's main loop. */
static atomic_uint connected;

unsigned tm_link_connected(void)
{
    return atomic_load(&connected);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Exponential backoff with +-25% jitter, so sentries restarting together do not dial in
 * lockstep. */
static unsigned next_backoff(unsigned *backoff_ms)
{
    unsigned base = *backoff_ms;
    unsigned jitter = base / 2 ? randombytes_uniform(base / 2) : 0;
    *backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
    return base - base / 4 + jitter;
}

/* Secret Connection; the node ID, when pinned, must match the peer's authenticated key
 * (compared in constant time). */
static tm_status secure_sc(const tm_link *link, tm_conn *raw, tm_conn **conn)
{
    uint8_t remote[32], id[TM_SC_NODE_ID_LEN];
    char hex[41], want[41];
    TM_TRY(tm_sc_handshake(raw, link->identity_seed, TM_LINK_NET_TIMEOUT_MS, conn, remote));
    tm_sc_node_id_raw(remote, id);
    tm_sc_node_id(remote, hex);
    if (link->pinned && sodium_memcmp(link->pin, id, sizeof(id)) != 0) {
        tm_conn_close(*conn);
        *conn = NULL;
        sodium_bin2hex(want, sizeof(want), link->pin, TM_SC_NODE_ID_LEN);
        return tm_err_set(TM_ERR_REFUSED, "%s: the node's ID is %s, not the pinned %s: not serving it", link->addr,
                          hex, want);
    }
    if (!link->pinned)
        tm_log_warn("conn", "[%s] %s: node %s is not pinned (use tcp://NODE_ID@host:port)", link->chain_id,
                    link->addr, hex);
    return TM_OK;
}

/* libp2p Noise; the pinned key is checked inside the handshake, before the node learns
 * our identity. */
static tm_status secure_noise(const tm_link *link, tm_conn *raw, tm_conn **conn)
{
    uint8_t remote[32];
    tm_status status = tm_noise_handshake(raw, link->identity_seed, true, link->pin, TM_LINK_NET_TIMEOUT_MS, conn,
                                          remote);
    if (status == TM_ERR_REFUSED) {
        char got[TM_NOISE_PEER_ID_SIZE], want[TM_NOISE_PEER_ID_SIZE];
        tm_noise_peer_id(remote, got);
        tm_noise_peer_id(link->pin, want);
        status = tm_err_set(status, "%s: the node's peer ID is %s, not the pinned %s: not serving it", link->addr,
                            got, want);
    }
    return status;
}

/* One connection; *failed_step names the step that failed (the metrics' reason label). */
static tm_status link_connect(const tm_link *link, tm_conn **conn, const char **failed_step)
{
    tm_conn *raw = NULL;
    *conn = NULL;
    *failed_step = "config";
    if (link->transport != TM_LINK_PLAIN)
        TM_ENSURE(link->identity_seed != NULL, TM_ERR_CONFIG,
                  "%s: needs an identity key (tcp:// and noise:// nodes authenticate this KMS)", link->addr);
    *failed_step = "dial";
    TM_TRY(link->dial_raw(link->dial_ctx, &raw));
    *failed_step = "handshake";
    switch (link->transport) {
    case TM_LINK_SECRET_CONNECTION: return secure_sc(link, raw, conn);
    case TM_LINK_NOISE: return secure_noise(link, raw, conn);
    default: *conn = raw; return TM_OK;
    }
}

tm_status tm_link_connect(const tm_link *link, tm_conn **conn)
{
    const char *step;
    return link_connect(link, conn, &step);
}

/* One validator connection's series (metrics.h), or all NULL when metrics are off. */
typedef struct {
    tm_gauge *connected;
    tm_counter *connections;
} link_metrics;

static void link_metrics_init(link_metrics *m, const tm_link *link)
{
    tm_labels l = {{"chain", "addr"}, {link->chain_id, link->addr}};
    m->connected = tm_metrics_gauge(tm_metrics_global(), "tmkms_validator_connected",
                                    "1 while the connection to this validator serves, else 0.", &l);
    m->connections = tm_metrics_counter(tm_metrics_global(), "tmkms_validator_connections_total",
                                        "Connections established to this validator (reconnects included).", &l);
}

/* A failed connection or a session that ended, by reason: dial, handshake,
 * pin_mismatch, closed_early, session_error. */
static void count_failure(const tm_link *link, const char *reason)
{
    tm_labels l = {{"chain", "addr", "reason"}, {link->chain_id, link->addr, reason}};
    tm_counter_add(tm_metrics_counter(tm_metrics_global(), "tmkms_validator_failures_total",
                                      "Connection failures by validator and reason.", &l),
                   1);
}

void tm_link_log_identity(const tm_link *link, const char *key_source)
{
    if (link->transport == TM_LINK_PLAIN || !link->identity_seed) return;
    uint8_t pub[32];
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!sk) return;
    char id[TM_NOISE_PEER_ID_SIZE];
    crypto_sign_seed_keypair(pub, sk, link->identity_seed);
    sodium_free(sk);
    bool sc = link->transport == TM_LINK_SECRET_CONNECTION;
    if (sc) tm_sc_node_id(pub, id);
    else tm_noise_peer_id(pub, id);
    tm_log_info("conn", "[%s] %s: this KMS's %s is %s (identity %s)", link->chain_id, link->addr,
                sc ? "node ID" : "peer ID", id, key_source);
}

/* What went wrong last with one validator connection: a failure that repeats is logged
 * once (then at debug level), a new one again, so a hostile or broken node cannot flood
 * the log and a change of cause is never hidden. */
typedef struct {
    char last[256];   /* "" while the connection is healthy */
    unsigned repeats; /* how many times in a row `last` happened again */
    bool in_session;  /* `last` ended a session (the handshake had succeeded) */
} failure_log;

void tm_link_stats_init(tm_link_stats *stats)
{
    atomic_init(&stats->connected, 0);
    atomic_init(&stats->sessions, 0);
    atomic_init(&stats->since, 0);
    pthread_mutex_init(&stats->lock, NULL);
    stats->last_error[0] = '\0';
}

void tm_link_stats_error(tm_link_stats *stats, char *out, size_t cap)
{
    pthread_mutex_lock(&stats->lock);
    snprintf(out, cap, "%s", stats->last_error);
    pthread_mutex_unlock(&stats->lock);
}

static void stats_state(const tm_link *link, int up)
{
    if (!link->stats) return;
    if (up) atomic_fetch_add(&link->stats->sessions, 1);
    atomic_store(&link->stats->connected, up);
    atomic_store(&link->stats->since, (int_fast64_t)time(NULL));
}

static void report_failure(failure_log *fl, const tm_link *link, bool error, bool in_session, const char *what)
{
    const char *msg = tm_err_msg();
    if (link->stats) {
        pthread_mutex_lock(&link->stats->lock);
        snprintf(link->stats->last_error, sizeof(link->stats->last_error), "%s: %s", what, msg);
        pthread_mutex_unlock(&link->stats->lock);
    }
    fl->in_session = in_session;
    if (strncmp(fl->last, msg, sizeof(fl->last) - 1) == 0) {
        fl->repeats++;
        tm_log_debug("conn", "[%s] %s %s (again): %s", link->chain_id, link->addr, what, msg);
        return;
    }
    snprintf(fl->last, sizeof(fl->last), "%s", msg);
    fl->repeats = 0;
    if (error)
        tm_log_error("conn", "[%s] %s %s: %s; retrying with backoff", link->chain_id, link->addr, what, msg);
    else
        tm_log_warn("conn", "[%s] %s %s: %s; retrying with backoff", link->chain_id, link->addr, what, msg);
}

void tm_link_run(const tm_link *link)
{
    unsigned backoff = BACKOFF_MIN_MS;
    failure_log fl = {"", 0, false};
    link_metrics lm;
    link_metrics_init(&lm, link);
    for (;;) {
        tm_conn *conn = NULL;
        const char *step = NULL;
        tm_status status = link_connect(link, &conn, &step);
        if (status == TM_ERR_CONFIG) {
            tm_log_error("conn", "%s", tm_err_msg());
            return;
        }
        if (status != TM_OK) {
            count_failure(link, status == TM_ERR_REFUSED ? "pin_mismatch" : step);
            /* A node that is not the pinned one is an error; one that is down, a warning. */
            report_failure(&fl, link, status == TM_ERR_REFUSED, false, "connection failed");
            sleep_ms(next_backoff(&backoff));
            continue;
        }
        /* Quiet only while a node keeps breaking every session the same way. */
        if (fl.in_session && fl.repeats > 0) tm_log_debug("conn", "[%s] connected to %s", link->chain_id, link->addr);
        else tm_log_info("conn", "[%s] connected to %s", link->chain_id, link->addr);
        uint64_t answered = 0;
        tm_counter_add(lm.connections, 1);
        tm_gauge_set(lm.connected, 1);
        atomic_fetch_add(&connected, 1); /* STATUS= (sdnotify.h) */
        stats_state(link, 1);
        status = tm_session_serve(&link->session, conn, &answered);
        stats_state(link, 0);
        atomic_fetch_sub(&connected, 1);
        tm_gauge_set(lm.connected, 0);
        tm_conn_close(conn);
        if (status != TM_ERR_EOF || answered == 0) count_failure(link, answered == 0 ? "closed_early" : "session_error");
        if (answered > 0) {
            /* A session that did work: the next outage starts afresh. One that broke before
             * its first answer keeps backing off, so a node that fails right after the
             * handshake is not redialled ten times a second. */
            backoff = BACKOFF_MIN_MS;
            fl.last[0] = '\0';
            fl.repeats = 0;
        }
        if (status == TM_ERR_EOF && answered > 0)
            tm_log_info("conn", "[%s] %s closed the connection", link->chain_id, link->addr);
        else if (status == TM_ERR_EOF)
            /* CometBFT's listeners close right after the handshake when they do not allow us. */
            report_failure(&fl, link, true, true,
                           link->early_close_hint ? link->early_close_hint
                                                  : "closed by the node before any request (does it allow this KMS's "
                                                    "identity?)");
        else
            report_failure(&fl, link, true, true, answered > 0 ? "session ended" : "session ended before any request");
        if (!link->reconnect) return;
        sleep_ms(next_backoff(&backoff));
    }
}
