/* CMS EnvelopedData as AWS KMS returns it in CiphertextForRecipient (Decrypt with a
 * Recipient attestation document), both ways.
 *
 * Structure: ContentInfo(id-envelopedData) { EnvelopedData version 2, one
 * KeyTransRecipientInfo version 2 whose rid is a subjectKeyIdentifier, key encryption
 * RSAES-OAEP (SHA-256, MGF1-SHA-256), encryptedContentInfo id-data / AES-256-CBC }, in BER
 * with indefinite lengths.
 *
 * Decrypt side (the enclave): a recipient is an RSA-2048 key generated in memory for one
 * request; its SubjectPublicKeyInfo DER goes into the attestation request's public_key;
 * KMS encrypts to it; tm_cms_decrypt returns the plaintext in locked memory.
 *
 * Encrypt side (the KMS emulator): tm_cms_encrypt produces exactly that structure for a
 * recipient public key taken from an attestation document's public_key field. */
#ifndef TMKMS_AWS_CMS_H
#define TMKMS_AWS_CMS_H

#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_CMS_MAX_INPUT (1024 * 1024) /* larger CMS input is refused */

/* Plaintext in sodium_malloc'd (locked, guarded) memory; tm_cms_secret_free wipes it. */
typedef struct {
    uint8_t *data;
    size_t len;
} tm_cms_secret;

void tm_cms_secret_free(tm_cms_secret *secret);

/* ---- decrypt side ---- */

typedef struct tm_cms_recipient tm_cms_recipient;

/* A fresh RSA-2048 key pair for one request. */
tm_status tm_cms_recipient_new(tm_cms_recipient **out);
/* Its public key as SubjectPublicKeyInfo DER (valid as long as the recipient). */
tm_status tm_cms_recipient_public_der(const tm_cms_recipient *r, const uint8_t **der, size_t *len);
/* Decrypts a CiphertextForRecipient (DER or BER). Errors: TM_ERR_INVALID for input that
 * is not that structure (garbled, truncated, another content type, not exactly one
 * key-transport recipient with a subjectKeyIdentifier and RSAES-OAEP), TM_ERR_CRYPTO
 * when it is not for this key or does not decrypt. *out is empty on
 * failure. */
tm_status tm_cms_decrypt(const tm_cms_recipient *r, const uint8_t *cms, size_t len, tm_cms_secret *out);
/* Frees the key pair (OpenSSL clears the private key). NULL is fine. */
void tm_cms_recipient_free(tm_cms_recipient *r);

/* ---- encrypt side ---- */

/* Encrypts `plaintext` to the RSA public key `spki_der` (SubjectPublicKeyInfo DER, at
 * least 2048 bits). The recipient is identified by a 32-byte subjectKeyIdentifier, the
 * SHA-256 of the public key bits (KMS's responses carry a 32-byte identifier; decryption
 * does not depend on its value). Output (malloc'd, free()) is BER with indefinite
 * lengths, like KMS's. */
tm_status tm_cms_encrypt(const uint8_t *spki_der, size_t spki_len, const uint8_t *plaintext, size_t len,
                         uint8_t **out, size_t *out_len);

#endif
