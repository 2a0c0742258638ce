#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/log.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/session.h"

tm_status tm_service_load_key(const tm_softsign_config *provider, tm_signer **out)
{
    if (strcmp(provider->key_format, "json") != 0) return tm_softsign_load(provider->path, out);
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (!seed) return tm_err_set(TM_ERR_NOMEM, "out of locked memory");
    tm_status status = tm_keyfile_import_cometbft(provider->path, seed);
    if (status == TM_OK) status = tm_softsign_from_seed(seed, out);
    sodium_free(seed); /* wipes */
    return status;
}

static tm_status open_chain(const tm_config *config, const tm_chain_config *cc, tm_chain **out)
{
    const tm_softsign_config *provider = tm_config_consensus_key(config, cc->id);
    TM_ENSURE(provider != NULL, TM_ERR_CONFIG,
              "%s:%d: chain '%s' has no consensus key: add a [[providers.softsign]] with chain_ids = [\"%s\"]",
              config->path, cc->line, cc->id, cc->id);
    tm_signer *signer = NULL;
    TM_TRY(tm_service_load_key(provider, &signer));

    tm_state_store *store = NULL;
    tm_sign_state loaded;
    tm_status status = tm_state_file_open(cc->state_file, cc->id, &store, &loaded);
    if (status == TM_ERR_NOT_FOUND) {
        tm_signer_destroy(signer);
        return tm_err_set(status,
                          "chain '%s': no state file at %s; refusing to start from an unknown state. If this key "
                          "has never signed on this chain, run: tmkms state init -c %s --chain %s (or import the "
                          "node's priv_validator_state.json with tmkms state import)",
                          cc->id, cc->state_file, config->path, cc->id);
    }
    if (status != TM_OK) {
        tm_signer_destroy(signer);
        return tm_err_prefix(status, "chain '%s': ", cc->id);
    }
    TM_TRY(tm_chain_open(cc->id, cc->sign_extensions, signer, store, &loaded, out));
    char pk[160];
    tm_status shown = cc->key_format == TM_KEYFMT_BECH32
                          ? tm_pubkey_bech32((*out)->signer->pubkey, cc->consensus_key_prefix, pk, sizeof(pk))
                          : tm_pubkey_base64((*out)->signer->pubkey, pk, sizeof(pk));
    if (shown != TM_OK) snprintf(pk, sizeof(pk), "(unprintable: %s)", tm_err_msg());
    tm_log_info("chain", "[%s] consensus key %s; last signed %lld/%d/%s; state %s", cc->id, pk,
                (long long)loaded.height, loaded.round, tm_step_name(loaded.step), cc->state_file);
    return TM_OK;
}

tm_status tm_service_open(const tm_config *config, tm_service *service)
{
    memset(service, 0, sizeof(*service));
    service->config = config;
    TM_ENSURE(config->n_chains > 0, TM_ERR_CONFIG, "%s: no [[chain]] defined", config->path);
    service->chains = calloc(config->n_chains, sizeof(tm_chain *));
    TM_ENSURE(service->chains != NULL, TM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < config->n_chains; i++) {
        tm_status status = open_chain(config, &config->chains[i], &service->chains[i]);
        if (status != TM_OK) {
            tm_service_close(service);
            return status;
        }
        service->n_chains++;
    }
    return TM_OK;
}

void tm_service_close(tm_service *service)
{
    for (size_t i = 0; i < service->n_chains; i++) tm_chain_close(service->chains[i]);
    free(service->chains);
    service->chains = NULL;
    service->n_chains = 0;
}

tm_chain *tm_service_chain(const tm_service *service, const char *chain_id)
{
    for (size_t i = 0; i < service->n_chains; i++)
        if (strcmp(service->chains[i]->id, chain_id) == 0) return service->chains[i];
    return NULL;
}

/* ---- connection threads ---- */

/* Capped at 1 s: a starting CometBFT v0.38 node waits only ~3 s for its signer to dial in
 * before it gives up and exits, so a longer wait could keep a restarted node down. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

typedef struct {
    const tm_validator_config *vc;
    tm_session session;
    atomic_int *running;
} validator_thread;

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

/* Connect and handshake within this long; see docs/TRANSPORTS.md. */
#define NET_TIMEOUT_MS 10000

