/* The NSM simulator: the NSM's CBOR API in process. Attestation documents are COSE_Sign1
 * ES384 over the payload the real NSM writes, signed by the simulator's CA chain. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbor_util.h"
#include "cose.h"
#include "nsm_sim_ca.h"
#include "tmkms/signer.h"
#include "tmkms/aws/nsm.h"

#define SIM_PCRS 16
#define PCR_LEN 48
#define RANDOM_CHUNK 256
#define DEFAULT_MODULE_ID "i-sim-enc0000000000000001"

typedef struct {
    tm_nsm base;
    tm_sim_ca ca;
    uint8_t pcrs[SIM_PCRS][PCR_LEN];
    char module_id[TM_NSM_MODULE_ID_MAX + 1];
    uint64_t timestamp_ms; /* 0: now */
} nsm_sim;

static const tm_nsm_ops sim_ops;

tm_status tm_nsm_pcr4(const char *instance_id, uint8_t out[48])
{
    uint8_t zeros[PCR_LEN] = {0};
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1 &&
             EVP_DigestUpdate(md, zeros, sizeof(zeros)) == 1 &&
             EVP_DigestUpdate(md, instance_id, strlen(instance_id)) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1;
    EVP_MD_CTX_free(md);
    TM_ENSURE(ok && n == PCR_LEN, TM_ERR_CRYPTO, "SHA-384 failed");
    return TM_OK;
}

static tm_status sha384_file(const char *path, uint8_t out[PCR_LEN])
{
    tm_status status = TM_OK;
    unsigned char buf[8192];
    unsigned int n = 0;
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    TM_ENSURE_GOTO(f != NULL, TM_ERR_IO, "%s: cannot open the enclave binary", path);
    TM_ENSURE_GOTO(md != NULL && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1, TM_ERR_CRYPTO, "SHA-384 init");
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
        TM_ENSURE_GOTO(EVP_DigestUpdate(md, buf, got) == 1, TM_ERR_CRYPTO, "SHA-384 update");
    TM_ENSURE_GOTO(!ferror(f), TM_ERR_IO, "%s: read error", path);
    TM_ENSURE_GOTO(EVP_DigestFinal_ex(md, out, &n) == 1 && n == PCR_LEN, TM_ERR_CRYPTO, "SHA-384 final");
out:
    EVP_MD_CTX_free(md);
    if (f) (void)fclose(f);
    return status;
}

