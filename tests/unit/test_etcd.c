/* The etcd client's parsers of the JSON gateway's answers (src/ha/etcd_parse.c): the
 * answers etcd 3.4 gives, and hostile ones (wrong types, bad base64, oversized values,
 * negative or overflowing revisions, another key, a missing header). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "tmkms/ha/etcd.h"

#define KEY "/t/x"
#define KEY_B64 "L3QveA=="
#define HELLO_B64 "aGVsbG8="
#define HEADER                                                                                               \
    "\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","            \
    "\"revision\":\"2\",\"raft_term\":\"2\"}"
#define KV(key, value, mod)                                                                                  \
    "{\"key\":\"" key "\",\"create_revision\":\"2\",\"mod_revision\":\"" mod                                 \
    "\",\"version\":\"1\",\"value\":\"" value "\"}"

static tm_etcd_kv kv;

static tm_status range(const char *body)
{
    return tm_etcd_parse_range(body, strlen(body), KEY, &kv);
}

static tm_status txn(const char *body, bool *swapped)
{
    return tm_etcd_parse_txn(body, strlen(body), KEY, swapped, &kv);
}

static void test_range_missing(void **unused)
{
    (void)unused;
    kv.len = 99;
    kv.mod_revision = 99;
    assert_int_equal(range("{" HEADER "}"), TM_OK);
    assert_int_equal(kv.len, 0);
    assert_int_equal(kv.mod_revision, 0);
    assert_int_equal(range("{" HEADER ",\"kvs\":[],\"count\":\"0\"}"), TM_OK);
    assert_int_equal(kv.mod_revision, 0);
    /* Fields we do not use are ignored (a later etcd may add some). */
    assert_int_equal(range("{" HEADER ",\"future\":{\"x\":[1,2]}}"), TM_OK);
}

static void test_range_present(void **unused)
{
    (void)unused;
    assert_int_equal(range("{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"1\"}"), TM_OK);
    assert_int_equal(kv.len, 5);
    assert_memory_equal(kv.value, "hello", 5);
    assert_int_equal(kv.mod_revision, 2);
    /* An empty value is omitted by the gateway. */
    assert_int_equal(range("{" HEADER ",\"kvs\":[{\"key\":\"" KEY_B64 "\",\"create_revision\":\"2\","
                           "\"mod_revision\":\"2\",\"version\":\"1\"}],\"count\":\"1\"}"),
                     TM_OK);
    assert_int_equal(kv.len, 0);
    assert_int_equal(kv.mod_revision, 2);
}

static void expect_corrupt_range(const char *body)
{
    kv.len = 99;
    kv.mod_revision = 99;
    tm_status st = range(body);
    if (st != TM_ERR_CORRUPT) fail_msg("accepted (%s): %s", tm_status_name(st), body);
    assert_int_equal(kv.len, 0);
    assert_int_equal(kv.mod_revision, 0);
}

