/* libFuzzer target: attestation documents (tm_att_parse, tm_att_verify) and the base64
 * reader of verify-attestation. Untrusted bytes of any length must never be read out of
 * bounds, leak, or verify. Seeds: fuzz/corpus/attestation/ (the real AWS documents,
 * decoded, and a simulator document). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/attestation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy: the sanitizer then catches any read past the input. */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    if (size) memcpy(copy, data, size);
    tm_att_doc doc;
    tm_att_report rep;
    tm_att_error err = tm_att_verify(copy, size, NULL, &doc, &rep);
    /* a decoded document has its mandatory fields */
    if (doc.module_id != NULL && (doc.n_cabundle == 0 || !doc.certificate.present || doc.timestamp_ms == 0)) abort();
    if (err == TM_ATT_OK && rep.checks[TM_ATT_CHECK_COSE_SIGNATURE] != TM_ATT_PASSED) abort();
    tm_att_doc_free(&doc);
    tm_att_doc parsed;
    if (tm_att_parse(copy, size, &parsed) == TM_ATT_OK) tm_att_doc_free(&parsed);
    uint8_t *bin = NULL;
    size_t len = 0;
    if (tm_att_base64_decode((const char *)copy, size, &bin, &len) == TM_OK) free(bin);
    free(copy);
    return 0;
}
