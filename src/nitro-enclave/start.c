/* start: unseal the keys, load the state from the helper, serve the node.
 *
 * The sealed keys are opened with KMS Decrypt + Recipient (unseal.h): KMS answers with the
 * key encrypted to a key pair that exists only in this process, so the plaintext crosses
 * neither the host nor the proxy. The node connection is one tm_link (core/link.c) over
 * vsock to the helper's relay; for tcp:// and noise:// nodes the Secret Connection or
 * Noise handshake runs here, with the identity key unsealed the same way, and the helper
 * only sees ciphertext. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclave.h"
#include "tmkms/chain.h"
#include "tmkms/link.h"
#include "tmkms/log.h"
#include "tmkms/nitro/state_remote.h"
#include "tmkms/nitro/unseal.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"

#define MOD "start"

typedef struct {
    enclave *e;
    tm_link link;
    tm_vsock_ep node_ep;
    char chain_id[TM_MAX_CHAIN_ID_LEN + 1];
    char addr[64];
    uint8_t *identity_seed; /* locked memory, NULL for plain */
} node_link;

static tm_status dial_node(void *ctx, tm_conn **raw)
{
    node_link *nl = ctx;
    return tm_vsock_dial(&nl->e->net, &nl->node_ep, 0, raw);
}

static void *link_main(void *arg)
{
    node_link *nl = arg;
    tm_link_log_identity(&nl->link, "sealed_id_key");
    tm_link_run(&nl->link); /* reconnects forever; returns only on a config error */
    tm_log_error(MOD, "[%s] the node link stopped; the enclave must be restarted", nl->chain_id);
    return NULL;
}

/* Unseal `blob` into a 32-byte seed in locked memory (*seed, sodium_free). */
static tm_status unseal_seed(enclave *e, const tm_kms_config *kms, const ProtobufCBinaryData *blob, const char *what,
                             uint8_t **seed)
{
    tm_cms_secret secret = {0};
    tm_kms_error err = {0};
    *seed = NULL;
    tm_status status = tm_nitro_unseal(e->nsm, kms, NULL, blob->data, blob->len, &secret, &err);
    if (status != TM_OK) return tm_err_prefix(status, "unsealing the %s: ", what);
    if (secret.len != TM_ED25519_SEED_LEN) {
        size_t len = secret.len;
        tm_cms_secret_free(&secret);
        return tm_err_set(TM_ERR_INVALID, "unsealing the %s: %zu bytes, not a 32-byte ed25519 seed", what, len);
    }
    *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (*seed) memcpy(*seed, secret.data, TM_ED25519_SEED_LEN);
    tm_cms_secret_free(&secret);
    TM_ENSURE(*seed, TM_ERR_NOMEM, "out of locked memory");
    return TM_OK;
}

/* The node's pin from start_request.peer_id: a node ID (40 hex) for Secret Connection, a
 * libp2p peer ID for Noise. */
static tm_status parse_pin(const Tmkms__Nitro__StartRequest *req, tm_link *link)
{
    const char *id = req->peer_id ? req->peer_id : "";
    link->pinned = id[0] != '\0';
    if (!link->pinned || link->transport == TM_LINK_PLAIN) return TM_OK;
    if (link->transport == TM_LINK_NOISE) {
        TM_ENSURE(tm_noise_peer_id_decode(id, link->pin) == TM_OK, TM_ERR_INVALID,
                  "start_request.peer_id: \"%s\" is not a libp2p peer ID", id);
        return TM_OK;
    }
    size_t n = 0;
    TM_ENSURE(strlen(id) == 2 * TM_SC_NODE_ID_LEN &&
                  sodium_hex2bin(link->pin, sizeof(link->pin), id, strlen(id), NULL, &n, NULL) == 0 &&
                  n == TM_SC_NODE_ID_LEN,
              TM_ERR_INVALID, "start_request.peer_id: \"%s\" is not a node ID (40 hex digits)", id);
    return TM_OK;
}