static void test_range_not_json(void **unused)
{
    (void)unused;
    static const char *const bodies[] = {
        "",
        "null",
        "[]",
        "\"x\"",
        "{",
        "{\"header\":",
        "{" HEADER "} trailing",
        "{" HEADER "}{}",
        /* duplicate fields: which one would count? */
        "{" HEADER "," HEADER "}",
        "{" HEADER ",\"kvs\":[],\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"0\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_corrupt_range(bodies[i]);
    assert_int_equal(tm_etcd_parse_range(NULL, 0, KEY, &kv), TM_ERR_CORRUPT);
    /* A NUL inside the announced length. */
    static const char nul[] = "{" HEADER "}\0";
    assert_int_equal(tm_etcd_parse_range(nul, sizeof(nul) - 1, KEY, &kv), TM_ERR_CORRUPT);
}

static void test_range_bad_header(void **unused)
{
    (void)unused;
    static const char *const bodies[] = {
        "{}",
        "{\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"1\"}",
        "{\"header\":[]}",
        "{\"header\":null}",
        "{\"header\":{}}", /* no revision: etcd's starts at 1 */
        "{\"header\":{\"revision\":\"0\"}}",
        "{\"header\":{\"revision\":2}}", /* int64s are strings */
        "{\"header\":{\"revision\":\"-1\"}}",
        "{\"header\":{\"revision\":\"+2\"}}",
        "{\"header\":{\"revision\":\" 2\"}}",
        "{\"header\":{\"revision\":\"2 \"}}",
        "{\"header\":{\"revision\":\"02\"}}",
        "{\"header\":{\"revision\":\"\"}}",
        "{\"header\":{\"revision\":\"1e3\"}}",
        "{\"header\":{\"revision\":\"0x10\"}}",
        "{\"header\":{\"revision\":\"9223372036854775808\"}}", /* INT64_MAX + 1 */
        "{\"header\":{\"revision\":\"18446744073709551616\"}}",
        "{\"header\":{\"revision\":\"123456789012345678901234\"}}",
        "{\"header\":{\"revision\":\"2\",\"member_id\":\"18446744073709551616\"}}",
        "{\"header\":{\"revision\":\"2\",\"cluster_id\":7}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_corrupt_range(bodies[i]);
    assert_int_equal(range("{\"header\":{\"revision\":\"9223372036854775807\"}}"), TM_OK);
}

static void test_range_bad_kvs(void **unused)
{
    (void)unused;
    static const char *const bodies[] = {
        "{" HEADER ",\"kvs\":{},\"count\":\"1\"}",
        "{" HEADER
        ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "," KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"2\"}",
        "{" HEADER ",\"kvs\":[\"x\"],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[null],\"count\":\"1\"}",
        /* count and kvs disagree */
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"2\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "]}",
        "{" HEADER ",\"count\":\"1\"}",
        "{" HEADER ",\"count\":1}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "2") "],\"count\":\"1\",\"more\":true}",
        /* another key, a bad or missing key */
        "{" HEADER ",\"kvs\":[" KV("L3QveQ==", HELLO_B64, "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV("L3QveA", HELLO_B64, "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV("L3QveHg=", HELLO_B64, "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV("", HELLO_B64, "2") "],\"count\":\"1\"}",
        "{" HEADER
        ",\"kvs\":[{\"mod_revision\":\"2\",\"create_revision\":\"2\",\"version\":\"1\"}],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[{\"key\":47,\"mod_revision\":\"2\"}],\"count\":\"1\"}",
        /* bad values */
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, "aGVsbG8", "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, "aGVs bG8=", "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, "aGVsbG8=\\n", "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, "aGVsbG8_", "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, "aGVsbG8=aGVs", "2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[{\"key\":\"" KEY_B64 "\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
        "\"version\":\"1\",\"value\":[1]}],\"count\":\"1\"}",
        /* revisions: missing, 0, negative, above the store's, overflowing, numbers */
        "{" HEADER ",\"kvs\":[{\"key\":\"" KEY_B64 "\",\"value\":\"" HELLO_B64 "\"}],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "0") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "-2") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "3") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[" KV(KEY_B64, HELLO_B64, "99999999999999999999") "],\"count\":\"1\"}",
        "{" HEADER ",\"kvs\":[{\"key\":\"" KEY_B64 "\",\"create_revision\":\"2\",\"mod_revision\":2,"
        "\"version\":\"1\"}],\"count\":\"1\"}",
        /* created after its last modification, or never */
        "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"" KEY_B64 "\",\"create_revision\":\"5\","
        "\"mod_revision\":\"4\",\"version\":\"1\"}],\"count\":\"1\"}",
        "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"" KEY_B64 "\",\"mod_revision\":\"4\","
        "\"version\":\"1\"}],\"count\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_corrupt_range(bodies[i]);
}

/* A range answer whose value is `n` bytes (base64). */
static char *body_with_value(size_t n)
{
    uint8_t *v = calloc(n + 1, 1);
    size_t b64_cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_cap);
    size_t cap = b64_cap + 512;
    char *body = malloc(cap);
    assert_non_null(v);
    assert_non_null(b64);
    assert_non_null(body);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)i;
    sodium_bin2base64(b64, b64_cap, v, n, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, cap, "{" HEADER ",\"kvs\":[" KV(KEY_B64, "%s", "2") "],\"count\":\"1\"}", b64);
    free(v);
    free(b64);
    return body;
}

