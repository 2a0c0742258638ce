/* AWS Nitro Enclaves attestation documents: decoding and verification.
 *
 * A document is COSE_Sign1 = [protected bstr, unprotected map, payload bstr, signature bstr]
 * (optionally CBOR tag 18), protected = {1: -35} (ES384), payload = a CBOR map (definite or
 * indefinite length) with module_id tstr, digest tstr, timestamp uint (ms), pcrs
 * {uint => bstr}, certificate bstr (DER), cabundle [bstr...] (DER, root first), and
 * public_key / user_data / nonce (bstr or null, or absent). The signature is the raw
 * 96-byte r||s of ECDSA P-384/SHA-384 over Sig_structure
 * ["Signature1", protected, h'', payload] by the leaf certificate's key.
 *
 * Verification runs the checks below, in this order, and returns the first failure as a
 * distinct tm_att_error (and a message in tm_err_msg()). Certificate validity is checked
 * at the document's own timestamp unless the caller gives a time: real documents come
 * with a leaf valid for about three hours. The 512-byte user_data limit of the AWS text
 * is not enforced (real documents exceed it). */
#ifndef TMKMS_AWS_ATTESTATION_H
#define TMKMS_AWS_ATTESTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_ATT_MAX_PCRS 32
#define TM_ATT_PCR_MAX_LEN 64
#define TM_ATT_MAX_CABUNDLE 8
#define TM_ATT_DOC_MAX (64 * 1024) /* a document above this size is refused */

typedef enum {
    TM_ATT_OK = 0,
    TM_ATT_ERR_BASE64,          /* "bad_base64": the text is not base64 */
    TM_ATT_ERR_CBOR,            /* "malformed_cbor": not one well-formed CBOR item */
    TM_ATT_ERR_COSE_STRUCTURE,  /* "cose_structure": not [bstr, map, bstr, bstr] */
    TM_ATT_ERR_ALGORITHM,       /* "wrong_algorithm": protected header is not {1: -35} */
    TM_ATT_ERR_MISSING_FIELD,   /* "missing_field": a mandatory payload field is absent */
    TM_ATT_ERR_FIELD_TYPE,      /* "bad_field": a payload field has the wrong type/size */
    TM_ATT_ERR_CERTIFICATE,     /* "bad_certificate": a certificate does not parse */
    TM_ATT_ERR_LEAF_KEY,        /* "leaf_key": the leaf key is not EC P-384 */
    TM_ATT_ERR_SIGNATURE,       /* "bad_signature": the COSE signature does not verify */
    TM_ATT_ERR_ROOT_MISMATCH,   /* "root_mismatch": cabundle[0] is not the pinned root */
    TM_ATT_ERR_CHAIN,           /* "broken_chain": a certificate is not signed by its parent */
    TM_ATT_ERR_CHAIN_NAMES,     /* "chain_names": issuer != parent's subject */
    TM_ATT_ERR_EXPIRED,         /* "expired_certificate": outside notBefore..notAfter */
    TM_ATT_ERR_CA_FLAGS,        /* "ca_flags": a cabundle cert is not a CA, or the leaf is */
    TM_ATT_ERR_NOMEM,           /* "out_of_memory" */
} tm_att_error;

/* The stable short name above ("bad_signature", ...). */
const char *tm_att_error_name(tm_att_error err);
/* The tm_status family of an error: TM_ERR_INVALID for format errors, TM_ERR_CRYPTO for
 * failed checks, TM_ERR_NOMEM. */
tm_status tm_att_error_status(tm_att_error err);