static tm_status configure_pcrs(nsm_sim *s, const tm_nsm_sim_config *cfg)
{
    memset(s->pcrs, 0, sizeof(s->pcrs));
    if (cfg->enclave_binary != NULL) {
        TM_TRY(sha384_file(cfg->enclave_binary, s->pcrs[0]));
    } else if (cfg->pcr0_hex != NULL) {
        size_t n = 0;
        TM_ENSURE(sodium_hex2bin(s->pcrs[0], PCR_LEN, cfg->pcr0_hex, strlen(cfg->pcr0_hex), NULL, &n, NULL) == 0 &&
                      n == PCR_LEN,
                  TM_ERR_CONFIG, "pcr0: not 96 hex digits");
    }
    if (cfg->instance_id != NULL) TM_TRY(tm_nsm_pcr4(cfg->instance_id, s->pcrs[4]));
    return TM_OK;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t doc_time(const nsm_sim *s)
{
    return s->timestamp_ms ? s->timestamp_ms : now_ms();
}

tm_status tm_nsm_sim_open(const tm_nsm_sim_config *cfg, tm_nsm **out)
{
    tm_status status = TM_OK;
    const char *mid = cfg->module_id ? cfg->module_id : DEFAULT_MODULE_ID;
    nsm_sim *s = calloc(1, sizeof(*s));
    *out = NULL;
    TM_ENSURE(s != NULL, TM_ERR_NOMEM, "out of memory");
    s->base.ops = &sim_ops;
    s->timestamp_ms = cfg->timestamp_ms;
    TM_TRY_GOTO(tm_crypto_init()); /* libsodium; jansson frees that wipe */
    TM_ENSURE_GOTO(strlen(mid) > 0 && strlen(mid) <= TM_NSM_MODULE_ID_MAX, TM_ERR_CONFIG, "module_id: bad length");
    memcpy(s->module_id, mid, strlen(mid) + 1);
    TM_TRY_GOTO(configure_pcrs(s, cfg));
    TM_TRY_GOTO(tm_sim_ca_load(&s->ca, cfg->ca_dir, (int64_t)(doc_time(s) / 1000)));
    *out = &s->base;
    s = NULL;
out:
    free(s);
    return status;
}

tm_status tm_nsm_sim_root_der(const tm_nsm *nsm, const uint8_t **der, size_t *len)
{
    TM_ENSURE(nsm != NULL && nsm->ops == &sim_ops, TM_ERR_INVALID, "not an NSM simulator");
    const nsm_sim *s = (const nsm_sim *)nsm;
    *der = s->ca.der[0];
    *len = s->ca.der_len[0];
    return TM_OK;
}

static void sim_close(tm_nsm *nsm)
{
    nsm_sim *s = (nsm_sim *)nsm;
    tm_sim_ca_free(&s->ca);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

/* ---- the attestation document ---- */

static cbor_item_t *pcr_map(const nsm_sim *s)
{
    cbor_item_t *m = cbor_new_definite_map(SIM_PCRS);
    for (size_t i = 0; m != NULL && i < SIM_PCRS; i++) {
        cbor_item_t *k = cbor_build_uint8((uint8_t)i);
        cbor_item_t *v = cbor_build_bytestring(s->pcrs[i], PCR_LEN);
        bool ok = k && v && cbor_map_add(m, (struct cbor_pair){.key = k, .value = v});
        if (k) cbor_decref(&k);
        if (v) cbor_decref(&v);
        if (!ok) cbor_decref(&m);
    }
    return m;
}

static cbor_item_t *cabundle(const nsm_sim *s)
{
    cbor_item_t *a = cbor_new_definite_array(2);
    for (size_t i = 0; a != NULL && i < 2; i++) {
        cbor_item_t *c = cbor_build_bytestring(s->ca.der[i], s->ca.der_len[i]);
        bool ok = c && cbor_array_push(a, c);
        if (c) cbor_decref(&c);
        if (!ok) cbor_decref(&a);
    }
    return a;
}

static cbor_item_t *opt_bstr(const tm_nsm_opt_bytes *b)
{
    return b->present ? cbor_build_bytestring(b->data, b->len) : cbor_new_null();
}

static tm_status payload(const nsm_sim *s, const tm_nsm_request *req, uint8_t **out, size_t *len)
{
    tm_status status = TM_OK;
    cbor_item_t *m = cbor_new_definite_map(9);
    TM_ENSURE(m != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(tm_cbor_map_put(m, "module_id", cbor_build_string(s->module_id)));
    TM_TRY_GOTO(tm_cbor_map_put(m, "digest", cbor_build_string("SHA384")));
    TM_TRY_GOTO(tm_cbor_map_put(m, "timestamp", tm_cbor_build_uint(doc_time(s))));
    TM_TRY_GOTO(tm_cbor_map_put(m, "pcrs", pcr_map(s)));
    TM_TRY_GOTO(tm_cbor_map_put(m, "certificate", cbor_build_bytestring(s->ca.der[2], s->ca.der_len[2])));
    TM_TRY_GOTO(tm_cbor_map_put(m, "cabundle", cabundle(s)));
    TM_TRY_GOTO(tm_cbor_map_put(m, "public_key", opt_bstr(&req->public_key)));
    TM_TRY_GOTO(tm_cbor_map_put(m, "user_data", opt_bstr(&req->user_data)));
    TM_TRY_GOTO(tm_cbor_map_put(m, "nonce", opt_bstr(&req->nonce)));
    TM_TRY_GOTO(tm_cbor_serialize(m, out, len));
out:
    cbor_decref(&m);
    return status;
}

static tm_status attest(nsm_sim *s, const tm_nsm_request *req, tm_nsm_response *r)
{
    uint8_t *p = NULL;
    size_t plen = 0;
    int64_t at = (int64_t)(doc_time(s) / 1000);
    if (at < s->ca.leaf_at - 3000 || at > s->ca.leaf_at + 2 * 3600) TM_TRY(tm_sim_ca_renew_leaf(&s->ca, at));
    TM_TRY(payload(s, req, &p, &plen));
    tm_status st = tm_cose_sign1_es384(s->ca.key[2], p, plen, &r->data, &r->len);
    free(p);
    r->kind = TM_NSM_RESP_ATTESTATION;
    return st;
}

static void describe(const nsm_sim *s, tm_nsm_description *d)
{
    static const uint16_t locked[] = {0, 1, 2, 3, 4, 8};
    memset(d, 0, sizeof(*d));
    d->version_major = 1;
    memcpy(d->module_id, s->module_id, sizeof(d->module_id));
    d->max_pcrs = 32;
    d->n_locked = sizeof(locked) / sizeof(locked[0]);
    memcpy(d->locked_pcrs, locked, sizeof(locked));
    memcpy(d->digest, "SHA384", 7);
}

static tm_status answer(nsm_sim *s, const tm_nsm_request *req, tm_nsm_response *r, uint8_t *scratch)
{
    switch (req->kind) {
    case TM_NSM_REQ_ATTESTATION: return attest(s, req, r);
    case TM_NSM_REQ_GET_RANDOM:
        TM_ENSURE(RAND_bytes(scratch, RANDOM_CHUNK) == 1, TM_ERR_CRYPTO, "RAND_bytes failed");
        r->kind = TM_NSM_RESP_GET_RANDOM;
        r->data = scratch;
        r->len = RANDOM_CHUNK;
        return TM_OK;
    case TM_NSM_REQ_DESCRIBE_PCR:
        if (req->index >= 32) {
            r->kind = TM_NSM_RESP_ERROR;
            r->error = TM_NSM_INVALID_INDEX;
            return TM_OK;
        }
        r->kind = TM_NSM_RESP_DESCRIBE_PCR;
        r->lock = req->index < SIM_PCRS;
        r->data = req->index < SIM_PCRS ? s->pcrs[req->index] : scratch;
        if (req->index >= SIM_PCRS) memset(scratch, 0, PCR_LEN);
        r->len = PCR_LEN;
        return TM_OK;
    default:
        r->kind = TM_NSM_RESP_DESCRIBE_NSM;
        describe(s, &r->description);
        return TM_OK;
    }
}

static tm_status sim_process(tm_nsm *nsm, const uint8_t *req_bytes, size_t req_len, uint8_t *resp, size_t resp_cap,
                             size_t *resp_len)
{
    nsm_sim *s = (nsm_sim *)nsm;
    tm_nsm_request req;
    tm_nsm_response r = {0};
    uint8_t scratch[RANDOM_CHUNK];
    tm_status status = TM_OK;
    if (req_len > TM_NSM_REQUEST_MAX) {
        r.kind = TM_NSM_RESP_ERROR;
        r.error = TM_NSM_INPUT_TOO_LARGE;
        memset(&req, 0, sizeof(req));
    } else if (tm_nsm_decode_request(req_bytes, req_len, &req) != TM_OK) {
        r.kind = TM_NSM_RESP_ERROR;
        r.error = TM_NSM_INVALID_ARGUMENT;
    } else {
        TM_TRY_GOTO(answer(s, &req, &r, scratch));
    }
    TM_TRY_GOTO(tm_nsm_encode_response(&r, resp, resp_cap, resp_len));
out:
    if (r.kind == TM_NSM_RESP_ATTESTATION) free(r.data);
    sodium_memzero(scratch, sizeof(scratch));
    tm_nsm_request_free(&req);
    return status;
}

static const tm_nsm_ops sim_ops = {sim_process, sim_close};
