/* CMS EnvelopedData for KMS's CiphertextForRecipient, with OpenSSL 3's CMS: decryption
 * with a per-request RSA-2048 key, and the KMS emulator's encryption to a public key. */
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/signer.h"
#include "tmkms/aws/cms.h"

#define RSA_BITS 2048

struct tm_cms_recipient {
    EVP_PKEY *key;
    unsigned char *spki;
    size_t spki_len;
};

void tm_cms_secret_free(tm_cms_secret *secret)
{
    if (secret == NULL) return;
    if (secret->data != NULL) sodium_free(secret->data); /* sodium_free wipes */
    secret->data = NULL;
    secret->len = 0;
}

/* ---- decrypt side ---- */

tm_status tm_cms_recipient_new(tm_cms_recipient **out)
{
    tm_status status = TM_OK;
    tm_cms_recipient *r = calloc(1, sizeof(*r));
    *out = NULL;
    TM_ENSURE(r != NULL, TM_ERR_NOMEM, "out of memory");
    r->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
    TM_ENSURE_GOTO(r->key != NULL, TM_ERR_CRYPTO, "RSA-%d key generation failed", RSA_BITS);
    int n = i2d_PUBKEY(r->key, &r->spki);
    TM_ENSURE_GOTO(n > 0, TM_ERR_CRYPTO, "public key encoding failed");
    r->spki_len = (size_t)n;
    *out = r;
    r = NULL;
out:
    tm_cms_recipient_free(r);
    return status;
}

tm_status tm_cms_recipient_public_der(const tm_cms_recipient *r, const uint8_t **der, size_t *len)
{
    TM_ENSURE(r != NULL && r->spki != NULL, TM_ERR_INVALID, "no recipient key");
    *der = r->spki;
    *len = r->spki_len;
    return TM_OK;
}

void tm_cms_recipient_free(tm_cms_recipient *r)
{
    if (r == NULL) return;
    EVP_PKEY_free(r->key);
    OPENSSL_free(r->spki);
    free(r);
}

static tm_status parse_cms(const uint8_t *in, size_t len, CMS_ContentInfo **out)
{
    TM_ENSURE(in != NULL && len > 0 && len <= TM_CMS_MAX_INPUT, TM_ERR_INVALID, "CMS: %zu bytes", len);
    const unsigned char *p = in;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    TM_ENSURE(cms != NULL, TM_ERR_INVALID, "CMS: not a BER/DER ContentInfo");
    if (p != in + len || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        CMS_ContentInfo_free(cms);
        return tm_err_set(TM_ERR_INVALID, "CMS: not exactly one EnvelopedData");
    }
    *out = cms;
    return TM_OK;
}

static int algor_nid(const X509_ALGOR *a)
{
    return a != NULL ? OBJ_obj2nid(a->algorithm) : NID_undef;
}

/* RSAES-OAEP-params with SHA-256 and MGF1-SHA-256 (absent fields mean SHA-1: refused). */
static tm_status check_oaep_params(const X509_ALGOR *alg)
{
    RSA_OAEP_PARAMS *p = NULL;
    X509_ALGOR *mgf_md = NULL;
    if (alg->parameter != NULL && alg->parameter->type == V_ASN1_SEQUENCE)
        p = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_OAEP_PARAMS), alg->parameter);
    if (p != NULL && algor_nid(p->maskGenFunc) == NID_mgf1 && p->maskGenFunc->parameter != NULL &&
        p->maskGenFunc->parameter->type == V_ASN1_SEQUENCE)
        mgf_md = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), p->maskGenFunc->parameter);
    bool ok = p != NULL && algor_nid(p->hashFunc) == NID_sha256 && algor_nid(mgf_md) == NID_sha256;
    X509_ALGOR_free(mgf_md);
    RSA_OAEP_PARAMS_free(p);
    TM_ENSURE(ok, TM_ERR_INVALID, "CMS: RSAES-OAEP is not SHA-256 with MGF1-SHA-256");
    return TM_OK;
}

/* Exactly one KeyTransRecipientInfo, identified by a subjectKeyIdentifier, RSAES-OAEP. */
static tm_status the_recipient(CMS_ContentInfo *cms, CMS_RecipientInfo **out)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    TM_ENSURE(ris != NULL && sk_CMS_RecipientInfo_num(ris) == 1, TM_ERR_INVALID, "CMS: not exactly one recipient");
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);
    TM_ENSURE(CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS, TM_ERR_INVALID,
              "CMS: the recipient is not key transport");
    ASN1_OCTET_STRING *keyid = NULL;
    X509_ALGOR *alg = NULL;
    TM_ENSURE(CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, NULL, NULL) == 1 && keyid != NULL, TM_ERR_INVALID,
              "CMS: the recipient is not identified by a subjectKeyIdentifier");
    TM_ENSURE(CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg) == 1 && alg != NULL &&
                  OBJ_obj2nid(alg->algorithm) == NID_rsaesOaep,
              TM_ERR_INVALID, "CMS: key transport is not RSAES-OAEP");
    TM_TRY(check_oaep_params(alg));
    *out = ri;
    return TM_OK;
}

static tm_status copy_secret(BIO *bio, tm_cms_secret *out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    TM_ENSURE(n >= 0 && (size_t)n <= TM_CMS_MAX_INPUT, TM_ERR_INVALID, "CMS: bad plaintext length");
    out->data = sodium_malloc(n > 0 ? (size_t)n : 1);
    TM_ENSURE(out->data != NULL, TM_ERR_NOMEM, "out of locked memory");
    if (n > 0) memcpy(out->data, data, (size_t)n);
    out->len = (size_t)n;
    return TM_OK;
}

tm_status tm_cms_decrypt(const tm_cms_recipient *r, const uint8_t *in, size_t len, tm_cms_secret *out)
{
    tm_status status = TM_OK;
    CMS_ContentInfo *cms = NULL;
    CMS_RecipientInfo *ri = NULL;
    BIO *plain = BIO_new(BIO_s_secmem()); /* freed with a wipe */
    memset(out, 0, sizeof(*out));
    TM_ENSURE_GOTO(plain != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(tm_crypto_init()); /* libsodium; jansson frees that wipe */
    TM_TRY_GOTO(parse_cms(in, len, &cms));
    TM_TRY_GOTO(the_recipient(cms, &ri));
    /* Decrypt the content key with our key only: a wrong key is an error here, not a
     * random content key (OpenSSL's default when it has to try recipients blindly). */
    TM_ENSURE_GOTO(EVP_PKEY_up_ref(r->key) == 1, TM_ERR_CRYPTO, "CMS: key reference");
    CMS_RecipientInfo_set0_pkey(ri, r->key); /* takes the reference just added */
    int ok = CMS_RecipientInfo_decrypt(cms, ri);
    CMS_RecipientInfo_set0_pkey(ri, NULL); /* drops it */
    TM_ENSURE_GOTO(ok == 1, TM_ERR_CRYPTO, "CMS: the content key does not decrypt with this key");
    TM_ENSURE_GOTO(CMS_decrypt(cms, NULL, NULL, NULL, plain, CMS_BINARY) == 1, TM_ERR_CRYPTO,
                   "CMS: the content does not decrypt");
    TM_TRY_GOTO(copy_secret(plain, out));
out:
    BIO_free(plain);
    CMS_ContentInfo_free(cms);
    return status;
}
