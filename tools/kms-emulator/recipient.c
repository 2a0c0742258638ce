/* Decrypt with Recipient: the attestation document is verified against the configured
 * root (tm_att_verify, certificate validity at the document's own time), its PCRs become
 * the kms:RecipientAttestation:PCR0..PCR8 / ImageSha384 condition values (lower-case hex),
 * and the plaintext is returned as CMS EnvelopedData to the document's public_key
 * (tm_cms_encrypt), base64, never in the clear. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "tmkms/aws/attestation.h"
#include "tmkms/aws/cms.h"

static bool decode_document(json_t *recipient, uint8_t **doc, size_t *len, emu_error *e)
{
    const char *alg = json_string_value(json_object_get(recipient, "KeyEncryptionAlgorithm"));
    const char *b64 = json_string_value(json_object_get(recipient, "AttestationDocument"));
    if (!json_is_object(recipient) || !b64)
        return emu_fail(e, 400, "ValidationException", "Recipient needs an AttestationDocument");
    if (alg && strcmp(alg, "RSAES_OAEP_SHA_256") != 0)
        return emu_fail(e, 400, "ValidationException", "KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256");
    size_t n = strlen(b64);
    if (n > TM_ATT_DOC_MAX * 4 / 3 + 4) return emu_fail(e, 400, "ValidationException", "AttestationDocument too large");
    *doc = malloc(n / 4 * 3 + 3);
    if (!*doc) return emu_fail(e, 500, "KMSInternalException", "out of memory");
    if (sodium_base642bin(*doc, n / 4 * 3 + 3, b64, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*doc);
        *doc = NULL;
        return emu_fail(e, 400, "SerializationException", "AttestationDocument is not base64");
    }
    return true;
}

static void fill_context(const tm_att_doc *d, emu_recipient *r)
{
    for (int i = 0; i <= 8; i++) {
        const tm_att_pcr *p = &d->pcrs[i];
        if (!p->present || p->len == 0 || p->len > 48) continue;
        sodium_bin2hex(r->pcr_hex[i], sizeof(r->pcr_hex[i]), p->value, p->len);
        snprintf(r->key_names[r->n_ctx], sizeof(r->key_names[0]), "kms:RecipientAttestation:PCR%d", i);
        r->ctx[r->n_ctx] = (emu_context){r->key_names[r->n_ctx], r->pcr_hex[i]};
        r->n_ctx++;
        if (i == 0) {
            snprintf(r->key_names[r->n_ctx], sizeof(r->key_names[0]), "kms:RecipientAttestation:ImageSha384");
            r->ctx[r->n_ctx] = (emu_context){r->key_names[r->n_ctx], r->pcr_hex[0]};
            r->n_ctx++;
        }
    }
}

bool emu_recipient_open(const kms_emu *emu, json_t *recipient, emu_recipient *r, emu_error *e)
{
    uint8_t *doc = NULL;
    size_t len = 0;
    tm_att_doc d;
    memset(r, 0, sizeof(*r));
    if (!decode_document(recipient, &doc, &len, e)) return false;
    tm_att_verify_opts opts = {emu->attestation_root, emu->attestation_root_len, false, 0};
    tm_att_error err = tm_att_verify(doc, len, &opts, &d, NULL);
    free(doc);
    bool ok = err == TM_ATT_OK;
    if (!ok) emu_fail(e, 400, "ValidationException", "Invalid attestation document: %s", tm_att_error_name(err));
    else if (!d.public_key.present || d.public_key.len == 0) {
        emu_fail(e, 400, "ValidationException", "the attestation document has no public_key");
        ok = false;
    }
    if (ok) {
        fill_context(&d, r);
        r->public_key = malloc(d.public_key.len);
        if (r->public_key) {
            memcpy(r->public_key, d.public_key.data, d.public_key.len);
        } else {
            emu_fail(e, 500, "KMSInternalException", "out of memory");
            ok = false;
        }
        r->public_key_len = d.public_key.len;
    }
    tm_att_doc_free(&d);
    return ok;
}

bool emu_recipient_encrypt(const emu_recipient *r, const uint8_t *pt, size_t len, char **b64_out, emu_error *e)
{
    uint8_t *cms = NULL;
    size_t cms_len = 0;
    if (tm_cms_encrypt(r->public_key, r->public_key_len, pt, len, &cms, &cms_len) != TM_OK)
        return emu_fail(e, 400, "ValidationException", "cannot encrypt to the attestation public_key: %s", tm_err_msg());
    size_t n = sodium_base64_encoded_len(cms_len, sodium_base64_VARIANT_ORIGINAL);
    *b64_out = malloc(n);
    if (*b64_out) sodium_bin2base64(*b64_out, n, cms, cms_len, sodium_base64_VARIANT_ORIGINAL);
    free(cms);
    return *b64_out != NULL || emu_fail(e, 500, "KMSInternalException", "out of memory");
}

void emu_recipient_close(emu_recipient *r)
{
    free(r->public_key);
    memset(r, 0, sizeof(*r));
}
