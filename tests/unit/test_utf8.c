/* The UTF-8 checker shared by the TOML parser, the JSON log lines and the metric labels:
 * the boundaries of each sequence length, overlong forms, surrogates, the end of the
 * Unicode range, truncation, and the in-place sanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/utf8.h"

typedef struct {
    const char *bytes;
    size_t len;  /* expected sequence length, 0: not well-formed */
    uint32_t cp; /* expected code point when len > 0 */
} vector;

static const vector vectors[] = {
    {"A", 1, 0x41},
    {"\x7F", 1, 0x7F},
    {"\xC2\x80", 2, 0x80},
    {"\xDF\xBF", 2, 0x7FF},
    {"\xE0\xA0\x80", 3, 0x800},
    {"\xED\x9F\xBF", 3, 0xD7FF},
    {"\xEE\x80\x80", 3, 0xE000},
    {"\xEF\xBF\xBF", 3, 0xFFFF},
    {"\xF0\x90\x80\x80", 4, 0x10000},
    {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
    {"\x80", 0, 0}, /* a continuation byte first */
    {"\xBF", 0, 0},
    {"\xC0\x80", 0, 0},             /* overlong NUL */
    {"\xC1\xBF", 0, 0},             /* overlong U+007F */
    {"\xE0\x9F\xBF", 0, 0},         /* overlong U+07FF */
    {"\xF0\x8F\xBF\xBF", 0, 0},     /* overlong U+FFFF */
    {"\xED\xA0\x80", 0, 0},         /* U+D800, a surrogate */
    {"\xED\xBF\xBF", 0, 0},         /* U+DFFF */
    {"\xF4\x90\x80\x80", 0, 0},     /* U+110000 */
    {"\xF8\x88\x80\x80\x80", 0, 0}, /* five-byte form */
    {"\xFF", 0, 0},
    {"\xC3(", 0, 0}, /* a second byte that does not continue */
    {"\xE2\x82(", 0, 0},
};

static void test_vectors(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const vector *v = &vectors[i];
        uint32_t cp = 0xFFFFFFFFu;
        size_t got = tm_utf8_len((const unsigned char *)v->bytes, strlen(v->bytes), &cp);
        if (got != v->len) fail_msg("vector %zu: length %zu, expected %zu", i, got, v->len);
        if (got > 0 && cp != v->cp) fail_msg("vector %zu: U+%04X, expected U+%04X", i, cp, v->cp);
        assert_int_equal(tm_utf8_valid(v->bytes), v->len > 0 && v->len == strlen(v->bytes));
    }
    /* the code point is optional */
    assert_int_equal(tm_utf8_len((const unsigned char *)"\xE2\x82\xAC", 3, NULL), 3);
}

/* A sequence cut by the end of the input: never read past `avail`. */
static void test_truncated(void **unused)
{
    (void)unused;
    const unsigned char euro[] = {0xE2, 0x82, 0xAC};
    uint32_t cp;
    assert_int_equal(tm_utf8_len(euro, 0, &cp), 0);
    assert_int_equal(tm_utf8_len(euro, 1, &cp), 0);
    assert_int_equal(tm_utf8_len(euro, 2, &cp), 0);
    assert_int_equal(tm_utf8_len(euro, 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_false(tm_utf8_valid("abc\xE2\x82"));
    assert_true(tm_utf8_valid(""));
    assert_true(tm_utf8_valid("validator \xE2\x82\xAC \xF0\x9F\x94\x91"));
}

static void test_sanitize(void **unused)
{
    (void)unused;
    char s[] = "ok \xC0\x80 \xED\xA0\x80 \xE2\x82\xAC \xF0\x9F end\xE2";
    tm_utf8_sanitize(s);
    assert_string_equal(s, "ok ?? ??? \xE2\x82\xAC ?? end?");
    assert_true(tm_utf8_valid(s));
    char clean[] = "h\xC3\xA9llo";
    tm_utf8_sanitize(clean);
    assert_string_equal(clean, "h\xC3\xA9llo");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
