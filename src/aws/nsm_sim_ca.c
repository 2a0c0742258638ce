/* The NSM simulator's CA chain: P-384 root and intermediate kept in a directory (PEM,
 * keys 0600), a fresh leaf per simulator, like the per-enclave leaf of the real NSM. */
#include "nsm_sim_ca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ROOT, INTER, LEAF };
static const char *const level_names[3] = {"root", "intermediate", "leaf"};
static const char *const common_names[3] = {"tmkms-nitro NSM simulator root", "tmkms-nitro NSM simulator intermediate",
                                            "tmkms-nitro NSM simulator enclave"};
static const char *const constraints[3] = {"critical,CA:TRUE", "critical,CA:TRUE,pathlen:0", "critical,CA:FALSE"};
static const char *const usages[3] = {"critical,keyCertSign,cRLSign", "critical,keyCertSign,cRLSign",
                                      "critical,digitalSignature"};
static const int64_t lifetimes[3] = {30LL * 365 * 86400, 10LL * 365 * 86400, 3 * 3600};

static tm_status add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    TM_ENSURE(ok, TM_ERR_CRYPTO, "simulator CA: extension %s", value);
    return TM_OK;
}

static tm_status set_name(X509 *cert, int level)
{
    X509_NAME *name = X509_get_subject_name(cert);
    TM_ENSURE(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0) == 1 &&
                  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tmkms-nitro", -1, -1,
                                             0) == 1 &&
                  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                             (const unsigned char *)common_names[level], -1, -1, 0) == 1,
              TM_ERR_CRYPTO, "simulator CA: subject name");
    return TM_OK;
}

static tm_status fill_cert(X509 *cert, tm_sim_ca *ca, int level, int64_t at)
{
    int parent = level == ROOT ? ROOT : level - 1;
    unsigned char serial[16];
    TM_ENSURE(RAND_bytes(serial, sizeof(serial)) == 1, TM_ERR_CRYPTO, "simulator CA: RAND_bytes");
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    TM_ENSURE(ok && X509_set_version(cert, X509_VERSION_3) == 1, TM_ERR_CRYPTO, "simulator CA: serial");
    TM_TRY(set_name(cert, level));
    X509 *issuer = level == ROOT ? cert : ca->cert[parent];
    time_t t = (time_t)at;
    TM_ENSURE(X509_set_issuer_name(cert, X509_get_subject_name(issuer)) == 1 &&
                  X509_time_adj_ex(X509_getm_notBefore(cert), 0, -3600, &t) != NULL &&
                  X509_time_adj_ex(X509_getm_notAfter(cert), 0, (long)lifetimes[level], &t) != NULL &&
                  X509_set_pubkey(cert, ca->key[level]) == 1,
              TM_ERR_CRYPTO, "simulator CA: certificate fields");
    TM_TRY(add_ext(cert, issuer, NID_basic_constraints, constraints[level]));
    TM_TRY(add_ext(cert, issuer, NID_key_usage, usages[level]));
    TM_ENSURE(X509_sign(cert, ca->key[parent], EVP_sha384()) > 0, TM_ERR_CRYPTO, "simulator CA: signing");
    return TM_OK;
}

static tm_status generate(tm_sim_ca *ca, int level, int64_t at)
{
    ca->key[level] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    TM_ENSURE(ca->key[level] != NULL, TM_ERR_CRYPTO, "simulator CA: P-384 key generation");
    ca->cert[level] = X509_new();
    TM_ENSURE(ca->cert[level] != NULL, TM_ERR_NOMEM, "out of memory");
    return fill_cert(ca->cert[level], ca, level, at);
}

static tm_status file_path(char *out, size_t cap, const char *dir, int level, const char *ext)
{
    int n = snprintf(out, cap, "%s/%s.%s", dir, level_names[level], ext);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_INVALID, "simulator CA: path too long");
    return TM_OK;
}

