/* tmkms-nitro-helper start: the host side of a running enclave.
 *
 *   1. listens on the parent's vsock ports: state (enclave_state_port), node relay
 *      (enclave_tendermint_conn) and logs (--log-port, 6050);
 *   2. pushes the config to the enclave's config port (enclave_config_cid:port): chain,
 *      sealed keys, transport and pin, ports, region and credentials;
 *   3. serves: durable state for the enclave (state_server.c), bytes between the enclave
 *      and the node (proxy.c; for tcp:// and noise:// the bytes are the enclave's
 *      ciphertext), the enclave's log lines (log_receiver.c);
 *   4. every --repush-seconds sends the config again, so an enclave that restarted with
 *      the same CID is serving again without the operator (the enclave answers a repeat
 *      of its current config as done).
 * With --metrics ADDR: Prometheus metrics of what the helper observes (the chain's
 * signatures as the enclave persists them, persist latency, the enclave's connection, the
 * node relay) and the enclave's own (refusals, signing latency, KMS calls, its process),
 * mirrored from the reports it sends on the log port (metrics_mirror.c). Always: the status socket
 * (HELPER_STATUS_SOCKET beside the state file) that `tmkms-nitro-helper status` reads. SIGTERM/SIGINT: waits
 * for a persist in progress, exits 0. */
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enclave_link.h"
#include "helper.h"
#include "log_receiver.h"
#include "proxy.h"
#include "signal_pipe.h"
#include "state_server.h"
#include "tmkms/clock.h"
#include "tmkms/log.h"
#include "tmkms/metrics.h"
#include "tmkms/noise.h"
#include "tmkms/sdnotify.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"
#include "tmkms/status_doc.h"
#include "tmkms/status_socket.h"

#define MOD "helper"
#define STATUS_POLL_MS 1000

typedef struct {
    const char *config_path, *sim_dir, *metrics_addr;
    uint32_t cid, log_port, kms_proxy_port;
    bool cid_given, no_extensions;
    int log_level; /* the default tm_log_level, pushed to the enclave; -1: not given */
    unsigned repush_s, boot_wait_s;
} start_args;

typedef struct {
    tm_nitro_config *cfg;
    tm_vsock_net net;
    Tmkms__Nitro__Transport transport;
    char peer_id[TM_NITRO_MAX_PEER_ID + 1];
    uint8_t *sealed, *sealed_id;
    size_t sealed_len, sealed_id_len;
    state_server state;
    tm_vsock_listener *state_l, *node_l, *log_l;
    proxy_opts relay;
    proxy_stats relay_stats;
    int relay_stop[2];
    uint32_t cid;
    int64_t started;
    tm_metrics *metrics;
    tm_metrics_server *metrics_server;
    metrics_mirror *mirror; /* the enclave's series, from its reports on the log port */
    int shown_connected;    /* what the last STATUS= said of the node relay; -1 none yet */
    bool repush_failed;     /* the last config repush failed */
} helper_run;

static void start_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms-nitro-helper start [-c tmkms.toml] [--cid N] [-v] [options]\n\n"
                 "Pushes the config to the enclave and serves it: the chain's state (made durable here\n"
                 "before the enclave releases a signature), the node connection (bytes relayed between\n"
                 "the enclave and `address`), and the enclave's log lines.\n\n"
                 "Options:\n"
                 "  -c, --config FILE       tmkms.toml (default ./tmkms.toml)\n"
                 "      --cid N             the enclave's CID (default: enclave_config_cid)\n"
                 "      --log-port N        vsock port for the enclave's logs (default 6050)\n"
                 "      --kms-proxy-port N  the vsock-proxy port the enclave reaches KMS through\n"
                 "                          (default 8000)\n"
                 "      --no-extensions     do not sign vote extensions (default: sign them)\n"
                 "      --repush-seconds S  resend the config this often (default 10; 0: never)\n"
                 "      --boot-wait S       how long the first config push keeps dialing an enclave\n"
                 "                          that boots or restarts (default 120)\n"
                 "      --simulate DIR      simulation: vsock endpoints are DIR/vsock-<cid>-<port>.sock\n"
                 "      --log-level SPEC    error, warn, info (default) or debug, for the helper and the\n"
                 "                          enclave; levels per module for the helper's own lines:\n"
                 "                          info,state=debug,node-relay=warn (the enclave gets the\n"
                 "                          default level)\n"
                 "      --log-format F      human (default) or json (one object per line: ts, level,\n"
                 "                          module, chain, msg; the enclave's forwarded lines too,\n"
                 "                          with source \"enclave\" and its source_ts)\n"
                 "      --metrics ADDR      serve Prometheus metrics on http://ADDR/metrics\n"
                 "                          (e.g. 127.0.0.1:9465; default: off)\n"
                 "  -v, --verbose           --log-level debug\n"
                 "  -h, --help              this help\n\n"
                 "Credentials for KMS: [credentials] in tmkms.toml, else AWS_ACCESS_KEY_ID and\n"
                 "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the instance role via IMDSv2.\n\n"
                 "Under systemd (Type=notify): READY=1 once the enclave serves, STATUS= with the\n"
                 "enclave's CID and whether a validator is connected, WATCHDOG=1 from the main loop\n"
                 "while the state lock can be taken (WatchdogSec=), STOPPING=1 on a termination signal.\n");
}

