/* keygen: a new consensus key (and optionally an identity key) generated in the enclave,
 * sealed with KMS Encrypt; the helper gets the sealed blobs, the public keys and an NSM
 * attestation document whose user_data binds the public key to the KMS key:
 * {"pubkey":"<base64 of the 32-byte key>","key_id":"<base64 of the KMS key id>"}
 * (tmkms-light's claim), so an auditor can check which enclave made which key. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclave.h"
#include "tmkms/log.h"

#define MOD "keygen"

tm_status enclave_random_seed(enclave *e, uint8_t seed[32])
{
    uint8_t mix[64];
    randombytes_buf(mix, 32);
    tm_status status = tm_nsm_get_random(e->nsm, mix + 32, 32);
    if (status == TM_OK) crypto_generichash(seed, 32, mix, sizeof(mix), NULL, 0);
    sodium_memzero(mix, sizeof(mix));
    return status;
}

/* A fresh key: its seed sealed by KMS into *sealed, its public key into pub. */
static tm_status new_sealed_key(enclave *e, const tm_kms_config *kms, const char *key_id, tm_kms_bytes *sealed,
                                uint8_t pub[TM_ED25519_PUBKEY_LEN], tm_kms_error *err)
{
    tm_status status = TM_OK;
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    TM_ENSURE_GOTO(seed && sk, TM_ERR_NOMEM, "out of locked memory");
    TM_TRY_GOTO(enclave_random_seed(e, seed));
    crypto_sign_seed_keypair(pub, sk, seed);
    TM_TRY_GOTO(tm_kms_encrypt(kms, key_id, seed, TM_ED25519_SEED_LEN, sealed, err));
out:
    sodium_free(sk); /* wipes */
    sodium_free(seed);
    return status;
}

static tm_status attest(enclave *e, const uint8_t pub[32], const char *key_id, uint8_t **doc, size_t *doc_len)
{
    char pub_b64[64], id_b64[TM_NITRO_MAX_KEY_ID * 4 / 3 + 8], user_data[512];
    sodium_bin2base64(pub_b64, sizeof(pub_b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(id_b64, sizeof(id_b64), (const unsigned char *)key_id, strlen(key_id),
                      sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(user_data, sizeof(user_data), "{\"pubkey\":\"%s\",\"key_id\":\"%s\"}", pub_b64, id_b64);
    TM_ENSURE(n > 0 && (size_t)n < sizeof(user_data), TM_ERR_TOO_LARGE, "attestation user_data too long");
    tm_nsm_opt_bytes ud = {true, (uint8_t *)user_data, (size_t)n};
    return tm_nsm_attestation(e->nsm, &ud, NULL, NULL, doc, doc_len);
}

tm_status enclave_keygen(enclave *e, const Tmkms__Nitro__KeygenRequest *req, tm_conn *conn)
{
    tm_status status = TM_OK;
    tm_vsock_target target;
    tm_aws_credentials *creds = NULL;
    tm_kms_config kms;
    tm_kms_error err = {0};
    tm_kms_bytes sealed = {0}, sealed_id = {0};
    uint8_t pub[32], id_pub[32];
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    TM_TRY_GOTO(enclave_kms_config(e, req->aws_region, req->credentials, req->kms_proxy_port, &target, &creds, &kms));
    TM_TRY_GOTO(new_sealed_key(e, &kms, req->kms_key_id, &sealed, pub, &err));
    if (req->identity_key) TM_TRY_GOTO(new_sealed_key(e, &kms, req->kms_key_id, &sealed_id, id_pub, &err));
    TM_TRY_GOTO(attest(e, pub, req->kms_key_id, &doc, &doc_len));

    Tmkms__Nitro__KeygenResponse r = TMKMS__NITRO__KEYGEN_RESPONSE__INIT;
    r.sealed_consensus_key = (ProtobufCBinaryData){sealed.len, sealed.data};
    r.consensus_pubkey = (ProtobufCBinaryData){32, pub};
    r.attestation_doc = (ProtobufCBinaryData){doc_len, doc};
    if (req->identity_key) {
        r.sealed_identity_key = (ProtobufCBinaryData){sealed_id.len, sealed_id.data};
        r.identity_pubkey = (ProtobufCBinaryData){32, id_pub};
    }
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE;
    m.keygen_response = &r;
    TM_TRY_GOTO(tm_nitro_send(conn, &m));
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
    tm_log_info(MOD, "new consensus key %s sealed with KMS key %s%s", b64, req->kms_key_id,
                req->identity_key ? " (and an identity key)" : "");
out:
    if (status != TM_OK) {
        tm_err_prefix(status, "keygen: ");
        tm_nitro_send_error(conn, status, tm_err_msg());
    }
    free(doc);
    tm_kms_bytes_free(&sealed);
    tm_kms_bytes_free(&sealed_id);
    tm_aws_credentials_free(creds);
    return status;
}
