/* The TOML parser on the shapes our configs use, its line numbers and error messages,
 * and its bounds (the full TOML 1.0 conformance run is tests/integration/toml_conformance.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/toml.h"

static tm_toml_value *parse_ok(const char *text)
{
    tm_toml_value *root = NULL;
    if (tm_toml_parse(text, strlen(text), "t.toml", &root) != TM_OK) fail_msg("%s", tm_err_msg());
    return root;
}

static void expect_error(const char *text, const char *fragment)
{
    tm_toml_value *root = NULL;
    assert_int_equal(tm_toml_parse(text, strlen(text), "t.toml", &root), TM_ERR_CONFIG);
    if (!strstr(tm_err_msg(), fragment)) fail_msg("'%s' lacks '%s'", tm_err_msg(), fragment);
}

static void test_seed_config(void **unused)
{
    (void)unused;
    /* the operator guide's flat tmkms.toml, comments after values included */
    tm_toml_value *root = parse_ok("address = 'unix:///tmp/sockets/validator.socket'\n"
                                   "chain_id = 'testnet-croeseid-4'\n"
                                   "enclave_config_cid = 15 #overridden by flag\n"
                                   "enclave_config_port = 5050\n");
    const tm_toml_value *cid = tm_toml_get(root, "enclave_config_cid");
    assert_non_null(cid);
    assert_int_equal(cid->type, TM_TOML_INTEGER);
    assert_int_equal(cid->u.integer, 15);
    assert_int_equal(cid->line, 3);
    assert_string_equal(tm_toml_get(root, "chain_id")->u.str.ptr, "testnet-croeseid-4");
    tm_toml_free(root);
}

static void test_tmkms_tables(void **unused)
{
    (void)unused;
    tm_toml_value *root = parse_ok("[[chain]]\nid = \"a\"\nkey_format = { type = \"bech32\", consensus_key_prefix = \"x\" }\n"
                                   "\n[[chain]]\nid = \"b\"\n\n[[providers.softsign]]\nchain_ids = [\"a\", \"b\"]\n");
    const tm_toml_value *chains = tm_toml_get(root, "chain");
    assert_int_equal(chains->type, TM_TOML_ARRAY);
    assert_int_equal(chains->u.array.len, 2);
    assert_int_equal(chains->u.array.items[1]->line, 5);
    const tm_toml_value *kf = tm_toml_get(chains->u.array.items[0], "key_format");
    assert_int_equal(kf->type, TM_TOML_TABLE);
    assert_string_equal(tm_toml_get(kf, "type")->u.str.ptr, "bech32");
    const tm_toml_value *ss = tm_toml_get(tm_toml_get(root, "providers"), "softsign");
    assert_int_equal(ss->u.array.len, 1);
    assert_int_equal(tm_toml_get(ss->u.array.items[0], "chain_ids")->u.array.len, 2);
    tm_toml_free(root);
}

static void test_errors_have_lines(void **unused)
{
    (void)unused;
    expect_error("a = 1\nb = 2\na = 3\n", "t.toml:3: duplicate key 'a'");
    expect_error("a = 1\n\nb = \"unterminated\n", "t.toml:3:");
    expect_error("[t]\nx = 1\n[t]\n", "t.toml:3: table 't' is already defined");
    expect_error("x = { a = 1 }\nx.b = 2\n", "t.toml:2:");
    expect_error("n = 0123\n", "leading zero");
    expect_error("n = 9223372036854775808\n", "64-bit");
    expect_error("d = 2023-02-29\n", "invalid date");
    expect_error("s = \"\\q\"\n", "escape");
    expect_error("a = 1 b = 2\n", "t.toml:1:");
}

static void test_depth_is_bounded(void **unused)
{
    (void)unused;
    char *deep = malloc(100000);
    size_t n = 0;
    n += (size_t)snprintf(deep, 100000, "x = ");
    for (int i = 0; i < 5000; i++) deep[n++] = '[';
    deep[n] = '\0';
    expect_error(deep, "nested deeper than 128");
    /* dotted keys and headers count too */
    n = 0;
    deep[n++] = '[';
    for (int i = 0; i < 120; i++) n += (size_t)snprintf(deep + n, 100000 - n, "a%d.", i);
    n += (size_t)snprintf(deep + n, 100000 - n, "z]\n");
    for (int i = 0; i < 20; i++) n += (size_t)snprintf(deep + n, 100000 - n, "b%d.", i);
    snprintf(deep + n, 100000 - n, "c = 1\n");
    expect_error(deep, "nested deeper than 128");
    free(deep);
}

/* A fraction of any length is accepted and truncated to nanoseconds (TOML: "truncated,
 * not rounded"); the fuzz target once overflowed the datetime buffer with one. */
static void test_long_fraction_is_truncated(void **unused)
{
    (void)unused;
    char text[2200];
    char digits[1001];
    memset(digits, '1', 1000);
    digits[1000] = '\0';
    snprintf(text, sizeof(text), "a = 1980-05-27T07:32:00.%s-07:00\nb = 07:32:00.%s\n", digits, digits);
    tm_toml_value *root = parse_ok(text);
    const tm_toml_value *a = tm_toml_get(root, "a"), *b = tm_toml_get(root, "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->u.datetime, "1980-05-27T07:32:00.111111111-07:00");
    assert_string_equal(b->u.datetime, "07:32:00.111111111");
    tm_toml_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_config),
        cmocka_unit_test(test_tmkms_tables),
        cmocka_unit_test(test_errors_have_lines),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_long_fraction_is_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