static int parse_start_args(int argc, char **argv, start_args *a)
{
    enum { O_CID = 256, O_LOG, O_KMS, O_NOEXT, O_REPUSH, O_BOOT, O_SIM, O_LEVEL, O_FORMAT, O_METRICS };
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"cid", required_argument, NULL, O_CID},
                                          {"log-port", required_argument, NULL, O_LOG},
                                          {"kms-proxy-port", required_argument, NULL, O_KMS},
                                          {"no-extensions", no_argument, NULL, O_NOEXT},
                                          {"repush-seconds", required_argument, NULL, O_REPUSH},
                                          {"boot-wait", required_argument, NULL, O_BOOT},
                                          {"simulate", required_argument, NULL, O_SIM},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"log-level", required_argument, NULL, O_LEVEL},
                                          {"log-format", required_argument, NULL, O_FORMAT},
                                          {"metrics", required_argument, NULL, O_METRICS},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    uint32_t v = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:vh", longs, NULL)) != -1) {
        tm_status st = TM_OK;
        switch (c) {
        case 'c': a->config_path = optarg; break;
        case O_CID:
            st = tm_vsock_parse_u32(optarg, "--cid", &a->cid);
            a->cid_given = true;
            break;
        case O_LOG: st = tm_vsock_parse_u32(optarg, "--log-port", &a->log_port); break;
        case O_KMS: st = tm_vsock_parse_u32(optarg, "--kms-proxy-port", &a->kms_proxy_port); break;
        case O_NOEXT: a->no_extensions = true; break;
        case O_REPUSH:
            st = tm_vsock_parse_u32(optarg, "--repush-seconds", &v);
            a->repush_s = v;
            break;
        case O_BOOT:
            st = tm_vsock_parse_u32(optarg, "--boot-wait", &v);
            a->boot_wait_s = v;
            break;
        case O_SIM: a->sim_dir = optarg; break;
        case O_METRICS: a->metrics_addr = optarg; break;
        case 'v':
            a->log_level = TM_LOG_DEBUG;
            tm_log_set_level(TM_LOG_DEBUG);
            break;
        case O_LEVEL: {
            char why[160];
            if (tm_log_set_spec(optarg, why, sizeof(why)) != 0)
                st = tm_err_set(TM_ERR_INVALID, "--log-level: %s", why);
            else
                a->log_level = (int)tm_log_get_level();
            break;
        }
        case O_FORMAT: {
            int format = tm_log_parse_format(optarg);
            if (format < 0)
                st = tm_err_set(TM_ERR_INVALID, "--log-format: '%s' is not human or json", optarg);
            else
                tm_log_set_format((tm_log_format)format);
            break;
        }
        case 'h': start_usage(stdout); return -1;
        default: start_usage(stderr); return HELPER_EXIT_USAGE;
        }
        if (st != TM_OK) {
            fprintf(stderr, "tmkms-nitro-helper start: %s\n", tm_err_msg());
            return HELPER_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tmkms-nitro-helper start: unexpected argument '%s'\n", argv[optind]);
        return HELPER_EXIT_USAGE;
    }
    return 0;
}