/* Secure a dialled connection with our identity and check who answered against `pin`
 * (the transport's own form: an sc_pin for tcp://, a 32-byte key for noise://). */
typedef tm_status (*secure_fn)(const tm_validator_config *vc, tm_conn *raw, const uint8_t seed[32], const void *pin,
                               tm_conn **conn);

/* Load the validator's identity key (locked memory), dial host:port and run `secure`. */
static tm_status dial_secured(const tm_validator_config *vc, const char *host, const char *port, const void *pin,
                              secure_fn secure, tm_conn **conn)
{
    TM_ENSURE(vc->secret_key != NULL, TM_ERR_CONFIG,
              "%s: needs secret_key (an identity key: tmkms softsign keygen -t identity PATH)", vc->addr);
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    TM_ENSURE(seed != NULL, TM_ERR_NOMEM, "out of locked memory");
    tm_status status = tm_keyfile_read_seed(vc->secret_key, seed);
    if (status == TM_OK) {
        tm_conn *raw = NULL;
        status = tm_conn_dial_tcp(host, port, NET_TIMEOUT_MS, &raw);
        if (status == TM_OK) status = secure(vc, raw, seed, pin, conn);
    } else {
        /* Permissions or a missing key file will not fix themselves: a config error. */
        status = tm_err_prefix(TM_ERR_CONFIG, "%s: identity key: ", vc->addr);
    }
    sodium_free(seed);
    return status;
}

/* The node ID pinned in a tcp:// address (none when not pinned). */
typedef struct {
    bool pinned;
    uint8_t id[TM_SC_NODE_ID_LEN];
} sc_pin;

/* Secret Connection; the node ID, when pinned, must match the peer's authenticated key
 * (compared in constant time). */
static tm_status secure_sc(const tm_validator_config *vc, tm_conn *raw, const uint8_t seed[32], const void *pin_arg,
                           tm_conn **conn)
{
    const sc_pin *pin = pin_arg;
    uint8_t remote[32], id[TM_SC_NODE_ID_LEN];
    char hex[41], want[41];
    TM_TRY(tm_sc_handshake(raw, seed, NET_TIMEOUT_MS, conn, remote));
    tm_sc_node_id_raw(remote, id);
    tm_sc_node_id(remote, hex);
    if (pin->pinned && sodium_memcmp(pin->id, id, sizeof(id)) != 0) {
        tm_conn_close(*conn);
        sodium_bin2hex(want, sizeof(want), pin->id, sizeof(pin->id));
        return tm_err_set(TM_ERR_REFUSED, "%s: the node's ID is %s, not the pinned %s: not serving it", vc->addr, hex,
                          want);
    }
    if (!pin->pinned)
        tm_log_warn("conn", "[%s] %s: node %s is not pinned (use tcp://NODE_ID@host:port)", vc->chain_id, vc->addr,
                    hex);
    return TM_OK;
}

/* libp2p Noise; the pinned key (32 bytes) is checked inside the handshake, before the node
 * learns our identity. */
static tm_status secure_noise(const tm_validator_config *vc, tm_conn *raw, const uint8_t seed[32], const void *pin,
                              tm_conn **conn)
{
    uint8_t remote[32];
    const uint8_t *pin_key = pin;
    tm_status status = tm_noise_handshake(raw, seed, true, pin_key, NET_TIMEOUT_MS, conn, remote);
    if (status == TM_ERR_REFUSED) {
        char got[TM_NOISE_PEER_ID_SIZE], want[TM_NOISE_PEER_ID_SIZE];
        tm_noise_peer_id(remote, got);
        tm_noise_peer_id(pin_key, want);
        status = tm_err_set(status, "%s: the node's peer ID is %s, not the pinned %s: not serving it", vc->addr, got,
                            want);
    }
    return status;
}

