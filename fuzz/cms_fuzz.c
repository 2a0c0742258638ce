/* libFuzzer target: CMS EnvelopedData (tm_cms_decrypt) on arbitrary bytes, and, for
 * inputs starting with 0x00, a round trip of the rest as plaintext through
 * tm_cms_encrypt. Seeds: fuzz/corpus/cms/ (a real KMS response and one of ours). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/cms.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tm_cms_recipient *me;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (tm_cms_recipient_new(&me) != TM_OK) abort();
    return 0;
}

static void round_trip(const uint8_t *pt, size_t len)
{
    const uint8_t *spki = NULL;
    size_t spki_len = 0, ct_len = 0;
    uint8_t *ct = NULL;
    tm_cms_secret sec;
    if (tm_cms_recipient_public_der(me, &spki, &spki_len) != TM_OK ||
        tm_cms_encrypt(spki, spki_len, pt, len, &ct, &ct_len) != TM_OK ||
        tm_cms_decrypt(me, ct, ct_len, &sec) != TM_OK || sec.len != len || (len && memcmp(sec.data, pt, len) != 0))
        abort();
    tm_cms_secret_free(&sec);
    free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    if (size) memcpy(copy, data, size);
    tm_cms_secret sec;
    if (tm_cms_decrypt(me, copy, size, &sec) == TM_OK) tm_cms_secret_free(&sec);
    if (size > 0 && size <= 4097 && copy[0] == 0) round_trip(copy + 1, size - 1);
    free(copy);
    return 0;
}