/* The address's transport, pin and where the relay connects. */
static tm_status node_target(helper_run *h)
{
    const char *addr = h->cfg->address;
    char host[256], port[8];
    memset(&h->relay, 0, sizeof(h->relay));
    if (strncmp(addr, "unix://", 7) == 0) {
        h->transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_PLAIN;
        TM_ENSURE(strlen(addr + 7) > 0 && strlen(addr + 7) < sizeof(h->relay.unix_path), TM_ERR_CONFIG,
                  "%s: address: the socket path must be 1..107 bytes", h->cfg->path);
        snprintf(h->relay.unix_path, sizeof(h->relay.unix_path), "%s", addr + 7);
        return TM_OK;
    }
    if (strncmp(addr, "tcp://", 6) == 0) {
        bool pinned;
        uint8_t id[TM_SC_NODE_ID_LEN];
        TM_ENSURE(tm_sc_parse_addr(addr, &pinned, id, host, port) == TM_OK, TM_ERR_CONFIG, "%s: address: %s",
                  h->cfg->path, tm_err_msg());
        h->transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION;
        if (pinned) sodium_bin2hex(h->peer_id, sizeof(h->peer_id), id, sizeof(id));
    } else {
        uint8_t pin[32];
        TM_ENSURE(tm_noise_parse_addr(addr, pin, host, port) == TM_OK, TM_ERR_CONFIG, "%s: address: %s",
                  h->cfg->path, tm_err_msg());
        h->transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE;
        tm_noise_peer_id(pin, h->peer_id);
    }
    TM_ENSURE(strlen(host) < sizeof(h->relay.host), TM_ERR_CONFIG, "%s: address: host name too long",
              h->cfg->path);
    memcpy(h->relay.host, host, strlen(host) + 1);
    snprintf(h->relay.port, sizeof(h->relay.port), "%s", port);
    return TM_OK;
}

static tm_status listen_port(helper_run *h, uint32_t port, tm_vsock_listener **l)
{
    tm_vsock_ep ep = {h->net.dir[0] ? TM_VSOCK_CID_PARENT : TM_VSOCK_CID_ANY, port};
    return tm_vsock_listen(&h->net, &ep, l);
}

static tm_status push_config(helper_run *h, const start_args *a, int wait_ms, uint8_t pub[32])
{
    tm_status status = TM_OK;
    tm_aws_credentials *creds = NULL;
    const char *source = "";
    tm_nitro_msg *resp = NULL;
    TM_TRY_GOTO(tm_aws_credentials_new(&creds));
    TM_TRY_GOTO(helper_credentials(h->cfg, creds, &source));
    Tmkms__Nitro__AwsCredentials c;
    helper_credentials_msg(creds, &c);
    Tmkms__Nitro__StartRequest r = TMKMS__NITRO__START_REQUEST__INIT;
    r.chain_id = h->cfg->chain_id;
    r.max_height = h->cfg->max_height;
    r.sealed_consensus_key = (ProtobufCBinaryData){h->sealed_len, h->sealed};
    r.sealed_identity_key = (ProtobufCBinaryData){h->sealed_id_len, h->sealed_id};
    r.transport = h->transport;
    r.peer_id = h->peer_id;
    r.state_port = h->cfg->enclave_state_port;
    r.node_port = h->cfg->enclave_tendermint_conn;
    r.log_port = a->log_port;
    r.aws_region = h->cfg->aws_region;
    r.credentials = &c;
    r.kms_proxy_port = a->kms_proxy_port;
    r.sign_extensions = !a->no_extensions;
    r.log_level = a->log_level >= 0 ? (uint32_t)a->log_level + 1 : 0;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_START_REQUEST;
    m.start_request = &r;
    tm_log_debug(MOD, "pushing the config to the enclave (credentials from %s)", source);
    /* Unsealing takes two KMS round trips through the proxy: allow a minute. */
    TM_TRY_GOTO(helper_enclave_call(&h->net, a->cid, h->cfg->enclave_config_port, &m,
                                    TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE, wait_ms, 60000, &resp));
    memcpy(pub, resp->start_response->consensus_pubkey.data, 32);
out:
    tm_nitro_msg_free(resp);
    tm_aws_credentials_free(creds);
    return status;
}

static void *state_main(void *arg)
{
    helper_run *h = arg;
    state_server_run(&h->state, h->state_l);
    return NULL;
}