/* tcp://[NODE_ID@]host:port → Secret Connection with our identity key. */
static tm_status dial_secret(const tm_validator_config *vc, tm_conn **conn)
{
    char host[256], port[8];
    sc_pin pin;
    if (tm_sc_parse_addr(vc->addr, &pin.pinned, pin.id, host, port) != TM_OK) return TM_ERR_CONFIG; /* message set */
    return dial_secured(vc, host, port, &pin, secure_sc, conn);
}

/* noise://PEER_ID@host:port → libp2p Noise (CometBFT v0.40's NoiseListener) with our
 * identity key; PEER_ID, mandatory, pins the node's persistent key. */
static tm_status dial_noise(const tm_validator_config *vc, tm_conn **conn)
{
    char host[256], port[8];
    uint8_t pin[32];
    if (tm_noise_parse_addr(vc->addr, pin, host, port) != TM_OK) return TM_ERR_CONFIG; /* message set */
    return dial_secured(vc, host, port, pin, secure_noise, conn);
}

static tm_status dial(const tm_validator_config *vc, tm_conn **conn)
{
    if (strncmp(vc->addr, "unix://", 7) == 0) return tm_conn_dial_unix(vc->addr + 7, 0, conn);
    if (strncmp(vc->addr, "tcp://", 6) == 0) return dial_secret(vc, conn);
    if (strncmp(vc->addr, "noise://", 8) == 0) return dial_noise(vc, conn);
    return tm_err_set(TM_ERR_CONFIG, "%s: unknown transport (unix://, tcp:// or noise://)", vc->addr);
}

/* For tcp:// and noise:// validators: say which identity this KMS presents (its node ID
 * for tcp://, its libp2p peer ID for noise://), so the operator can allow it on the node. */
static void log_identity(const tm_validator_config *vc)
{
    bool tcp = strncmp(vc->addr, "tcp://", 6) == 0, noise = strncmp(vc->addr, "noise://", 8) == 0;
    if (!(tcp || noise) || !vc->secret_key) return;
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN + crypto_sign_SECRETKEYBYTES);
    if (!seed) return;
    uint8_t pub[32];
    char id[TM_NOISE_PEER_ID_SIZE];
    if (tm_keyfile_read_seed(vc->secret_key, seed) == TM_OK) {
        crypto_sign_seed_keypair(pub, seed + TM_ED25519_SEED_LEN, seed);
        if (tcp) tm_sc_node_id(pub, id);
        else tm_noise_peer_id(pub, id);
        tm_log_info("conn", "[%s] %s: this KMS's %s is %s (identity %s)", vc->chain_id, vc->addr,
                    tcp ? "node ID" : "peer ID", id, vc->secret_key);
    }
    sodium_free(seed);
}

/* What went wrong last with one validator connection: a failure that repeats is logged
 * once (then at debug level), a new one again, so a hostile or broken node cannot flood
 * the log and a change of cause is never hidden. */
typedef struct {
    char last[256];   /* "" while the connection is healthy */
    unsigned repeats; /* how many times in a row `last` happened again */
    bool in_session;  /* `last` ended a session (the handshake had succeeded) */
} failure_log;

static void report_failure(failure_log *fl, const validator_thread *vt, bool error, bool in_session,
                           const char *what)
{
    const char *msg = tm_err_msg();
    fl->in_session = in_session;
    if (strncmp(fl->last, msg, sizeof(fl->last) - 1) == 0) {
        fl->repeats++;
        tm_log_debug("conn", "[%s] %s %s (again): %s", vt->vc->chain_id, vt->vc->addr, what, msg);
        return;
    }
    snprintf(fl->last, sizeof(fl->last), "%s", msg);
    fl->repeats = 0;
    if (error)
        tm_log_error("conn", "[%s] %s %s: %s; retrying with backoff", vt->vc->chain_id, vt->vc->addr, what, msg);
    else
        tm_log_warn("conn", "[%s] %s %s: %s; retrying with backoff", vt->vc->chain_id, vt->vc->addr, what, msg);
}

