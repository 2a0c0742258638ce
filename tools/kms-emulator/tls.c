/* The emulator's TLS material, made fresh at every start with OpenSSL: a CA (P-256,
 * written to DIR/ca.pem for clients) and a server certificate signed by it for
 * kms.REGION.amazonaws.com, localhost and 127.0.0.1. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for `key` named `cn`, signed by issuer/issuer_key (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *san)
{
    X509 *c = X509_new();
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    int ok = c != NULL && RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) serial[0] &= 0x7f; /* a positive serial */
    ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    ok = ok && X509_set_version(c, 2) && X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(c), 30L * 24 * 3600) && X509_set_pubkey(c, key);
    X509_NAME *name = X509_get_subject_name(c);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    ok = ok && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : c;
    if (san) {
        ok = ok && add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, iss, NID_key_usage, "critical,digitalSignature") &&
             add_ext(c, iss, NID_ext_key_usage, "serverAuth") && add_ext(c, iss, NID_subject_alt_name, san);
    } else {
        ok = ok && add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    ok = ok && add_ext(c, iss, NID_subject_key_identifier, "hash") &&
         X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256());
    BN_free(bn);
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static char *bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

static tm_status write_ca(const char *dir, X509 *ca)
{
    char path[4200], tmp[4210];
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    snprintf(tmp, sizeof(tmp), "%s/ca.pem.tmp", dir);
    FILE *f = fopen(tmp, "w");
    TM_ENSURE(f, TM_ERR_IO, "cannot write %s", tmp);
    int ok = PEM_write_X509(f, ca);
    ok = fclose(f) == 0 && ok;
    TM_ENSURE(ok && rename(tmp, path) == 0, TM_ERR_IO, "cannot write %s", path);
    return TM_OK;
}

tm_status emu_tls_generate(const char *dir, const char *region, char **cert_pem, char **key_pem)
{
    tm_status status = TM_OK;
    char san[256];
    snprintf(san, sizeof(san), "DNS:kms.%s.amazonaws.com,DNS:localhost,IP:127.0.0.1,IP:::1", region);
    EVP_PKEY *ca_key = new_key(), *key = new_key();
    X509 *ca = ca_key ? make_cert(ca_key, "tmkms-nitro kms-emulator test CA", NULL, NULL, NULL) : NULL;
    X509 *cert = ca && key ? make_cert(key, "kms-emulator", ca, ca_key, san) : NULL;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    TM_ENSURE_GOTO(cert && cb && kb, TM_ERR_CRYPTO, "kms-emulator: cannot make the test certificates");
    TM_ENSURE_GOTO(PEM_write_bio_X509(cb, cert) && PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL),
                   TM_ERR_CRYPTO, "kms-emulator: cannot encode the certificates");
    *cert_pem = bio_text(cb);
    *key_pem = bio_text(kb);
    TM_ENSURE_GOTO(*cert_pem && *key_pem, TM_ERR_NOMEM, "kms-emulator: out of memory");
    TM_TRY_GOTO(write_ca(dir, ca));
out:
    BIO_free(cb);
    BIO_free(kb);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return status;
}