static void *log_main(void *arg)
{
    helper_run *h = arg;
    log_receiver_run(h->log_l, h->mirror);
    return NULL;
}

static void *relay_main(void *arg)
{
    helper_run *h = arg;
    if (proxy_serve(&h->relay) != TM_OK) tm_log_error(MOD, "node relay: %s", tm_err_msg());
    return NULL;
}

/* ---- the status document (`tmkms-nitro-helper status`) ---- */

/* What the status shows of the state server, copied under its lock. */
typedef struct {
    tm_sign_state last;
    bool up; /* the enclave's state connection */
    unsigned long connections, persist_failures, persisted;
    int64_t last_new_unix;
    char persist_error[sizeof(((state_server *)NULL)->last_persist_error)];
} state_view;

static void state_snapshot(state_server *s, state_view *v)
{
    pthread_mutex_lock(&s->lock);
    v->last = s->last;
    v->up = s->current_fd >= 0;
    v->connections = s->connections;
    v->persist_failures = s->persist_failures;
    v->persisted = s->persisted;
    v->last_new_unix = s->last_new_unix;
    memcpy(v->persist_error, s->last_persist_error, sizeof(v->persist_error));
    pthread_mutex_unlock(&s->lock);
}

/* The chain object (status_doc.h) and the helper's "persisted"; NULL on allocation failure. */
static json_t *chain_status(const helper_run *h, const state_view *v, int64_t now)
{
    tm_status_chain_info info = {.id = h->cfg->chain_id,
                                 .last = v->last,
                                 .persist_failures = v->persist_failures,
                                 .last_new_unix = v->last_new_unix,
                                 .persist_error = v->persist_error};
    json_t *chain = tm_status_doc_chain(&info, now);
    if (json_object_set_new(chain, "persisted", json_integer((json_int_t)v->persisted)) != 0) {
        json_decref(chain);
        return NULL;
    }
    return chain;
}

/* The document's arrays and "enclave"; false on allocation failure (doc keeps what was
 * added). set_new and append_new take their value, also when they fail. */
static bool add_entries(helper_run *h, json_t *doc, int64_t now)
{
    state_view v;
    state_snapshot(&h->state, &v);
    json_t *chains = tm_status_doc_add_array(doc, "chains"); /* borrowed: doc owns it */
    if (!chains || json_array_append_new(chains, chain_status(h, &v, now)) != 0) return false;
    json_t *enclave = json_pack("{s:I, s:b, s:I}", "cid", (json_int_t)h->cid, "up", v.up, "connections",
                                (json_int_t)v.connections);
    if (json_object_set_new(doc, "enclave", enclave) != 0) return false;
    json_t *validators = tm_status_doc_add_array(doc, "validators"); /* borrowed */
    if (!validators) return false;
    json_t *relay = tm_status_doc_validator(h->cfg->chain_id, h->cfg->address, &h->relay_stats.link, now);
    return json_array_append_new(validators, relay) == 0;
}

static char *render_status(void *ctx)
{
    helper_run *h = ctx;
    int64_t now = (int64_t)time(NULL);
    json_t *doc = tm_status_doc_head("tmkms-nitro-helper", h->started, now);
    char *text = add_entries(h, doc, now) ? tm_status_doc_dump(doc) : NULL;
    json_decref(doc);
    return text;
}

/* A status socket that cannot be made is not a reason to stop serving the enclave. */
static void start_status(helper_run *h)
{
    char path[256];
    if (tm_status_socket_path_beside(h->cfg->state_file_path, HELPER_STATUS_SOCKET, path, sizeof(path)) !=
            TM_OK ||
        tm_status_server_start(path, render_status, h) != TM_OK) {
        tm_log_warn(MOD, "no status socket: %s", tm_err_msg());
        return;
    }
    tm_log_info(MOD, "status socket %s", path);
}

