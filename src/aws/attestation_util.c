/* Attestation documents: names of errors and checks, base64 and PEM input helpers. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/signer.h"
#include "tmkms/aws/attestation.h"

static const char *const error_names[] = {
    [TM_ATT_OK] = "ok",
    [TM_ATT_ERR_BASE64] = "bad_base64",
    [TM_ATT_ERR_CBOR] = "malformed_cbor",
    [TM_ATT_ERR_COSE_STRUCTURE] = "cose_structure",
    [TM_ATT_ERR_ALGORITHM] = "wrong_algorithm",
    [TM_ATT_ERR_MISSING_FIELD] = "missing_field",
    [TM_ATT_ERR_FIELD_TYPE] = "bad_field",
    [TM_ATT_ERR_CERTIFICATE] = "bad_certificate",
    [TM_ATT_ERR_LEAF_KEY] = "leaf_key",
    [TM_ATT_ERR_SIGNATURE] = "bad_signature",
    [TM_ATT_ERR_ROOT_MISMATCH] = "root_mismatch",
    [TM_ATT_ERR_CHAIN] = "broken_chain",
    [TM_ATT_ERR_CHAIN_NAMES] = "chain_names",
    [TM_ATT_ERR_EXPIRED] = "expired_certificate",
    [TM_ATT_ERR_CA_FLAGS] = "ca_flags",
    [TM_ATT_ERR_NOMEM] = "out_of_memory",
};

static const char *const check_names[TM_ATT_CHECK_COUNT] = {
    "cose_structure",      "protected_alg",    "payload_fields", "leaf_key",       "cose_signature",
    "root_matches_pinned", "chain_signatures", "chain_names",    "chain_validity", "ca_flags",
};

const char *tm_att_error_name(tm_att_error err)
{
    if ((unsigned)err >= sizeof(error_names) / sizeof(error_names[0])) return "unknown";
    return error_names[err];
}

tm_status tm_att_error_status(tm_att_error err)
{
    switch (err) {
    case TM_ATT_OK: return TM_OK;
    case TM_ATT_ERR_NOMEM: return TM_ERR_NOMEM;
    case TM_ATT_ERR_BASE64:
    case TM_ATT_ERR_CBOR:
    case TM_ATT_ERR_COSE_STRUCTURE:
    case TM_ATT_ERR_MISSING_FIELD:
    case TM_ATT_ERR_FIELD_TYPE: return TM_ERR_INVALID;
    default: return TM_ERR_CRYPTO;
    }
}

const char *tm_att_check_name(tm_att_check check)
{
    if ((unsigned)check >= TM_ATT_CHECK_COUNT) return "unknown";
    return check_names[check];
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

tm_status tm_att_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    tm_status status = TM_OK;
    char *padded = NULL;
    uint8_t *bin = NULL;
    *out = NULL;
    *out_len = 0;
    while (len > 0 && is_space(text[0])) text++, len--;
    while (len > 0 && is_space(text[len - 1])) len--;
    TM_ENSURE_GOTO(len > 0 && len % 4 != 1 && len <= 4 * (size_t)TM_ATT_DOC_MAX, TM_ERR_INVALID,
                   "base64: empty, too long or a bad length (%zu characters)", len);
    TM_TRY_GOTO(tm_crypto_init()); /* libsodium; jansson frees that wipe */
    size_t plen = (len + 3) / 4 * 4;
    padded = malloc(plen + 1);
    bin = malloc(plen / 4 * 3 + 1);
    TM_ENSURE_GOTO(padded && bin, TM_ERR_NOMEM, "out of memory");
    memcpy(padded, text, len);
    memset(padded + len, '=', plen - len);
    padded[plen] = 0;
    size_t n = 0;
    const char *end = NULL;
    TM_ENSURE_GOTO(sodium_base642bin(bin, plen / 4 * 3 + 1, padded, plen, NULL, &n, &end,
                                     sodium_base64_VARIANT_ORIGINAL) == 0 && end == padded + plen,
                   TM_ERR_INVALID, "base64: not valid standard base64");
    *out = bin;
    *out_len = n;
    bin = NULL;
out:
    free(padded);
    free(bin);
    return status;
}

tm_status tm_att_pem_cert_to_der(const char *pem, size_t len, uint8_t **der, size_t *der_len)
{
    tm_status status = TM_OK;
    BIO *bio = NULL;
    X509 *cert = NULL;
    unsigned char *buf = NULL;
    *der = NULL;
    *der_len = 0;
    TM_ENSURE_GOTO(len <= INT32_MAX, TM_ERR_TOO_LARGE, "PEM text too long");
    bio = BIO_new_mem_buf(pem, (int)len);
    TM_ENSURE_GOTO(bio != NULL, TM_ERR_NOMEM, "out of memory");
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    TM_ENSURE_GOTO(cert != NULL, TM_ERR_INVALID, "no PEM certificate found");
    int n = i2d_X509(cert, &buf);
    TM_ENSURE_GOTO(n > 0, TM_ERR_NOMEM, "certificate encoding failed");
    *der = malloc((size_t)n);
    TM_ENSURE_GOTO(*der != NULL, TM_ERR_NOMEM, "out of memory");
    memcpy(*der, buf, (size_t)n);
    *der_len = (size_t)n;
out:
    OPENSSL_free(buf);
    X509_free(cert);
    BIO_free(bio);
    return status;
}
