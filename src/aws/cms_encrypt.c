/* CMS EnvelopedData for the KMS emulator: CiphertextForRecipient for a public key. */
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/cms.h"

#define SKI_LEN 32

static tm_status load_public(const uint8_t *der, size_t len, EVP_PKEY **out)
{
    const unsigned char *p = der;
    TM_ENSURE(der != NULL && len > 0 && len <= 4096, TM_ERR_INVALID, "recipient key: %zu bytes", len);
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
    TM_ENSURE(pk != NULL, TM_ERR_INVALID, "recipient key: not a SubjectPublicKeyInfo");
    if (p != der + len || !EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < 2048) {
        EVP_PKEY_free(pk);
        return tm_err_set(TM_ERR_INVALID, "recipient key: not an RSA key of at least 2048 bits");
    }
    *out = pk;
    return TM_OK;
}

/* subjectKeyIdentifier = SHA-256 of the subjectPublicKey bits. */
static tm_status add_ski(X509 *cert)
{
    unsigned char md[SKI_LEN];
    unsigned int n = 0;
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(cert);
    TM_ENSURE(bits != NULL && EVP_Digest(bits->data, (size_t)bits->length, md, &n, EVP_sha256(), NULL) == 1,
              TM_ERR_CRYPTO, "recipient certificate: SKI digest");
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    int ok = os != NULL && ASN1_OCTET_STRING_set(os, md, (int)n) == 1 &&
             X509_add1_ext_i2d(cert, NID_subject_key_identifier, os, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_OCTET_STRING_free(os);
    TM_ENSURE(ok, TM_ERR_CRYPTO, "recipient certificate: SKI extension");
    return TM_OK;
}

/* OpenSSL's CMS names recipients by certificate: a throwaway one around the public key,
 * signed by a throwaway key (nobody checks it). */
static tm_status throwaway_cert(EVP_PKEY *pub, X509 **out)
{
    tm_status status = TM_OK;
    X509 *cert = X509_new();
    EVP_PKEY *signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    TM_ENSURE_GOTO(cert != NULL && signer != NULL, TM_ERR_CRYPTO, "recipient certificate: allocation");
    TM_ENSURE_GOTO(X509_set_version(cert, X509_VERSION_3) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) == 1 &&
                       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"recipient", -1, -1,
                                                  0) == 1 &&
                       X509_set_issuer_name(cert, name) == 1 && X509_gmtime_adj(X509_getm_notBefore(cert), 0) &&
                       X509_gmtime_adj(X509_getm_notAfter(cert), 3600) && X509_set_pubkey(cert, pub) == 1,
                   TM_ERR_CRYPTO, "recipient certificate: fields");
    TM_TRY_GOTO(add_ski(cert));
    TM_ENSURE_GOTO(X509_sign(cert, signer, EVP_sha256()) > 0, TM_ERR_CRYPTO, "recipient certificate: signing");
    *out = cert;
    cert = NULL;
out:
    X509_free(cert);
    EVP_PKEY_free(signer);
    return status;
}

static tm_status add_oaep_recipient(CMS_ContentInfo *cms, X509 *cert)
{
    CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, CMS_USE_KEYID | CMS_KEY_PARAM);
    TM_ENSURE(ri != NULL, TM_ERR_CRYPTO, "CMS: adding the recipient failed");
    EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    TM_ENSURE(pctx != NULL && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
                  EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
                  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0,
              TM_ERR_CRYPTO, "CMS: RSAES-OAEP parameters");
    return TM_OK;
}

static tm_status bio_to_buffer(BIO *bio, uint8_t **out, size_t *out_len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    TM_ENSURE(n > 0, TM_ERR_CRYPTO, "CMS: empty output");
    *out = malloc((size_t)n);
    TM_ENSURE(*out != NULL, TM_ERR_NOMEM, "out of memory");
    memcpy(*out, data, (size_t)n);
    *out_len = (size_t)n;
    return TM_OK;
}

tm_status tm_cms_encrypt(const uint8_t *spki_der, size_t spki_len, const uint8_t *plaintext, size_t len,
                         uint8_t **out, size_t *out_len)
{
    tm_status status = TM_OK;
    EVP_PKEY *pub = NULL;
    X509 *cert = NULL;
    CMS_ContentInfo *cms = NULL;
    BIO *in = NULL, *ber = NULL;
    const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
    *out = NULL;
    *out_len = 0;
    TM_ENSURE(len <= TM_CMS_MAX_INPUT, TM_ERR_TOO_LARGE, "CMS: plaintext of %zu bytes", len);
    TM_TRY_GOTO(load_public(spki_der, spki_len, &pub));
    TM_TRY_GOTO(throwaway_cert(pub, &cert));
    cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), flags);
    TM_ENSURE_GOTO(cms != NULL, TM_ERR_CRYPTO, "CMS: EnvelopedData allocation");
    TM_TRY_GOTO(add_oaep_recipient(cms, cert));
    in = BIO_new_mem_buf(len > 0 ? plaintext : (const void *)"", (int)len);
    ber = BIO_new(BIO_s_mem());
    TM_ENSURE_GOTO(in != NULL && ber != NULL, TM_ERR_NOMEM, "out of memory");
    /* Streaming output: indefinite-length BER, as KMS sends it. */
    TM_ENSURE_GOTO(i2d_CMS_bio_stream(ber, cms, in, (int)flags) == 1, TM_ERR_CRYPTO, "CMS: encryption failed");
    TM_TRY_GOTO(bio_to_buffer(ber, out, out_len));
out:
    BIO_free(in);
    BIO_free(ber);
    CMS_ContentInfo_free(cms);
    X509_free(cert);
    EVP_PKEY_free(pub);
    return status;
}