/* The checks, as reported (names as in shared/attestation/README.md). */
typedef enum {
    TM_ATT_CHECK_COSE_STRUCTURE = 0,
    TM_ATT_CHECK_PROTECTED_ALG,
    TM_ATT_CHECK_PAYLOAD_FIELDS,
    TM_ATT_CHECK_LEAF_KEY,
    TM_ATT_CHECK_COSE_SIGNATURE,
    TM_ATT_CHECK_ROOT_MATCHES_PINNED,
    TM_ATT_CHECK_CHAIN_SIGNATURES,
    TM_ATT_CHECK_CHAIN_NAMES,
    TM_ATT_CHECK_CHAIN_VALIDITY,
    TM_ATT_CHECK_CA_FLAGS,
    TM_ATT_CHECK_COUNT
} tm_att_check;

typedef enum { TM_ATT_NOT_RUN = 0, TM_ATT_PASSED, TM_ATT_FAILED } tm_att_check_result;

/* "cose_structure", "protected_alg", ... */
const char *tm_att_check_name(tm_att_check check);

/* What a verification found: every check's result (the cryptographic checks all run
 * once the document decodes, so a report shows each that failed), and the time used for
 * certificate validity. */
typedef struct {
    tm_att_check_result checks[TM_ATT_CHECK_COUNT];
    int64_t validity_time;  /* seconds since the epoch */
    bool validity_at_doc;   /* true: the document's own timestamp was used */
} tm_att_report;

typedef struct {
    bool present; /* false: absent or CBOR null */
    uint8_t *data;
    size_t len;
} tm_att_bytes;

typedef struct {
    bool present;
    size_t len;
    uint8_t value[TM_ATT_PCR_MAX_LEN];
} tm_att_pcr;

/* A decoded document. Owns its buffers: tm_att_doc_free. */
typedef struct {
    char *module_id;
    char digest[8];        /* "SHA384" for Nitro */
    uint64_t timestamp_ms; /* ms since the epoch */
    tm_att_pcr pcrs[TM_ATT_MAX_PCRS];
    tm_att_bytes certificate;
    size_t n_cabundle;
    tm_att_bytes cabundle[TM_ATT_MAX_CABUNDLE];
    tm_att_bytes public_key, user_data, nonce;
    /* The COSE parts, for callers that re-check: the protected header and payload bytes
     * as signed, and the raw signature. */
    tm_att_bytes protected_hdr, payload, signature;
} tm_att_doc;

void tm_att_doc_free(tm_att_doc *doc);

/* Decode only (no signature or chain checks): COSE structure, algorithm, payload fields.
 * On failure *doc is left empty (nothing to free). */
tm_att_error tm_att_parse(const uint8_t *cose, size_t len, tm_att_doc *doc);

typedef struct {
    /* The pinned root certificate, DER. NULL: the embedded AWS Nitro Enclaves root G1. */
    const uint8_t *root_der;
    size_t root_len;
    /* Certificate validity time, seconds since the epoch, when at_set; otherwise the
     * document's timestamp. */
    bool at_set;
    int64_t at;
} tm_att_verify_opts;

/* Decode and verify. opts may be NULL (AWS root, document time); doc and report may be
 * NULL. *doc is zeroed first and holds the decoded document whenever decoding got that
 * far, even if a later check failed (so a tool can show what it refused): call
 * tm_att_doc_free after every call. Returns the first failed check's error. */
tm_att_error tm_att_verify(const uint8_t *cose, size_t len, const tm_att_verify_opts *opts, tm_att_doc *doc,
                           tm_att_report *report);

/* The embedded AWS Nitro Enclaves root G1 (CN=aws.nitro-enclaves), DER. */
const uint8_t *tm_att_aws_root_der(size_t *len);

/* Helpers for the operator tools and tests. */

/* Base64 (standard alphabet) of a document as found in the wild: surrounding ASCII
 * whitespace ignored, '=' padding optional; otherwise strict (no other characters, no
 * non-zero trailing bits, no data after padding). Result malloc'd. TM_ERR_INVALID. */
tm_status tm_att_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);
/* The first certificate of a PEM text, as DER (malloc'd). */
tm_status tm_att_pem_cert_to_der(const char *pem, size_t len, uint8_t **der, size_t *der_len);

#endif
