/* COSE_Sign1 ES384: Sig_structure, signature formats, signing (for the NSM simulator). */
#include "cose.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <stdlib.h>
#include <string.h>

#include "cbor_util.h"

static const uint8_t protected_es384[] = {0xa1, 0x01, 0x38, 0x22}; /* {1: -35} */

static tm_status array_of(cbor_item_t **parts, size_t n, uint8_t **out, size_t *len)
{
    cbor_item_t *arr = cbor_new_definite_array(n);
    bool ok = arr != NULL;
    for (size_t i = 0; i < n; i++) {
        ok = ok && parts[i] != NULL && cbor_array_push(arr, parts[i]);
        if (parts[i]) cbor_decref(&parts[i]);
    }
    tm_status st = ok ? tm_cbor_serialize(arr, out, len) : tm_err_set(TM_ERR_NOMEM, "COSE: out of memory");
    if (arr) cbor_decref(&arr);
    return st;
}

tm_status tm_cose_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len,
                                uint8_t **out, size_t *len)
{
    cbor_item_t *parts[4] = {cbor_build_string("Signature1"), cbor_build_bytestring(prot, prot_len),
                             cbor_build_bytestring(NULL, 0), cbor_build_bytestring(payload, payload_len)};
    return array_of(parts, 4, out, len);
}

tm_status tm_cose_raw_sig_to_der(const uint8_t raw[TM_COSE_ES384_SIG_LEN], unsigned char **der, size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, TM_COSE_ES384_SIG_LEN / 2, NULL);
    BIGNUM *s = BN_bin2bn(raw + TM_COSE_ES384_SIG_LEN / 2, TM_COSE_ES384_SIG_LEN / 2, NULL);
    int n = 0;
    *der = NULL;
    *der_len = 0;
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;
        n = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    TM_ENSURE(n > 0, TM_ERR_NOMEM, "ECDSA signature: out of memory");
    *der_len = (size_t)n;
    return TM_OK;
}

tm_status tm_cose_der_sig_to_raw(const unsigned char *der, size_t der_len, uint8_t raw[TM_COSE_ES384_SIG_LEN])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    TM_ENSURE(sig != NULL, TM_ERR_CRYPTO, "ECDSA signature: not DER");
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, TM_COSE_ES384_SIG_LEN / 2) > 0 &&
             BN_bn2binpad(s, raw + TM_COSE_ES384_SIG_LEN / 2, TM_COSE_ES384_SIG_LEN / 2) > 0;
    ECDSA_SIG_free(sig);
    TM_ENSURE(ok, TM_ERR_CRYPTO, "ECDSA signature: r or s longer than 48 bytes");
    return TM_OK;
}

static tm_status sign_es384(EVP_PKEY *key, const uint8_t *tbs, size_t tbs_len, uint8_t raw[TM_COSE_ES384_SIG_LEN])
{
    tm_status status = TM_OK;
    unsigned char der[160];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    TM_ENSURE_GOTO(md != NULL, TM_ERR_NOMEM, "out of memory");
    TM_ENSURE_GOTO(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
                       EVP_DigestSign(md, der, &der_len, tbs, tbs_len) == 1,
                   TM_ERR_CRYPTO, "COSE: ES384 signing failed");
    TM_TRY_GOTO(tm_cose_der_sig_to_raw(der, der_len, raw));
out:
    EVP_MD_CTX_free(md);
    return status;
}

tm_status tm_cose_sign1_es384(EVP_PKEY *key, const uint8_t *payload, size_t payload_len, uint8_t **out, size_t *len)
{
    tm_status status = TM_OK;
    uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    uint8_t sig[TM_COSE_ES384_SIG_LEN];
    *out = NULL;
    *len = 0;
    TM_TRY_GOTO(tm_cose_sig_structure(protected_es384, sizeof(protected_es384), payload, payload_len, &tbs, &tbs_len));
    TM_TRY_GOTO(sign_es384(key, tbs, tbs_len, sig));
    cbor_item_t *parts[4] = {cbor_build_bytestring(protected_es384, sizeof(protected_es384)),
                             cbor_new_definite_map(0), cbor_build_bytestring(payload, payload_len),
                             cbor_build_bytestring(sig, sizeof(sig))};
    TM_TRY_GOTO(array_of(parts, 4, out, len));
out:
    free(tbs);
    return status;
}