/* Everything a start fixes for the life of the process: the chain, the keys and how the
 * node is served (transport, pin, ports, max_height, extensions). Credentials, region and
 * the log and KMS ports are left out: they are only used while starting, and credentials
 * change with every repush. */
static void hash_config(const Tmkms__Nitro__StartRequest *req, uint8_t out[32])
{
    crypto_generichash_state st;
    const char *pin = req->peer_id ? req->peer_id : "";
    uint64_t fields[5] = {(uint64_t)req->transport, req->state_port, req->node_port, (uint64_t)req->max_height,
                          req->sign_extensions};
    uint8_t lens[16];
    for (int i = 0; i < 2; i++) {
        uint64_t n = i ? req->sealed_identity_key.len : req->sealed_consensus_key.len;
        for (int j = 0; j < 8; j++) lens[8 * i + j] = (uint8_t)(n >> (8 * j));
    }
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)req->chain_id, strlen(req->chain_id) + 1);
    crypto_generichash_update(&st, lens, sizeof(lens));
    crypto_generichash_update(&st, req->sealed_consensus_key.data, req->sealed_consensus_key.len);
    crypto_generichash_update(&st, req->sealed_identity_key.data, req->sealed_identity_key.len);
    crypto_generichash_update(&st, (const uint8_t *)pin, strlen(pin) + 1);
    for (int i = 0; i < 5; i++) {
        uint8_t b[8];
        for (int j = 0; j < 8; j++) b[j] = (uint8_t)(fields[i] >> (8 * j));
        crypto_generichash_update(&st, b, sizeof(b));
    }
    crypto_generichash_final(&st, out, 32);
}

static tm_status reply_started(tm_conn *conn, const uint8_t pub[32])
{
    Tmkms__Nitro__StartResponse r = TMKMS__NITRO__START_RESPONSE__INIT;
    r.consensus_pubkey = (ProtobufCBinaryData){32, (uint8_t *)pub};
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE;
    m.start_response = &r;
    return tm_nitro_send(conn, &m);
}

/* A helper that restarted sends its config again: the same chain, keys and node settings
 * are fine (the link and state store reconnect by themselves), anything else is refused,
 * so that a new pin or transport never goes unapplied while the helper reports success. */
static tm_status restart_request(enclave *e, const Tmkms__Nitro__StartRequest *req, tm_conn *conn)
{
    uint8_t h[32];
    hash_config(req, h);
    TM_ENSURE(sodium_memcmp(h, e->config_hash, 32) == 0, TM_ERR_REFUSED,
              "already serving chain '%s' with another key or other node settings (address, pin, ports, "
              "max_height, extensions); restart the enclave to change them", e->chain_id);
    tm_log_info(MOD, "[%s] the helper sent its config again; still serving", e->chain_id);
    return reply_started(conn, e->pubkey);
}

static tm_status open_node_link(enclave *e, const Tmkms__Nitro__StartRequest *req, tm_chain *chain,
                                uint8_t *identity_seed)
{
    node_link *nl = calloc(1, sizeof(*nl));
    TM_ENSURE(nl, TM_ERR_NOMEM, "out of memory");
    nl->e = e;
    nl->node_ep = (tm_vsock_ep){TM_VSOCK_CID_PARENT, req->node_port};
    snprintf(nl->chain_id, sizeof(nl->chain_id), "%s", req->chain_id);
    snprintf(nl->addr, sizeof(nl->addr), "vsock:3:%u (helper relay)", req->node_port);
    nl->identity_seed = identity_seed;
    tm_link *link = &nl->link;
    link->chain_id = nl->chain_id;
    link->addr = nl->addr;
    link->session = (tm_session){chain, req->max_height, nl->addr};
    link->dial_raw = dial_node;
    link->dial_ctx = nl;
    link->transport = req->transport == TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION ? TM_LINK_SECRET_CONNECTION
                      : req->transport == TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE          ? TM_LINK_NOISE
                                                                                           : TM_LINK_PLAIN;
    link->identity_seed = identity_seed;
    link->reconnect = true;
    link->early_close_hint = "closed before any request: the helper could not reach the node (see the helper's log)"
                             " or the node does not allow this KMS's identity";
    tm_status status = parse_pin(req, link);
    pthread_t tid;
    if (status == TM_OK && pthread_create(&tid, NULL, link_main, nl) != 0)
        status = tm_err_set(TM_ERR_NOMEM, "cannot start the node link thread");
    if (status != TM_OK) {
        free(nl);
        return status;
    }
    pthread_detach(tid);
    return TM_OK;
}

