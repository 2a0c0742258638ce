/* Attestation documents: the four real AWS documents in shared/attestation verify, the
 * tampered copy fails on the signature only, a one-byte change anywhere fails, and
 * malformed input gets its own named error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/attestation.h"

static const char *const docs[] = {"doc1", "doc2", "doc3", "doc4"};

static char *read_text(const char *name, const char *ext, size_t *len)
{
    const char *dir = getenv("TMKMS_SHARED_DIR");
    char path[1024];
    assert_non_null(dir);
    int n = snprintf(path, sizeof(path), "%s/attestation/%s%s", dir, name, ext);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static uint8_t *load_doc(const char *name, size_t *len)
{
    size_t tlen = 0;
    char *text = read_text(name, ".b64", &tlen);
    uint8_t *bin = NULL;
    assert_int_equal(tm_att_base64_decode(text, tlen, &bin, len), TM_OK);
    free(text);
    return bin;
}

static json_t *load_facts(const char *name)
{
    size_t len = 0;
    char *text = read_text(name, ".facts.json", &len);
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static void assert_hex(const uint8_t *bin, size_t len, const char *hex)
{
    char buf[2 * 1024 + 1];
    assert_true(len <= 1024);
    sodium_bin2hex(buf, sizeof(buf), bin, len);
    assert_string_equal(buf, hex);
}

static void check_optional(const tm_att_bytes *b, json_t *fact)
{
    json_t *present = json_object_get(fact, "present");
    assert_int_equal(b->present, json_is_true(present));
    if (b->present) assert_hex(b->data, b->len, json_string_value(json_object_get(fact, "hex")));
}

static void check_facts(const tm_att_doc *doc, json_t *facts)
{
    assert_string_equal(doc->module_id, json_string_value(json_object_get(facts, "module_id")));
    assert_string_equal(doc->digest, json_string_value(json_object_get(facts, "digest")));
    assert_int_equal(doc->timestamp_ms, json_integer_value(json_object_get(facts, "timestamp_ms")));
    json_t *pcrs = json_object_get(facts, "pcrs");
    assert_hex(doc->pcrs[0].value, doc->pcrs[0].len, json_string_value(json_object_get(pcrs, "PCR0")));
    assert_hex(doc->pcrs[4].value, doc->pcrs[4].len, json_string_value(json_object_get(pcrs, "PCR4")));
    json_t *idx = json_object_get(pcrs, "indexes_present");
    size_t count = 0;
    for (size_t i = 0; i < TM_ATT_MAX_PCRS; i++) count += doc->pcrs[i].present;
    assert_int_equal(count, json_array_size(idx));
    assert_int_equal(doc->n_cabundle, json_integer_value(json_object_get(facts, "cabundle_count")));
    check_optional(&doc->nonce, json_object_get(facts, "nonce"));
    json_t *ud = json_object_get(facts, "user_data");
    assert_int_equal(doc->user_data.present, json_is_true(json_object_get(ud, "present")));
    if (doc->user_data.present)
        assert_int_equal(doc->user_data.len, json_integer_value(json_object_get(ud, "length")));
}

static void real_documents_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        size_t len = 0;
        uint8_t *bin = load_doc(docs[i], &len);
        json_t *facts = load_facts(docs[i]);
        assert_int_equal(len, json_integer_value(json_object_get(facts, "document_bytes")));
        tm_att_doc doc;
        tm_att_report rep;
        tm_att_error err = tm_att_verify(bin, len, NULL, &doc, &rep);
        if (err != TM_ATT_OK) fail_msg("%s: %s: %s", docs[i], tm_att_error_name(err), tm_err_msg());
        for (int c = 0; c < TM_ATT_CHECK_COUNT; c++) assert_int_equal(rep.checks[c], TM_ATT_PASSED);
        assert_true(rep.validity_at_doc);
        assert_int_equal(rep.validity_time, (int64_t)(doc.timestamp_ms / 1000));
        check_facts(&doc, facts);
        tm_att_doc_free(&doc);
        json_decref(facts);
        free(bin);
    }
}

static void tag18_accepted(void **state)
{
    (void)state;
    static const uint8_t heads[][2] = {{0xd2, 0}, {0xd8, 0x12}};
    size_t len = 0;
    uint8_t *bin = load_doc("doc4", &len);
    for (size_t h = 0; h < 2; h++) {
        size_t hl = heads[h][1] ? 2 : 1;
        uint8_t *tagged = malloc(len + 2);
        memcpy(tagged, heads[h], hl);
        memcpy(tagged + hl, bin, len);
        assert_int_equal(tm_att_verify(tagged, len + hl, NULL, NULL, NULL), TM_ATT_OK);
        free(tagged);
    }
    free(bin);
}

static void documents_expired_now(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *bin = load_doc("doc1", &len);
    tm_att_verify_opts opts = {.at_set = true, .at = 1893456000}; /* 2030-01-01 */
    tm_att_report rep;
    assert_int_equal(tm_att_verify(bin, len, &opts, NULL, &rep), TM_ATT_ERR_EXPIRED);
    assert_int_equal(rep.checks[TM_ATT_CHECK_CHAIN_VALIDITY], TM_ATT_FAILED);
    assert_int_equal(rep.checks[TM_ATT_CHECK_COSE_SIGNATURE], TM_ATT_PASSED);
    assert_false(rep.validity_at_doc);
    free(bin);
}

