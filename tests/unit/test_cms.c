/* CMS EnvelopedData (CiphertextForRecipient): round trips through our encoder and
 * decoder, the wrong key, truncated and garbled input, and a real KMS response as a
 * structure vector (tests/data/kms-ciphertext-for-recipient.ber). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/cms.h"

static tm_cms_recipient *alice, *bob;

static int setup(void **state)
{
    (void)state;
    return tm_cms_recipient_new(&alice) == TM_OK && tm_cms_recipient_new(&bob) == TM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tm_cms_recipient_free(alice);
    tm_cms_recipient_free(bob);
    return 0;
}

static uint8_t *encrypt_to(const tm_cms_recipient *r, const uint8_t *pt, size_t len, size_t *out_len)
{
    const uint8_t *spki = NULL;
    size_t spki_len = 0;
    uint8_t *out = NULL;
    assert_int_equal(tm_cms_recipient_public_der(r, &spki, &spki_len), TM_OK);
    assert_int_equal(tm_cms_encrypt(spki, spki_len, pt, len, &out, out_len), TM_OK);
    return out;
}

static uint8_t *read_file(const char *rel, size_t *len)
{
    const char *src = getenv("TMKMS_SOURCE_DIR");
    char path[1024];
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/%s", src, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65536, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return true;
    return false;
}

static void round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 15, 16, 32, 100, 4096};
    uint8_t pt[4096];
    for (size_t i = 0; i < sizeof(pt); i++) pt[i] = (uint8_t)(i * 7 + 3);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t len = 0;
        uint8_t *ct = encrypt_to(alice, pt, sizes[s], &len);
        tm_cms_secret sec;
        assert_int_equal(tm_cms_decrypt(alice, ct, len, &sec), TM_OK);
        assert_int_equal(sec.len, sizes[s]);
        if (sizes[s] > 0) assert_memory_equal(sec.data, pt, sizes[s]);
        tm_cms_secret_free(&sec);
        assert_null(sec.data);
        free(ct);
    }
}

/* The same layout as KMS's: indefinite ContentInfo / [0] / EnvelopedData, version 2,
 * KTRI v2 with a 32-byte [0] subjectKeyIdentifier, OAEP with SHA-256 and MGF1-SHA-256,
 * AES-256-CBC, ending in end-of-contents octets. */
static void kms_layout(const uint8_t *ct, size_t len)
{
    static const uint8_t head[] = {0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                                   0x07, 0x03, 0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x02, 0x31};
    static const uint8_t ktri[] = {0x02, 0x01, 0x02, 0x80, 0x20};
    /* rsaesOaep, sha256, mgf1 OIDs (OpenSSL leaves out the NULL parameters of the SHA-256
     * AlgorithmIdentifiers that KMS writes; RFC 4055 has readers accept both) */
    static const uint8_t oaep[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07};
    static const uint8_t sha256[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
    static const uint8_t mgf1[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
    static const uint8_t aes256cbc[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a, 0x04, 0x10};
    static const uint8_t eoc[] = {0, 0, 0, 0, 0, 0, 0, 0};
    assert_true(len > sizeof(head));
    assert_memory_equal(ct, head, sizeof(head));
    assert_true(contains(ct, len, ktri, sizeof(ktri)));
    assert_true(contains(ct, len, oaep, sizeof(oaep)));
    assert_true(contains(ct, len, sha256, sizeof(sha256)));
    assert_true(contains(ct, len, mgf1, sizeof(mgf1)));
    assert_true(contains(ct, len, aes256cbc, sizeof(aes256cbc)));
    assert_memory_equal(ct + len - sizeof(eoc), eoc, sizeof(eoc));
}

static void encoder_matches_kms_layout(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *ct = encrypt_to(alice, (const uint8_t *)"sealed consensus key", 20, &len);
    kms_layout(ct, len);
    free(ct);
    uint8_t *kms = read_file("tests/data/kms-ciphertext-for-recipient.ber", &len);
    assert_int_equal(len, 493);
    kms_layout(kms, len);
    free(kms);
}

static void real_kms_sample_parses(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *kms = read_file("tests/data/kms-ciphertext-for-recipient.ber", &len);
    tm_cms_secret sec;
    /* the structure is accepted; only the key is not ours */
    assert_int_equal(tm_cms_decrypt(alice, kms, len, &sec), TM_ERR_CRYPTO);
    assert_null(sec.data);
    /* OAEP with SHA-384 (the last byte of the SHA-256 OID 2.16.840.1.101.3.4.2.1 -> .2),
     * in the hash and then in MGF1: not the structure (offsets from openssl asn1parse) */
    assert_int_equal(kms[94], 0x01);
    kms[94] = 0x02;
    assert_int_equal(tm_cms_decrypt(alice, kms, len, &sec), TM_ERR_INVALID);
    kms[94] = 0x01;
    assert_int_equal(kms[124], 0x01);
    kms[124] = 0x02;
    assert_int_equal(tm_cms_decrypt(alice, kms, len, &sec), TM_ERR_INVALID);
    free(kms);
}

static void wrong_key_refused(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *ct = encrypt_to(alice, (const uint8_t *)"secret", 6, &len);
    tm_cms_secret sec;
    for (int i = 0; i < 20; i++) assert_int_equal(tm_cms_decrypt(bob, ct, len, &sec), TM_ERR_CRYPTO);
    free(ct);
}

static void truncated_and_garbled(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *ct = encrypt_to(alice, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &len);
    tm_cms_secret sec;
    for (size_t n = 0; n < len; n++) {
        tm_status st = tm_cms_decrypt(alice, ct, n, &sec);
        if (st == TM_OK) fail_msg("truncated to %zu bytes still decrypts", n);
        assert_null(sec.data);
    }
    /* every single-byte change: an error, or (IV, identifier, padding-free spots) a
     * different plaintext or the same one — never a crash or a leak */
    size_t errors = 0;
    for (size_t i = 0; i < len; i++) {
        ct[i] ^= 0x5a;
        tm_status st = tm_cms_decrypt(alice, ct, len, &sec);
        errors += st != TM_OK;
        tm_cms_secret_free(&sec);
        ct[i] ^= 0x5a;
    }
    assert_true(errors > len * 3 / 4);
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(tm_cms_decrypt(alice, junk, sizeof(junk), &sec), TM_ERR_INVALID);
    assert_int_equal(tm_cms_decrypt(alice, NULL, 0, &sec), TM_ERR_INVALID);
    free(ct);
}

static void bad_recipient_keys(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t n = 0;
    static const uint8_t junk[] = {0x30, 0x00};
    assert_int_equal(tm_cms_encrypt(junk, sizeof(junk), (const uint8_t *)"x", 1, &out, &n), TM_ERR_INVALID);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(encoder_matches_kms_layout),
        cmocka_unit_test(real_kms_sample_parses),
        cmocka_unit_test(wrong_key_refused),
        cmocka_unit_test(truncated_and_garbled),
        cmocka_unit_test(bad_recipient_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