static tm_status start_serving(enclave *e, const Tmkms__Nitro__StartRequest *req, tm_conn *conn)
{
    tm_status status = TM_OK;
    tm_vsock_target target;
    tm_aws_credentials *creds = NULL;
    tm_kms_config kms;
    uint8_t *seed = NULL, *identity_seed = NULL;
    tm_signer *signer = NULL;
    tm_state_store *store = NULL;
    tm_chain *chain = NULL;
    tm_sign_state loaded;

    if (req->log_port) TM_TRY_GOTO(enclave_log_forward_start(&e->net, req->log_port));
    TM_TRY_GOTO(enclave_kms_config(e, req->aws_region, req->credentials, req->kms_proxy_port, &target, &creds, &kms));
    TM_TRY_GOTO(unseal_seed(e, &kms, &req->sealed_consensus_key, "consensus key", &seed));
    if (req->sealed_identity_key.len)
        TM_TRY_GOTO(unseal_seed(e, &kms, &req->sealed_identity_key, "identity key", &identity_seed));
    TM_TRY_GOTO(tm_softsign_from_seed(seed, &signer));
    tm_vsock_ep state_ep = {TM_VSOCK_CID_PARENT, req->state_port};
    TM_TRY_GOTO(tm_remote_state_open(&e->net, &state_ep, req->chain_id, ENCLAVE_IO_TIMEOUT_MS, &store, &loaded));
    tm_signer *s = signer;
    signer = NULL;
    tm_state_store *st = store;
    store = NULL;
    TM_TRY_GOTO(tm_chain_open(req->chain_id, req->sign_extensions, s, st, &loaded, &chain)); /* takes both */
    memcpy(e->pubkey, chain->signer->pubkey, 32);
    TM_TRY_GOTO(open_node_link(e, req, chain, identity_seed));
    identity_seed = NULL; /* the link's now */
    e->chain = chain;     /* serves for the life of the process */
    chain = NULL;
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), e->pubkey, 32, sodium_base64_VARIANT_ORIGINAL);
    tm_log_info(MOD, "[%s] consensus key %s unsealed; last signed %lld/%d/%s; serving through vsock:3:%u",
                req->chain_id, b64, (long long)loaded.height, loaded.round, tm_step_name(loaded.step),
                req->node_port);
    hash_config(req, e->config_hash);
    snprintf(e->chain_id, sizeof(e->chain_id), "%s", req->chain_id);
    e->serving = true;
    status = reply_started(conn, e->pubkey);
out:
    tm_chain_close(chain);
    if (store) store->ops->close(store);
    tm_signer_destroy(signer);
    sodium_free(seed);
    sodium_free(identity_seed);
    tm_aws_credentials_free(creds);
    return status;
}

tm_status enclave_start(enclave *e, const Tmkms__Nitro__StartRequest *req, tm_conn *conn)
{
    if (req->log_level) tm_log_set_level((tm_log_level)(req->log_level - 1));
    pthread_mutex_lock(&e->lock);
    tm_status status = e->serving ? restart_request(e, req, conn) : start_serving(e, req, conn);
    pthread_mutex_unlock(&e->lock);
    if (status != TM_OK) {
        tm_err_prefix(status, "start: ");
        tm_nitro_send_error(conn, status, tm_err_msg());
    }
    return status;
}

void enclave_stop(enclave *e)
{
    pthread_mutex_lock(&e->lock);
    if (!e->chain) return;
    pthread_mutex_lock(&e->chain->lock);
    tm_signer_destroy(e->chain->signer); /* wipes the key */
    e->chain->signer = NULL;
}