static void *validator_main(void *arg)
{
    validator_thread *vt = arg;
    log_identity(vt->vc);
    unsigned backoff = BACKOFF_MIN_MS;
    failure_log fl = {"", 0, false};
    for (;;) {
        tm_conn *conn = NULL;
        tm_status status = dial(vt->vc, &conn);
        if (status == TM_ERR_CONFIG) {
            tm_log_error("conn", "%s", tm_err_msg());
            break;
        }
        if (status != TM_OK) {
            /* A node that is not the pinned one is an error; one that is down, a warning. */
            report_failure(&fl, vt, status == TM_ERR_REFUSED, false, "connection failed");
            sleep_ms(next_backoff(&backoff));
            continue;
        }
        /* Quiet only while a node keeps breaking every session the same way. */
        if (fl.in_session && fl.repeats > 0) tm_log_debug("conn", "[%s] connected to %s", vt->vc->chain_id, vt->vc->addr);
        else tm_log_info("conn", "[%s] connected to %s", vt->vc->chain_id, vt->vc->addr);
        uint64_t answered = 0;
        status = tm_session_serve(&vt->session, conn, &answered);
        tm_conn_close(conn);
        if (answered > 0) {
            /* A session that did work: the next outage starts afresh. One that broke before
             * its first answer keeps backing off, so a node that fails right after the
             * handshake is not redialled ten times a second. */
            backoff = BACKOFF_MIN_MS;
            fl.last[0] = '\0';
            fl.repeats = 0;
        }
        if (status == TM_ERR_EOF && answered > 0)
            tm_log_info("conn", "[%s] %s closed the connection", vt->vc->chain_id, vt->vc->addr);
        else if (status == TM_ERR_EOF)
            /* CometBFT's listeners close right after the handshake when they do not allow us. */
            report_failure(&fl, vt, true, true, "closed by the node before any request (does it allow this KMS's identity?)");
        else
            report_failure(&fl, vt, true, true, answered > 0 ? "session ended" : "session ended before any request");
        if (!vt->vc->reconnect) break;
        sleep_ms(next_backoff(&backoff));
    }
    atomic_fetch_sub(vt->running, 1);
    return NULL;
}

/* Wait for SIGINT/SIGTERM (or for every connection thread to end), then take every
 * chain's lock so no signature is half-way through persistence, and exit. */
static int wait_for_end(tm_service *service, atomic_int *running)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec tick = {0, 200 * 1000000L};
    int code = 0;
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            tm_log_info("tmkms", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (atomic_load(running) == 0) {
            tm_log_error("tmkms", "no validator connection left to serve");
            code = 1;
            break;
        }
    }
    for (size_t i = 0; i < service->n_chains; i++) pthread_mutex_lock(&service->chains[i]->lock);
    return code;
}

int tm_service_run(tm_service *service)
{
    const tm_config *config = service->config;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only wait_for_end sees them */
    signal(SIGPIPE, SIG_IGN);

    if (config->n_validators == 0) {
        tm_log_error("tmkms", "%s: no [[validator]] to connect to", config->path);
        return 1;
    }
    validator_thread *threads = calloc(config->n_validators, sizeof(*threads));
    if (!threads) return 1;
    atomic_int running = 0;
    for (size_t i = 0; i < config->n_validators; i++) {
        validator_thread *vt = &threads[i];
        vt->vc = &config->validators[i];
        vt->session.chain = tm_service_chain(service, vt->vc->chain_id);
        vt->session.max_height = vt->vc->max_height;
        vt->session.addr = vt->vc->addr;
        vt->running = &running;
        pthread_t tid;
        atomic_fetch_add(&running, 1);
        if (pthread_create(&tid, NULL, validator_main, vt) != 0) {
            atomic_fetch_sub(&running, 1);
            tm_log_error("tmkms", "cannot start a thread for %s", vt->vc->addr);
            continue;
        }
        pthread_detach(tid);
    }
    int code = wait_for_end(service, &running);
    /* Chains stay locked: threads block on them; the process exits with keys wiped by the
     * caller's tm_service_close is not possible while locked, so wipe here. */
    for (size_t i = 0; i < service->n_chains; i++) tm_signer_destroy(service->chains[i]->signer);
    fflush(stderr);
    _exit(code);
}