static void test_range_sizes(void **unused)
{
    (void)unused;
    char *body = body_with_value(TM_ETCD_MAX_VALUE);
    assert_int_equal(range(body), TM_OK);
    assert_int_equal(kv.len, TM_ETCD_MAX_VALUE);
    assert_int_equal(kv.value[TM_ETCD_MAX_VALUE - 1], (uint8_t)(TM_ETCD_MAX_VALUE - 1));
    free(body);
    for (size_t n = TM_ETCD_MAX_VALUE + 1; n <= TM_ETCD_MAX_VALUE + 4; n++) {
        body = body_with_value(n);
        expect_corrupt_range(body);
        free(body);
    }
    body = body_with_value(40000); /* under the body bound, far over the value bound */
    expect_corrupt_range(body);
    free(body);
    /* A body above TM_ETCD_MAX_BODY is refused before it is parsed. */
    size_t big = TM_ETCD_MAX_BODY + 1;
    char *pad = malloc(big + 1);
    assert_non_null(pad);
    memset(pad, ' ', big);
    memcpy(pad, "{" HEADER "}", sizeof("{" HEADER "}") - 1);
    pad[big] = '\0';
    expect_corrupt_range(pad);
    free(pad);
    /* The key asked for: empty or too long is the caller's error. */
    assert_int_equal(tm_etcd_parse_range("{" HEADER "}", sizeof("{" HEADER "}") - 1, "", &kv),
                     TM_ERR_INVALID);
}

#define TXN_WON                                                                                              \
    "{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"2\"}}}]}"
#define TXN_LOST                                                                                             \
    "{" HEADER ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"2\"},\"kvs\":[" KV(          \
        KEY_B64, HELLO_B64, "2") "],\"count\":\"1\"}}]}"

static void test_txn(void **unused)
{
    (void)unused;
    bool swapped = false;
    assert_int_equal(txn(TXN_WON, &swapped), TM_OK);
    assert_true(swapped);
    assert_int_equal(kv.mod_revision, 2);
    assert_int_equal(kv.len, 0);
    swapped = true;
    assert_int_equal(txn(TXN_LOST, &swapped), TM_OK);
    assert_false(swapped);
    assert_int_equal(kv.mod_revision, 2);
    assert_int_equal(kv.len, 5);
    assert_memory_equal(kv.value, "hello", 5);
    /* Lost to a deletion: the key does not exist now. */
    assert_int_equal(txn("{" HEADER ",\"responses\":[{\"response_range\":{\"header\":{}}}]}", &swapped),
                     TM_OK);
    assert_false(swapped);
    assert_int_equal(kv.mod_revision, 0);
}

static void test_txn_bad(void **unused)
{
    (void)unused;
    static const char *const bodies[] = {
        "",
        "{}",
        "{\"succeeded\":true,\"responses\":[{\"response_put\":{}}]}", /* no header */
        "{" HEADER ",\"succeeded\":\"true\",\"responses\":[{\"response_put\":{}}]}",
        "{" HEADER ",\"succeeded\":1,\"responses\":[{\"response_put\":{}}]}",
        "{" HEADER ",\"succeeded\":true}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[]}",
        "{" HEADER ",\"succeeded\":true,\"responses\":{}}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_put\":{}},{\"response_put\":{}}]}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_put\":{},\"response_range\":{}}]}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_range\":{}}]}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_put\":[]}]}",
        "{" HEADER ",\"succeeded\":true,\"responses\":[null]}",
        "{" HEADER ",\"responses\":[{\"response_put\":{}}]}",
        "{" HEADER ",\"responses\":[{\"response_range\":\"x\"}]}",
        "{" HEADER
        ",\"responses\":[{\"response_range\":{\"kvs\":[" KV("L3QveQ==", HELLO_B64, "2") "],"
                                                                                        "\"count\":\"1\"}}]}",
        "{" HEADER
        ",\"responses\":[{\"response_range\":{\"kvs\":[" KV(KEY_B64, "!!!!", "2") "],"
                                                                                  "\"count\":\"1\"}}]}",
        "{" HEADER
        ",\"responses\":[{\"response_range\":{\"kvs\":[" KV(KEY_B64, HELLO_B64, "-1") "],"
                                                                                      "\"count\":\"1\"}}]}",
        "{\"header\":{\"revision\":\"-5\"},\"succeeded\":true,\"responses\":[{\"response_put\":{}}]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        bool swapped = true;
        kv.mod_revision = 99;
        tm_status st = txn(bodies[i], &swapped);
        if (st != TM_ERR_CORRUPT) fail_msg("accepted (%s): %s", tm_status_name(st), bodies[i]);
        assert_false(swapped);
        assert_int_equal(kv.mod_revision, 0);
    }
}

