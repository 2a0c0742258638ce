/* Attestation documents: the cryptographic checks (COSE ES384 signature, certificate
 * chain to the pinned root, names, validity, CA flags) with OpenSSL 3. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cose.h"
#include "tmkms/aws/attestation.h"


/* The certificates of a document: certs[0..n_ca) = cabundle (root first), certs[n_ca] =
 * the leaf. */
typedef struct {
    X509 *certs[TM_ATT_MAX_CABUNDLE + 1];
    size_t n_ca;
} chain;

/* The first failure wins: its error and message are what tm_att_verify returns. */
typedef struct {
    tm_att_report *report;
    tm_att_error first;
    char msg[256];
} outcome;

static void record(outcome *o, tm_att_check check, tm_att_error err)
{
    o->report->checks[check] = err == TM_ATT_OK ? TM_ATT_PASSED : TM_ATT_FAILED;
    if (err == TM_ATT_OK || o->first != TM_ATT_OK) return;
    o->first = err;
    snprintf(o->msg, sizeof(o->msg), "%s", tm_err_msg());
}

static tm_att_error fail(tm_att_error err, const char *msg)
{
    tm_err_set(TM_ERR_CRYPTO, "%s", msg);
    return err;
}

static X509 *parse_cert(const tm_att_bytes *b)
{
    const unsigned char *p = b->data;
    if (b->len > (size_t)LONG_MAX) return NULL;
    X509 *c = d2i_X509(NULL, &p, (long)b->len);
    if (c != NULL && p != b->data + b->len) {
        X509_free(c);
        c = NULL;
    }
    return c;
}

static void chain_free(chain *ch)
{
    for (size_t i = 0; i <= TM_ATT_MAX_CABUNDLE; i++) X509_free(ch->certs[i]);
}

/* The leaf first, so that a failure leaves certs[n_ca] NULL exactly when the leaf is bad. */
static tm_att_error chain_load(const tm_att_doc *doc, chain *ch)
{
    memset(ch, 0, sizeof(*ch));
    ch->n_ca = doc->n_cabundle;
    ch->certs[ch->n_ca] = parse_cert(&doc->certificate);
    if (ch->certs[ch->n_ca] == NULL) return fail(TM_ATT_ERR_CERTIFICATE, "certificate: not a DER certificate");
    for (size_t i = 0; i < doc->n_cabundle; i++) {
        ch->certs[i] = parse_cert(&doc->cabundle[i]);
        if (ch->certs[i] == NULL) {
            tm_err_set(TM_ERR_CRYPTO, "cabundle[%zu]: not a DER certificate", i);
            return TM_ATT_ERR_CERTIFICATE;
        }
    }
    return TM_ATT_OK;
}

static tm_att_error check_leaf_key(const chain *ch)
{
    EVP_PKEY *pk = X509_get0_pubkey(ch->certs[ch->n_ca]);
    char group[32] = "";
    size_t glen = 0;
    if (pk == NULL || !EVP_PKEY_is_a(pk, "EC") ||
        !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) ||
        strcmp(group, "secp384r1") != 0)
        return fail(TM_ATT_ERR_LEAF_KEY, "certificate: the leaf key is not EC P-384");
    return TM_ATT_OK;
}

static tm_att_error check_cose_signature(const tm_att_doc *doc, const chain *ch)
{
    tm_att_error err = TM_ATT_ERR_SIGNATURE;
    uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    unsigned char *der = NULL;
    size_t der_len = 0;
    EVP_MD_CTX *md = NULL;
    if (doc->signature.len != TM_COSE_ES384_SIG_LEN) return fail(err, "COSE signature: not 96 bytes (r||s)");
    if (tm_cose_sig_structure(doc->protected_hdr.data, doc->protected_hdr.len, doc->payload.data, doc->payload.len, &tbs,
                              &tbs_len) != TM_OK ||
        tm_cose_raw_sig_to_der(doc->signature.data, &der, &der_len) != TM_OK ||
        (md = EVP_MD_CTX_new()) == NULL) {
        err = TM_ATT_ERR_NOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, X509_get0_pubkey(ch->certs[ch->n_ca])) == 1 &&
        EVP_DigestVerify(md, der, der_len, tbs, tbs_len) == 1)
        err = TM_ATT_OK;
    else
        fail(err, "COSE signature: does not verify with the leaf key");
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    free(tbs);
    return err;
}

static tm_att_error check_root(const tm_att_doc *doc, const uint8_t *root, size_t root_len)
{
    const tm_att_bytes *c0 = &doc->cabundle[0];
    if (c0->len != root_len || memcmp(c0->data, root, root_len) != 0)
        return fail(TM_ATT_ERR_ROOT_MISMATCH, "cabundle[0]: is not the pinned root certificate");
    return TM_ATT_OK;
}

static X509 *parent_of(const chain *ch, size_t i)
{
    return ch->certs[i == 0 ? 0 : i - 1];
}

static tm_att_error check_chain_signatures(const chain *ch)
{
    for (size_t i = 0; i <= ch->n_ca; i++) {
        EVP_PKEY *pk = X509_get0_pubkey(parent_of(ch, i));
        if (pk == NULL || X509_verify(ch->certs[i], pk) != 1) {
            tm_err_set(TM_ERR_CRYPTO, "certificate chain: %s%zu is not signed by its issuer",
                       i == ch->n_ca ? "the leaf, " : "cabundle[", i);
            return TM_ATT_ERR_CHAIN;
        }
    }
    return TM_ATT_OK;
}

