/* Unsealing inside the enclave: KMS Decrypt with a Recipient, so the plaintext key only
 * ever exists encrypted to a fresh RSA key whose private half never leaves this process.
 *
 * Flow: a new RSA-2048 key pair; an NSM attestation document carrying its public key;
 * Decrypt(CiphertextBlob, Recipient{RSAES_OAEP_SHA_256, document}); KMS checks the key
 * policy's kms:RecipientAttestation:* conditions against the document and answers
 * CiphertextForRecipient (CMS EnvelopedData) instead of Plaintext; CMS decrypt with the
 * private key into locked memory. */
#ifndef TMKMS_NITRO_UNSEAL_H
#define TMKMS_NITRO_UNSEAL_H

#include <stddef.h>
#include <stdint.h>

#include "tmkms/aws/cms.h"
#include "tmkms/aws/kms.h"
#include "tmkms/aws/nsm.h"
#include "tmkms/error.h"

/* `key_id` may be NULL (the blob names its key). *out is locked memory
 * (tm_cms_secret_free); empty on failure. */
tm_status tm_nitro_unseal(tm_nsm *nsm, const tm_kms_config *kms, const char *key_id, const uint8_t *blob,
                          size_t len, tm_cms_secret *out, tm_kms_error *err);

#endif
