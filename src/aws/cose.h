/* Internal COSE_Sign1 helpers (ES384) shared by the verifier and the NSM simulator. */
#ifndef TMKMS_AWS_COSE_H
#define TMKMS_AWS_COSE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_COSE_ES384_SIG_LEN 96

/* Sig_structure = ["Signature1", protected, h'', payload] as CBOR (malloc'd). */
tm_status tm_cose_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len,
                                uint8_t **out, size_t *len);
/* Raw r||s (48 + 48 bytes) to a DER ECDSA-Sig-Value (OPENSSL_free) and back. */
tm_status tm_cose_raw_sig_to_der(const uint8_t raw[TM_COSE_ES384_SIG_LEN], unsigned char **der, size_t *der_len);
tm_status tm_cose_der_sig_to_raw(const unsigned char *der, size_t der_len, uint8_t raw[TM_COSE_ES384_SIG_LEN]);
/* COSE_Sign1 [ {1:-35}, {}, payload, sig ] signed with the P-384 key (malloc'd). */
tm_status tm_cose_sign1_es384(EVP_PKEY *key, const uint8_t *payload, size_t payload_len, uint8_t **out, size_t *len);

#endif