static tm_att_error check_chain_names(const chain *ch)
{
    for (size_t i = 0; i <= ch->n_ca; i++) {
        if (X509_NAME_cmp(X509_get_issuer_name(ch->certs[i]), X509_get_subject_name(parent_of(ch, i))) != 0) {
            tm_err_set(TM_ERR_CRYPTO, "certificate chain: certificate %zu's issuer is not its parent's subject", i);
            return TM_ATT_ERR_CHAIN_NAMES;
        }
    }
    return TM_ATT_OK;
}

static tm_att_error check_validity(const chain *ch, int64_t at)
{
    for (size_t i = 0; i <= ch->n_ca; i++) {
        int nb = ASN1_TIME_cmp_time_t(X509_get0_notBefore(ch->certs[i]), (time_t)at);
        int na = ASN1_TIME_cmp_time_t(X509_get0_notAfter(ch->certs[i]), (time_t)at);
        if (nb == -2 || na == -2 || nb > 0 || na < 0) {
            tm_err_set(TM_ERR_CRYPTO, "certificate %zu of the chain is not valid at %lld (unix time)", i,
                       (long long)at);
            return TM_ATT_ERR_EXPIRED;
        }
    }
    return TM_ATT_OK;
}

static tm_att_error check_ca_flags(const chain *ch)
{
    for (size_t i = 0; i <= ch->n_ca; i++) {
        bool is_ca = (X509_get_extension_flags(ch->certs[i]) & EXFLAG_CA) != 0;
        if (is_ca != (i < ch->n_ca)) {
            tm_err_set(TM_ERR_CRYPTO, "certificate %zu: %s", i,
                       is_ca ? "the leaf is a CA" : "a cabundle certificate is not a CA");
            return TM_ATT_ERR_CA_FLAGS;
        }
    }
    return TM_ATT_OK;
}

static void run_checks(const tm_att_doc *doc, const tm_att_verify_opts *opts, outcome *o)
{
    size_t root_len = opts && opts->root_der ? opts->root_len : 0;
    const uint8_t *root = opts && opts->root_der ? opts->root_der : tm_att_aws_root_der(&root_len);
    chain ch;
    tm_att_error err = chain_load(doc, &ch);
    if (err != TM_ATT_OK) {
        record(o, ch.certs[ch.n_ca] == NULL ? TM_ATT_CHECK_LEAF_KEY : TM_ATT_CHECK_CHAIN_SIGNATURES, err);
        chain_free(&ch);
        return;
    }
    err = check_leaf_key(&ch);
    record(o, TM_ATT_CHECK_LEAF_KEY, err);
    if (err == TM_ATT_OK) record(o, TM_ATT_CHECK_COSE_SIGNATURE, check_cose_signature(doc, &ch));
    record(o, TM_ATT_CHECK_ROOT_MATCHES_PINNED, check_root(doc, root, root_len));
    record(o, TM_ATT_CHECK_CHAIN_SIGNATURES, check_chain_signatures(&ch));
    record(o, TM_ATT_CHECK_CHAIN_NAMES, check_chain_names(&ch));
    record(o, TM_ATT_CHECK_CHAIN_VALIDITY, check_validity(&ch, o->report->validity_time));
    record(o, TM_ATT_CHECK_CA_FLAGS, check_ca_flags(&ch));
    chain_free(&ch);
}

static void record_parse(outcome *o, tm_att_error err)
{
    tm_att_check failed = TM_ATT_CHECK_PAYLOAD_FIELDS;
    if (err == TM_ATT_ERR_BASE64 || err == TM_ATT_ERR_CBOR || err == TM_ATT_ERR_COSE_STRUCTURE)
        failed = TM_ATT_CHECK_COSE_STRUCTURE;
    else if (err == TM_ATT_ERR_ALGORITHM)
        failed = TM_ATT_CHECK_PROTECTED_ALG;
    for (int c = TM_ATT_CHECK_COSE_STRUCTURE; c <= TM_ATT_CHECK_PAYLOAD_FIELDS; c++) {
        if (err != TM_ATT_OK && c == (int)failed) {
            record(o, (tm_att_check)c, err);
            return;
        }
        record(o, (tm_att_check)c, TM_ATT_OK);
    }
}

tm_att_error tm_att_verify(const uint8_t *cose, size_t len, const tm_att_verify_opts *opts, tm_att_doc *doc,
                           tm_att_report *report)
{
    tm_att_doc local = {0};
    tm_att_report rep;
    tm_att_doc *d = doc ? doc : &local;
    outcome o = {.report = &rep, .first = TM_ATT_OK, .msg = ""};
    memset(&rep, 0, sizeof(rep));
    tm_att_error err = tm_att_parse(cose, len, d);
    record_parse(&o, err);
    if (err == TM_ATT_OK) {
        rep.validity_at_doc = !(opts && opts->at_set);
        rep.validity_time = rep.validity_at_doc ? (int64_t)(d->timestamp_ms / 1000) : opts->at;
        run_checks(d, opts, &o);
    }
    if (!doc) tm_att_doc_free(&local);
    if (report) *report = rep;
    if (o.first != TM_ATT_OK) tm_err_set(tm_att_error_status(o.first), "%s", o.msg);
    return o.first;
}