static tm_status prepare(helper_run *h, const start_args *a)
{
    TM_TRY(tm_nitro_config_load(a->config_path, &h->cfg));
    /* The registry, before any thread records into it (the state server, KMS calls). */
    if (a->metrics_addr) TM_TRY(tm_metrics_open_process("tmkms-nitro-helper", 0, &h->metrics));
    TM_TRY(metrics_mirror_new(h->metrics, h->cfg->chain_id, h->cfg->address, &h->mirror));
    TM_TRY(helper_net(a->sim_dir, &h->net));
    TM_TRY(node_target(h));
    TM_TRY(helper_read_sealed(h->cfg->sealed_consensus_key_path, &h->sealed, &h->sealed_len));
    if (h->transport != TMKMS__NITRO__TRANSPORT__TRANSPORT_PLAIN)
        TM_TRY(helper_read_sealed(h->cfg->sealed_id_key_path, &h->sealed_id, &h->sealed_id_len));
    TM_TRY(state_server_open(&h->state, h->cfg->state_file_path, h->cfg->chain_id));
    TM_TRY(listen_port(h, h->cfg->enclave_state_port, &h->state_l));
    TM_TRY(listen_port(h, h->cfg->enclave_tendermint_conn, &h->node_l));
    TM_TRY(listen_port(h, a->log_port, &h->log_l));
    TM_ENSURE(pipe(h->relay_stop) == 0, TM_ERR_IO, "pipe failed");
    h->relay.listen_fd = tm_vsock_listener_fd(h->node_l);
    h->relay.max_conns = 16;
    h->relay.stop_fd = h->relay_stop[0];
    h->relay.idle_seconds = -1;
    h->relay.log_name = "node-relay"; /* not "vsock-proxy": launch-all logs the KMS proxy beside it */
    h->relay.stats = &h->relay_stats;
    proxy_stats_init(&h->relay_stats);
    tm_labels vl = {{"chain", "addr"}, {h->cfg->chain_id, h->cfg->address}};
    h->relay_stats.connected = tm_metrics_gauge(h->metrics, "tmkms_validator_connected",
                                                "1 while the node relay has a connection to the node.", &vl);
    h->relay_stats.connections = tm_metrics_counter(h->metrics, "tmkms_validator_connections_total",
                                                    "Node relay connections made to the node.", &vl);
    pthread_t t;
    TM_ENSURE(pthread_create(&t, NULL, state_main, h) == 0 && pthread_detach(t) == 0 &&
                  pthread_create(&t, NULL, log_main, h) == 0 && pthread_detach(t) == 0 &&
                  pthread_create(&t, NULL, relay_main, h) == 0 && pthread_detach(t) == 0,
              TM_ERR_NOMEM, "cannot start the helper's threads");
    if (a->metrics_addr) TM_TRY(tm_metrics_server_start(h->metrics, a->metrics_addr, &h->metrics_server));
    return TM_OK;
}

/* Before _exit: the state, log and relay threads may still be in poll/accept on these
 * listeners, so they are neither closed nor freed here (that was a use after free);
 * only the simulation's socket files are removed. _exit closes the descriptors. */
static void cleanup(helper_run *h)
{
    tm_vsock_listener_unlink(h->state_l);
    tm_vsock_listener_unlink(h->node_l);
    tm_vsock_listener_unlink(h->log_l);
    tm_status_server_remove();
}

/* The watchdog's health check: the state server is not stuck holding its lock (a persist
 * takes milliseconds; the lock is released at once). */
static bool state_alive(helper_run *h, uint64_t bound_us)
{
    struct timespec deadline = tm_realtime_deadline_us(bound_us);
    if (pthread_mutex_timedlock(&h->state.lock, &deadline) != 0) return false;
    pthread_mutex_unlock(&h->state.lock);
    return true;
}

/* STATUS= for systemctl status: the enclave, the chain and whether the node relay has a
 * validator connected; sent again when any of it changes. */
static void update_status(helper_run *h, bool force)
{
    int connected = atomic_load(&h->relay_stats.relaying) > 0;
    if (!force && connected == h->shown_connected) return;
    h->shown_connected = connected;
    const char *node = connected ? "validator connected" : "no validator connected";
    if (h->repush_failed)
        tm_sd_status("enclave CID %u, chain '%s': config repush failed (see the log); %s", h->cid,
                     h->cfg->chain_id, node);
    else
        tm_sd_status("enclave CID %u serves chain '%s'; %s", h->cid, h->cfg->chain_id, node);
}

/* Until a termination signal: repush the config now and then; ping the systemd watchdog
 * (a quarter of its interval) in between. A repush can take a minute (unsealing through
 * KMS): the units' WatchdogSec= allows for it. */