static void tampered_fails_on_signature_only(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *bin = load_doc("tampered1", &len);
    tm_att_report rep;
    assert_int_equal(tm_att_verify(bin, len, NULL, NULL, &rep), TM_ATT_ERR_SIGNATURE);
    for (int c = 0; c < TM_ATT_CHECK_COUNT; c++)
        assert_int_equal(rep.checks[c], c == TM_ATT_CHECK_COSE_SIGNATURE ? TM_ATT_FAILED : TM_ATT_PASSED);
    free(bin);
}

/* Every byte offset with TMKMS_TEST_LONG=1, else every 16th (and always the first 64 and
 * the last 128, where the structure and the signature are). */
static void one_byte_change_fails(void **state)
{
    (void)state;
    const char *lng = getenv("TMKMS_TEST_LONG");
    size_t step = lng && *lng && strcmp(lng, "0") != 0 ? 1 : 16;
    size_t tried = 0;
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        size_t len = 0;
        uint8_t *bin = load_doc(docs[d], &len);
        for (size_t i = 0; i < len; i++) {
            if (i % step != 0 && i >= 64 && i + 128 < len) continue;
            uint8_t mask = (uint8_t)(1u << (i % 8));
            bin[i] ^= mask;
            tm_att_error err = tm_att_verify(bin, len, NULL, NULL, NULL);
            if (err == TM_ATT_OK) fail_msg("%s: changing byte %zu (xor %02x) still verifies", docs[d], i, mask);
            bin[i] ^= mask;
            tried++;
        }
        free(bin);
    }
    print_message("one-byte changes tried: %zu\n", tried);
}

