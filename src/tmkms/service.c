#include "service.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
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

#include "modules.h"
#include "status_server.h"
#include "tmkms/clock.h"
#include "tmkms/link.h"
#include "tmkms/log.h"
#include "tmkms/noise.h"
#include "tmkms/sdnotify.h"
#include "tmkms/secretconn.h"
#include "tmkms/session.h"
#include "tmkms/status_doc.h"

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
    TM_ENSURE(
        provider != NULL, TM_ERR_CONFIG,
        "%s:%d: chain '%s' has no consensus key: add a [[providers.softsign]] with chain_ids = [\"%s\"]",
        config->path, cc->line, cc->id, cc->id);
    tm_signer *signer = NULL;
    TM_TRY(tm_service_load_key(provider, &signer));

    tm_state_store *store = NULL;
    tm_sign_state loaded;
    tm_status status = tm_state_file_open(cc->state_file, cc->id, &store, &loaded);
    if (status == TM_ERR_NOT_FOUND) {
        tm_signer_destroy(signer);
        return tm_err_set(
            status,
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

static tm_status join_cluster(tm_service *service)
{
    const tm_ha_config *ha = &service->config->ha;
    TM_TRY(service->ha_module->open(ha, &service->ha));
    for (size_t i = 0; i < service->n_chains; i++)
        tm_chain_set_ha(service->chains[i], service->ha);
    tm_log_info("ha", "instance '%s': every signature goes through etcd (%zu endpoint%s, records under %s)",
                ha->instance, ha->n_endpoints, ha->n_endpoints == 1 ? "" : "s", ha->key_prefix);
    return TM_OK;
}

/* The modules of the configured features, before any key is loaded: a missing or
 * mismatched one is an installation error to report at once. */
static tm_status load_modules(const tm_config *config, tm_service *service)
{
    tm_status status = TM_OK;
    if (config->ha.enabled) status = tm_modules_ha(&service->ha_module);
    if (status == TM_OK && config->metrics.enabled) status = tm_modules_metrics(&service->metrics_module);
    return status == TM_OK ? TM_OK : tm_err_prefix(status, "%s: ", config->path);
}

tm_status tm_service_open(const tm_config *config, tm_service *service)
{
    memset(service, 0, sizeof(*service));
    service->config = config;
    TM_TRY(load_modules(config, service));
    if (config->metrics.enabled) {
        /* Global before the chains open, so that they create their series. */
        tm_status status = tm_metrics_open_process("tmkms", 0, &service->metrics);
        if (status != TM_OK) {
            tm_service_close(service);
            return status;
        }
    }
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
    if (config->ha.enabled) {
        tm_status status = join_cluster(service);
        if (status != TM_OK) {
            tm_service_close(service);
            return status;
        }
    }
    if (config->metrics.enabled) {
        /* After them, so that a scrape never sees half a service. */
        tm_status status = service->metrics_module->server_start(service->metrics, config->metrics.listen,
                                                                 &service->metrics_server);
        if (status != TM_OK) {
            tm_service_close(service);
            return status;
        }
    }
    return TM_OK;
}

void tm_service_close(tm_service *service)
{
    for (size_t i = 0; i < service->n_chains; i++)
        tm_chain_close(service->chains[i]);
    if (service->ha) service->ha->ops->close(service->ha);
    service->ha = NULL;
    if (service->metrics_server) service->metrics_module->server_stop(service->metrics_server);
    service->metrics_server = NULL;
    tm_metrics_close_process(service->metrics);
    service->metrics = NULL;
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

typedef struct {
    const tm_validator_config *vc;
    tm_link link;
    char host[256], port[8]; /* tcp:// and noise:// */
    uint8_t *identity_seed;  /* locked memory, tcp:// and noise:// */
    atomic_int *running;
    tm_link_stats stats; /* for `tmkms status` */
} validator_thread;

static tm_status dial_raw(void *ctx, tm_conn **raw)
{
    const validator_thread *vt = ctx;
    if (vt->link.transport == TM_LINK_PLAIN) return tm_conn_dial_unix(vt->vc->addr + 7, 0, raw);
    return tm_conn_dial_tcp(vt->host, vt->port, TM_LINK_NET_TIMEOUT_MS, raw);
}

/* The transport and pin of a validator address, and its identity key (read once into
 * locked memory). */
static tm_status prepare_link(validator_thread *vt)
{
    const tm_validator_config *vc = vt->vc;
    tm_link *link = &vt->link;
    link->chain_id = vc->chain_id;
    link->addr = vc->addr;
    link->dial_raw = dial_raw;
    link->dial_ctx = vt;
    link->reconnect = vc->reconnect;
    if (strncmp(vc->addr, "unix://", 7) == 0) {
        link->transport = TM_LINK_PLAIN;
        return TM_OK;
    }
    if (strncmp(vc->addr, "tcp://", 6) == 0) {
        link->transport = TM_LINK_SECRET_CONNECTION;
        /* the parser's message as it is (formatting it into itself would overlap) */
        if (tm_sc_parse_addr(vc->addr, &link->pinned, link->pin, vt->host, vt->port) != TM_OK)
            return TM_ERR_CONFIG;
    } else if (strncmp(vc->addr, "noise://", 8) == 0) {
        link->transport = TM_LINK_NOISE;
        link->pinned = true;
        if (tm_noise_parse_addr(vc->addr, link->pin, vt->host, vt->port) != TM_OK) return TM_ERR_CONFIG;
    } else {
        return tm_err_set(TM_ERR_CONFIG, "%s: unknown transport (unix://, tcp:// or noise://)", vc->addr);
    }
    TM_ENSURE(vc->secret_key != NULL, TM_ERR_CONFIG,
              "%s: needs secret_key (an identity key: tmkms softsign keygen -t identity PATH)", vc->addr);
    vt->identity_seed = sodium_malloc(TM_ED25519_SEED_LEN);
    TM_ENSURE(vt->identity_seed != NULL, TM_ERR_NOMEM, "out of locked memory");
    if (tm_keyfile_read_seed(vc->secret_key, vt->identity_seed) != TM_OK)
        /* Permissions or a missing key file will not fix themselves: a config error. */
        return tm_err_prefix(TM_ERR_CONFIG, "%s: identity key: ", vc->addr);
    link->identity_seed = vt->identity_seed;
    tm_link_log_identity(link, vc->secret_key);
    return TM_OK;
}

static void *validator_main(void *arg)
{
    validator_thread *vt = arg;
    if (prepare_link(vt) == TM_OK)
        tm_link_run(&vt->link);
    else
        tm_log_error("conn", "%s", tm_err_msg());
    sodium_free(vt->identity_seed); /* wipes; NULL is fine */
    vt->identity_seed = NULL;
    atomic_fetch_sub(vt->running, 1);
    return NULL;
}

/* systemd STATUS=: the chains and how many validator connections are up. */
static void notify_status(const tm_service *service, unsigned connected)
{
    size_t n = service->config->n_validators;
    tm_sd_status("serving %zu chain%s; %u of %zu validator connection%s up", service->n_chains,
                 service->n_chains == 1 ? "" : "s", connected, n, n == 1 ? "" : "s");
}

/* The signing path is alive when every chain's lock can be taken before the deadline (a
 * signature holds it for a guard check, a signing and a persist; a deadlocked or stuck
 * signer holds it forever). The lock is released at once. */
static bool signers_alive(tm_service *service, uint64_t bound_us, bool *warned)
{
    struct timespec deadline = tm_realtime_deadline_us(bound_us);
    for (size_t i = 0; i < service->n_chains; i++) {
        int r = pthread_mutex_timedlock(&service->chains[i]->lock, &deadline);
        if (r != 0) {
            if (!*warned) /* once until it is free again */
                tm_log_warn("systemd", "[%s] the signing lock was not free within %llu ms: no watchdog ping",
                            service->chains[i]->id, (unsigned long long)(bound_us / 1000));
            *warned = true;
            return false;
        }
        pthread_mutex_unlock(&service->chains[i]->lock);
    }
    *warned = false;
    return true;
}

/* Wait for SIGINT/SIGTERM (or for every connection thread to end), then take every
 * chain's lock so no signature is half-way through persistence, and exit. Meanwhile: the
 * systemd STATUS= when the connected count changes, and WATCHDOG=1 every quarter of the
 * watchdog interval while the signers are alive. */
static int wait_for_end(tm_service *service, atomic_int *running)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec tick = {0, 200 * 1000000L};
    int code = 0;
    uint64_t watchdog_us = tm_sd_watchdog_interval_us();
    uint64_t last_ping = 0;
    bool stuck = false;
    unsigned shown = UINT_MAX; /* the first tick shows the count, whatever it did since READY=1 */
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            tm_sd_stopping();
            tm_log_info("tmkms", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (atomic_load(running) == 0) {
            tm_log_error("tmkms", "no validator connection left to serve");
            code = 1;
            break;
        }
        unsigned connected = tm_link_connected();
        if (connected != shown) {
            shown = connected;
            notify_status(service, connected);
        }
        if (watchdog_us && tm_monotonic_us() - last_ping >= watchdog_us / 4 &&
            signers_alive(service, watchdog_us / 2, &stuck)) {
            tm_sd_watchdog_ping();
            last_ping = tm_monotonic_us();
        }
    }
    for (size_t i = 0; i < service->n_chains; i++)
        pthread_mutex_lock(&service->chains[i]->lock);
    return code;
}

/* ---- the status document (`tmkms status`, status_server.h) ---- */

typedef struct {
    tm_service *service;
    validator_thread *threads;
    size_t n_threads;
    int64_t started;
} status_source;

static json_t *chain_status(const tm_chain *chain_const, int64_t now)
{
    tm_chain *chain = (tm_chain *)chain_const; /* the snapshot takes its lock */
    char persist_error[256];
    tm_status_chain_info info = {.id = chain->id, .persist_error = persist_error};
    tm_chain_snapshot(chain, &info.last, persist_error, sizeof(persist_error));
    info.persist_failures = (uint64_t)atomic_load(&chain->persist_failures);
    info.last_new_unix = (int64_t)atomic_load(&chain->last_signed_unix);
    return tm_status_doc_chain(&info, now);
}

/* The document's arrays; false on allocation failure (doc keeps what was added). */
static bool add_entries(const status_source *src, json_t *doc, int64_t now)
{
    json_t *chains = tm_status_doc_add_array(doc, "chains"); /* borrowed: doc owns them */
    json_t *validators = tm_status_doc_add_array(doc, "validators");
    if (!chains || !validators) return false;
    for (size_t i = 0; i < src->service->n_chains; i++)
        if (json_array_append_new(chains, chain_status(src->service->chains[i], now)) != 0) return false;
    for (size_t i = 0; i < src->n_threads; i++) {
        validator_thread *vt = &src->threads[i];
        json_t *v = tm_status_doc_validator(vt->vc->chain_id, vt->vc->addr, &vt->stats, now);
        if (json_array_append_new(validators, v) != 0) return false;
    }
    return true;
}

static char *render_status(void *ctx)
{
    const status_source *src = ctx;
    int64_t now = (int64_t)time(NULL);
    json_t *doc = tm_status_doc_head("tmkms", src->started, now);
    /* set_new and append_new take their value, also when they fail */
    bool ok = json_object_set_new(doc, "ha", json_boolean(src->service->ha != NULL)) == 0 &&
              add_entries(src, doc, now);
    char *text = ok ? tm_status_doc_dump(doc) : NULL;
    json_decref(doc);
    return text;
}

/* A status socket that cannot be made is not a reason to stop signing: say so and go on. */
static void start_status(tm_service *service, validator_thread *threads, size_t n)
{
    static status_source src;
    src = (status_source){service, threads, n, (int64_t)time(NULL)};
    char path[256];
    if (tm_status_socket_path(service->config, path, sizeof(path)) != TM_OK ||
        tm_status_server_start(path, render_status, &src) != TM_OK) {
        tm_log_warn("status", "no status socket (tmkms status will not answer): %s", tm_err_msg());
        return;
    }
    tm_log_info("status", "status socket %s (tmkms status -c %s)", path, service->config->path);
}

int tm_service_run(tm_service *service)
{
    const tm_config *config = service->config;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only wait_for_end sees them */
    (void)signal(SIGPIPE, SIG_IGN);

    if (config->n_validators == 0) {
        tm_log_error("tmkms", "%s: no [[validator]] to connect to", config->path);
        return 1;
    }
    validator_thread *threads = calloc(config->n_validators, sizeof(*threads));
    if (!threads) return 1;
    for (size_t i = 0; i < config->n_validators; i++) {
        threads[i].vc = &config->validators[i];
        tm_link_stats_init(&threads[i].stats);
        threads[i].link.stats = &threads[i].stats;
    }
    start_status(service, threads, config->n_validators); /* before any thread: it sets the umask */
    atomic_int running = 0;
    for (size_t i = 0; i < config->n_validators; i++) {
        validator_thread *vt = &threads[i];
        vt->link.session.chain = tm_service_chain(service, vt->vc->chain_id);
        vt->link.session.max_height = vt->vc->max_height;
        vt->link.session.addr = vt->vc->addr;
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
    /* Every chain's key and state are loaded (tm_service_open) and the connections started. */
    notify_status(service, tm_link_connected());
    tm_sd_ready();
    int code = wait_for_end(service, &running);
    /* Chains stay locked: threads block on them; the process exits with keys wiped by the
     * caller's tm_service_close is not possible while locked, so wipe here. Connection
     * threads use the signer only under the lock and read the public key from the chain. */
    for (size_t i = 0; i < service->n_chains; i++) {
        tm_signer_destroy(service->chains[i]->signer);
        service->chains[i]->signer = NULL;
    }
    tm_status_server_remove();
    fflush(stderr);
    _exit(code);
}