static int serve(helper_run *h, const start_args *a, int sig_fd)
{
    uint64_t watchdog_ms = tm_sd_watchdog_interval_us() / 1000;
    uint64_t next_repush = tm_monotonic_ms() + (uint64_t)a->repush_s * 1000u;
    uint64_t next_ping = 0;
    bool stuck = false; /* warned once until the lock is free again, as tmkms does */
    for (;;) {
        uint64_t now = tm_monotonic_ms();
        if (watchdog_ms && now >= next_ping) {
            bool alive = state_alive(h, watchdog_ms * 500);
            if (alive)
                tm_sd_watchdog_ping();
            else if (!stuck)
                tm_log_warn(MOD, "the state lock was not free within %llu ms: no watchdog ping",
                            (unsigned long long)(watchdog_ms / 2));
            stuck = !alive;
            next_ping = now + watchdog_ms / 4;
        }
        update_status(h, false);
        /* At most a second at a time: the loop comes back to see the node relay. */
        int wait_ms = STATUS_POLL_MS;
        if (a->repush_s && next_repush <= now + STATUS_POLL_MS)
            wait_ms = next_repush > now ? (int)(next_repush - now) : 0;
        if (watchdog_ms) {
            int until_ping = next_ping > now ? (int)(next_ping - now) : 0;
            if (until_ping < wait_ms) wait_ms = until_ping;
        }
        struct pollfd p = {sig_fd, POLLIN, 0};
        int n = poll(&p, 1, wait_ms);
        int sig = n > 0 ? helper_signal_next(sig_fd) : 0;
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            tm_sd_stopping(); /* under launch-all it goes to launch-all, which keeps it */
            tm_log_info(MOD, "received %s, shutting down", strsignal(sig));
            return HELPER_EXIT_OK;
        }
        if (n != 0 || !a->repush_s || tm_monotonic_ms() < next_repush) continue;
        uint8_t pub[32];
        bool failed = push_config(h, a, 1000, pub) != TM_OK;
        if (failed) tm_log_warn(MOD, "config repush: %s", tm_err_msg());
        if (failed != h->repush_failed) {
            h->repush_failed = failed;
            update_status(h, true);
        }
        next_repush = tm_monotonic_ms() + (uint64_t)a->repush_s * 1000u;
    }
}

int cmd_start(int argc, char **argv)
{
    start_args a = {.config_path = "tmkms.toml",
                    .log_port = TM_NITRO_PORT_LOGS,
                    .repush_s = 10,
                    .boot_wait_s = 120,
                    .log_level = -1};
    int r = parse_start_args(argc, argv, &a);
    if (r) return r < 0 ? HELPER_EXIT_OK : r;
    static helper_run h;
    h.started = (int64_t)time(NULL);
    h.relay_stop[0] = h.relay_stop[1] = -1;
    h.shown_connected = -1;
    static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};
    int sig_fd = -1, code = HELPER_EXIT_FAIL;
    uint8_t pub[32];
    if (tm_crypto_init() != TM_OK || tm_process_harden() != TM_OK ||
        helper_signal_pipe(stop_signals, 3, &sig_fd) != TM_OK || prepare(&h, &a) != TM_OK) {
        tm_log_error(MOD, "%s", tm_err_msg());
        goto out;
    }
    if (!a.cid_given) a.cid = h.cfg->enclave_config_cid;
    h.cid = a.cid;
    start_status(&h);
    tm_log_info(MOD, "chain '%s', node %s, state %s; enclave at CID %u port %u", h.cfg->chain_id,
                h.cfg->address, h.cfg->state_file_path, a.cid, h.cfg->enclave_config_port);
    tm_sd_status("pushing the config to the enclave at CID %u", a.cid);
    if (push_config(&h, &a, (int)a.boot_wait_s * 1000, pub) != TM_OK) {
        tm_log_error(MOD, "%s", tm_err_msg());
        goto out;
    }
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
    tm_log_info(MOD, "the enclave serves chain '%s' with consensus key %s", h.cfg->chain_id, b64);
    update_status(&h, true);
    tm_sd_ready();
    code = serve(&h, &a, sig_fd);
out:
    /* A persist in progress finishes first: its ack may be on the way to the enclave. */
    pthread_mutex_lock(&h.state.lock);
    cleanup(&h);
    fflush(stderr);
    _exit(code);
}