#define STATUS_HEADER                                                                                        \
    "\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"3319814642761637952\","             \
    "\"revision\":\"6\",\"raft_term\":\"2\"}"

static tm_status status(const char *body, tm_etcd_member_status *s)
{
    return tm_etcd_parse_status(body, strlen(body), s);
}

static void test_status(void **unused)
{
    (void)unused;
    tm_etcd_member_status s;
    assert_int_equal(status("{" STATUS_HEADER ",\"version\":\"3.4.23\",\"dbSize\":\"20480\","
                            "\"leader\":\"3319814642761637952\",\"raftIndex\":\"6\",\"raftTerm\":\"2\","
                            "\"raftAppliedIndex\":\"6\",\"dbSizeInUse\":\"16384\"}",
                            &s),
                     TM_OK);
    assert_true(s.reachable);
    assert_string_equal(s.version, "3.4.23");
    assert_true(s.member_id == 3319814642761637952ull);
    assert_true(s.leader_id == 3319814642761637952ull);
    assert_int_equal(s.raft_term, 2);
    assert_int_equal(s.revision, 6);
    assert_int_equal(s.db_size, 20480);
    /* No leader (no quorum): the field is omitted. */
    assert_int_equal(status("{" STATUS_HEADER ",\"version\":\"3.4.23\"}", &s), TM_OK);
    assert_int_equal(s.leader_id, 0);
    assert_int_equal(s.raft_term, 2); /* from the header */

    static const char *const bad[] = {
        "{}",
        "{\"version\":\"3.4.23\"}",
        "{" STATUS_HEADER "}",
        "{" STATUS_HEADER ",\"version\":3.4}",
        "{" STATUS_HEADER ",\"version\":\"\"}",
        "{" STATUS_HEADER ",\"version\":\"3.4.23 \\u0001\"}",
        "{" STATUS_HEADER
        ",\"version\":\"3.4.23-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{" STATUS_HEADER ",\"version\":\"3.4.23\",\"dbSize\":\"-1\"}",
        "{" STATUS_HEADER ",\"version\":\"3.4.23\",\"dbSize\":20480}",
        "{" STATUS_HEADER ",\"version\":\"3.4.23\",\"leader\":\"abc\"}",
        "{" STATUS_HEADER ",\"version\":\"3.4.23\",\"raftTerm\":\"18446744073709551616\"}",
        "{\"header\":{\"revision\":\"6\"},\"version\":\"3.4.23\"}", /* no member id */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tm_status st = status(bad[i], &s);
        if (st != TM_ERR_CORRUPT) fail_msg("accepted (%s): %s", tm_status_name(st), bad[i]);
        assert_false(s.reachable);
    }
}

static void test_error_body(void **unused)
{
    (void)unused;
    int code;
    char msg[64];
    const char *body = "{\"error\":\"etcdserver: request timed out\",\"code\":14,"
                       "\"message\":\"etcdserver: request timed out\"}";
    tm_etcd_parse_error(body, strlen(body), &code, msg, sizeof(msg));
    assert_int_equal(code, 14);
    assert_string_equal(msg, "etcdserver: request timed out");
    body = "{\"error\":\"x\",\"code\":\"14\"}";
    tm_etcd_parse_error(body, strlen(body), &code, msg, sizeof(msg));
    assert_int_equal(code, -1);
    assert_string_equal(msg, "x");
    body = "<html>502 Bad\r\nGateway</html>";
    tm_etcd_parse_error(body, strlen(body), &code, msg, sizeof(msg));
    assert_int_equal(code, -1);
    assert_string_equal(msg, "<html>502 Bad??Gateway</html>");
    char small[8];
    tm_etcd_parse_error(body, strlen(body), &code, small, sizeof(small));
    assert_string_equal(small, "<html>5");
    tm_etcd_parse_error(NULL, 0, &code, msg, sizeof(msg));
    assert_string_equal(msg, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_missing),
        cmocka_unit_test(test_range_present),
        cmocka_unit_test(test_range_not_json),
        cmocka_unit_test(test_range_bad_header),
        cmocka_unit_test(test_range_bad_kvs),
        cmocka_unit_test(test_range_sizes),
        cmocka_unit_test(test_txn),
        cmocka_unit_test(test_txn_bad),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