static tm_status write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "%s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return tm_err_set(TM_ERR_IO, "%s: fdopen", path);
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    ok = ok == 1 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    TM_ENSURE(ok, TM_ERR_IO, "%s: write failed", path);
    return TM_OK;
}

static tm_status save_level(const tm_sim_ca *ca, const char *dir, int level)
{
    char path[1024];
    TM_TRY(file_path(path, sizeof(path), dir, level, "key"));
    TM_TRY(write_pem(path, 0600, ca->key[level], NULL));
    TM_TRY(file_path(path, sizeof(path), dir, level, "pem"));
    return write_pem(path, 0644, NULL, ca->cert[level]);
}

/* Loads level `level` from dir; *found = false when neither file exists. */
static tm_status load_level(tm_sim_ca *ca, const char *dir, int level, bool *found)
{
    char kpath[1024], cpath[1024];
    TM_TRY(file_path(kpath, sizeof(kpath), dir, level, "key"));
    TM_TRY(file_path(cpath, sizeof(cpath), dir, level, "pem"));
    FILE *kf = fopen(kpath, "r");
    FILE *cf = fopen(cpath, "r");
    *found = kf != NULL || cf != NULL;
    if (kf && cf) {
        ca->key[level] = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
        ca->cert[level] = PEM_read_X509(cf, NULL, NULL, NULL);
    }
    if (kf) (void)fclose(kf);
    if (cf) (void)fclose(cf);
    if (!*found) return TM_OK;
    TM_ENSURE(ca->key[level] && ca->cert[level] && X509_check_private_key(ca->cert[level], ca->key[level]) == 1,
              TM_ERR_CORRUPT, "%s: the %s key and certificate are missing, unreadable or do not match", dir,
              level_names[level]);
    return TM_OK;
}

static tm_status load_or_make(tm_sim_ca *ca, const char *dir, int level, int64_t at)
{
    bool found = false;
    if (dir != NULL) TM_TRY(load_level(ca, dir, level, &found));
    if (found) return TM_OK;
    TM_TRY(generate(ca, level, at));
    return dir != NULL ? save_level(ca, dir, level) : TM_OK;
}

static tm_status encode(tm_sim_ca *ca, int level)
{
    OPENSSL_free(ca->der[level]);
    ca->der[level] = NULL;
    int n = i2d_X509(ca->cert[level], &ca->der[level]);
    TM_ENSURE(n > 0, TM_ERR_CRYPTO, "simulator CA: DER encoding");
    ca->der_len[level] = (size_t)n;
    return TM_OK;
}

tm_status tm_sim_ca_renew_leaf(tm_sim_ca *ca, int64_t at)
{
    EVP_PKEY_free(ca->key[LEAF]);
    X509_free(ca->cert[LEAF]);
    ca->key[LEAF] = NULL;
    ca->cert[LEAF] = NULL;
    TM_TRY(generate(ca, LEAF, at));
    TM_TRY(encode(ca, LEAF));
    ca->leaf_at = at;
    return TM_OK;
}

tm_status tm_sim_ca_load(tm_sim_ca *ca, const char *dir, int64_t at)
{
    tm_status status = TM_OK;
    memset(ca, 0, sizeof(*ca));
    if (dir != NULL && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tm_err_set(TM_ERR_IO, "%s: %s", dir, strerror(errno));
    TM_TRY_GOTO(load_or_make(ca, dir, ROOT, at));
    TM_TRY_GOTO(load_or_make(ca, dir, INTER, at));
    for (int i = ROOT; i <= INTER; i++) TM_TRY_GOTO(encode(ca, i));
    TM_TRY_GOTO(tm_sim_ca_renew_leaf(ca, at));
out:
    if (status != TM_OK) tm_sim_ca_free(ca);
    return status;
}

void tm_sim_ca_free(tm_sim_ca *ca)
{
    for (int i = 0; i < 3; i++) {
        EVP_PKEY_free(ca->key[i]);
        X509_free(ca->cert[i]);
        OPENSSL_free(ca->der[i]);
    }
    memset(ca, 0, sizeof(*ca));
}