static void aws_root_is_g1(void **state)
{
    (void)state;
    size_t len = 0;
    const uint8_t *der = tm_att_aws_root_der(&len);
    uint8_t h[32];
    SHA256(der, len, h);
    assert_hex(h, sizeof(h), "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");
    size_t plen = 0;
    char *pem = read_text("aws-nitro-root-g1", ".pem", &plen);
    uint8_t *der2 = NULL;
    size_t len2 = 0;
    assert_int_equal(tm_att_pem_cert_to_der(pem, plen, &der2, &len2), TM_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(der2, der, len);
    free(der2);
    free(pem);
}

static void other_root_is_a_mismatch(void **state)
{
    (void)state;
    size_t len = 0, root_len = 0;
    uint8_t *bin = load_doc("doc2", &len);
    const uint8_t *aws = tm_att_aws_root_der(&root_len);
    uint8_t *other = malloc(root_len);
    memcpy(other, aws, root_len);
    other[root_len - 1] ^= 1; /* a different root (its signature byte) */
    tm_att_verify_opts opts = {.root_der = other, .root_len = root_len};
    assert_int_equal(tm_att_verify(bin, len, &opts, NULL, NULL), TM_ATT_ERR_ROOT_MISMATCH);
    free(other);
    free(bin);
}

static void base64_padding_optional_else_strict(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(tm_att_base64_decode("aGk=", 4, &out, &n), TM_OK);
    assert_int_equal(n, 2);
    free(out);
    assert_int_equal(tm_att_base64_decode(" aGk\n", 5, &out, &n), TM_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "hi", 2);
    free(out);
    assert_int_equal(tm_att_base64_decode("aGl=", 4, &out, &n), TM_ERR_INVALID); /* non-zero bits */
    assert_int_equal(tm_att_base64_decode("aG k=", 5, &out, &n), TM_ERR_INVALID);
    assert_int_equal(tm_att_base64_decode("aGk=aGk=", 8, &out, &n), TM_ERR_INVALID);
    assert_int_equal(tm_att_base64_decode("aGk-", 4, &out, &n), TM_ERR_INVALID);
    assert_int_equal(tm_att_base64_decode("a", 1, &out, &n), TM_ERR_INVALID);
    assert_int_equal(tm_att_base64_decode("", 0, &out, &n), TM_ERR_INVALID);
    assert_null(out);
}

static tm_att_error verify_hex(const char *hex)
{
    uint8_t buf[256];
    size_t n = 0;
    assert_int_equal(sodium_hex2bin(buf, sizeof(buf), hex, strlen(hex), NULL, &n, NULL), 0);
    return tm_att_verify(buf, n, NULL, NULL, NULL);
}

static void malformed_inputs_named(void **state)
{
    (void)state;
    assert_int_equal(verify_hex("ff"), TM_ATT_ERR_CBOR);
    assert_int_equal(verify_hex("8440a040"), TM_ATT_ERR_CBOR);          /* array of 4 with 3 */
    assert_int_equal(verify_hex("8340a040"), TM_ATT_ERR_COSE_STRUCTURE); /* 3 elements */
    assert_int_equal(verify_hex("d8118440a04040"), TM_ATT_ERR_COSE_STRUCTURE); /* tag 17 */
    assert_int_equal(verify_hex("d2d28440a04040"), TM_ATT_ERR_CBOR);         /* tag 18 twice */
    assert_int_equal(verify_hex("8440804040"), TM_ATT_ERR_COSE_STRUCTURE);     /* unprotected is an array */
    assert_int_equal(verify_hex("8443a10126a04040"), TM_ATT_ERR_ALGORITHM);    /* ES256 */
    assert_int_equal(verify_hex("8440a04040"), TM_ATT_ERR_ALGORITHM);
    /* {1:-35}, payload {} */
    assert_int_equal(verify_hex("8444a1013822a041a040"), TM_ATT_ERR_MISSING_FIELD);
    /* payload {"module_id": 1} */
    assert_int_equal(verify_hex("8444a1013822a04ca1696d6f64756c655f69640140"), TM_ATT_ERR_FIELD_TYPE);
    /* trailing byte */
    assert_int_equal(verify_hex("8444a1013822a041a04000"), TM_ATT_ERR_CBOR);
    /* heads declaring more items than there are bytes: refused before libcbor allocates
     * them (found by fuzzing: a 14-byte input made libcbor allocate 10 GB) */
    assert_int_equal(verify_hex("9b00000000ffffffff00"), TM_ATT_ERR_CBOR);
    assert_int_equal(verify_hex("8444a1013822a0409a3fffffff"), TM_ATT_ERR_CBOR);
    assert_int_equal(verify_hex("bb00000000ffffffff0000"), TM_ATT_ERR_CBOR);
    /* deep nesting is refused before libcbor builds it */
    uint8_t deep[4096];
    memset(deep, 0x81, sizeof(deep));
    deep[sizeof(deep) - 1] = 0;
    assert_int_equal(tm_att_verify(deep, sizeof(deep), NULL, NULL, NULL), TM_ATT_ERR_CBOR);
}

static void names_are_distinct(void **state)
{
    (void)state;
    for (int a = 0; a <= TM_ATT_ERR_NOMEM; a++)
        for (int b = a + 1; b <= TM_ATT_ERR_NOMEM; b++)
            assert_string_not_equal(tm_att_error_name((tm_att_error)a), tm_att_error_name((tm_att_error)b));
    assert_string_equal(tm_att_check_name(TM_ATT_CHECK_ROOT_MATCHES_PINNED), "root_matches_pinned");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_documents_verify),
        cmocka_unit_test(tag18_accepted),
        cmocka_unit_test(documents_expired_now),
        cmocka_unit_test(tampered_fails_on_signature_only),
        cmocka_unit_test(one_byte_change_fails),
        cmocka_unit_test(aws_root_is_g1),
        cmocka_unit_test(other_root_is_a_mismatch),
        cmocka_unit_test(base64_padding_optional_else_strict),
        cmocka_unit_test(malformed_inputs_named),
        cmocka_unit_test(names_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
