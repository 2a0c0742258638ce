/* See unseal.h. */
#include "tmkms/nitro/unseal.h"

#include <stdlib.h>

tm_status tm_nitro_unseal(tm_nsm *nsm, const tm_kms_config *kms, const char *key_id, const uint8_t *blob,
                          size_t len, tm_cms_secret *out, tm_kms_error *err)
{
    tm_status status = TM_OK;
    tm_cms_recipient *r = NULL;
    uint8_t *doc = NULL;
    size_t doc_len = 0, spki_len = 0;
    const uint8_t *spki = NULL;
    tm_kms_bytes cms = {0};
    out->data = NULL;
    out->len = 0;
    TM_TRY_GOTO(tm_cms_recipient_new(&r));
    TM_TRY_GOTO(tm_cms_recipient_public_der(r, &spki, &spki_len));
    tm_nsm_opt_bytes pk = {true, (uint8_t *)spki, spki_len};
    TM_TRY_GOTO(tm_nsm_attestation(nsm, NULL, NULL, &pk, &doc, &doc_len));
    tm_kms_recipient rec = {doc, doc_len};
    TM_TRY_GOTO(tm_kms_decrypt(kms, key_id, blob, len, &rec, &cms, err));
    TM_TRY_GOTO(tm_cms_decrypt(r, cms.data, cms.len, out));
out:
    tm_kms_bytes_free(&cms);
    free(doc);
    tm_cms_recipient_free(r);
    return status;
}
