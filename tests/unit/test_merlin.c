/* Keccak-f[1600], STROBE-128 and Merlin against published vectors: the merlin crate's
 * simple-transcript vector (shared/vectors/merlin.json) and Keccak-f[1600] of the zero
 * state (the Keccak team's KeccakF-1600 intermediate values). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/merlin.h"

static void test_keccak_zero_state(void **unused)
{
    (void)unused;
    uint64_t a[25] = {0};
    tm_keccak_f1600(a);
    assert_true(a[0] == 0xF1258F7940E1DDE7ULL);
    assert_true(a[1] == 0x84D5CCF933C0478AULL);
    assert_true(a[24] == 0xEAF1FF7B5CECA249ULL);
    tm_keccak_f1600(a);
    assert_true(a[0] == 0x2D5C954DF96ECB3CULL);
}

static void test_merlin_vector(void **unused)
{
    (void)unused;
    char path[1024];
    snprintf(path, sizeof(path), "%s/vectors/merlin.json", getenv("TMKMS_SHARED_DIR"));
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);
    if (!v) fail_msg("%s: %s", path, err.text);
    const char *proto = json_string_value(json_object_get(v, "protocol_label"));
    tm_merlin t;
    tm_merlin_init(&t, (const uint8_t *)proto, strlen(proto));
    size_t i;
    json_t *pair;
    json_array_foreach(json_object_get(v, "appends"), i, pair)
    {
        const char *label = json_string_value(json_array_get(pair, 0));
        const char *msg = json_string_value(json_array_get(pair, 1));
        tm_merlin_append(&t, (const uint8_t *)label, strlen(label), (const uint8_t *)msg, strlen(msg));
    }
    const char *clabel = json_string_value(json_object_get(v, "challenge_label"));
    size_t n = (size_t)json_integer_value(json_object_get(v, "challenge_len"));
    uint8_t out[64];
    assert_true(n <= sizeof(out));
    tm_merlin_challenge(&t, (const uint8_t *)clabel, strlen(clabel), out, n);
    char hex[129];
    for (size_t k = 0; k < n; k++) snprintf(hex + 2 * k, 3, "%02x", out[k]);
    assert_string_equal(hex, json_string_value(json_object_get(v, "want")));
    tm_merlin_wipe(&t);
    json_decref(v);
}

static void test_challenges_depend_on_everything(void **unused)
{
    (void)unused;
    uint8_t a[32], b[32], c[32];
    tm_merlin t;
    tm_merlin_init(&t, (const uint8_t *)"p", 1);
    tm_merlin_append(&t, (const uint8_t *)"l", 1, (const uint8_t *)"m", 1);
    tm_merlin_challenge(&t, (const uint8_t *)"c", 1, a, sizeof(a));
    tm_merlin_challenge(&t, (const uint8_t *)"c", 1, b, sizeof(b)); /* a second challenge differs */
    assert_memory_not_equal(a, b, sizeof(a));
    tm_merlin_init(&t, (const uint8_t *)"p", 1);
    tm_merlin_append(&t, (const uint8_t *)"l", 1, (const uint8_t *)"n", 1);
    tm_merlin_challenge(&t, (const uint8_t *)"c", 1, c, sizeof(c));
    assert_memory_not_equal(a, c, sizeof(a));
    /* a long message crosses the 166-byte rate several times */
    uint8_t big[1000];
    memset(big, 7, sizeof(big));
    tm_merlin_init(&t, (const uint8_t *)"p", 1);
    tm_merlin_append(&t, (const uint8_t *)"l", 1, big, sizeof(big));
    tm_merlin_challenge(&t, (const uint8_t *)"c", 1, c, sizeof(c));
    assert_memory_not_equal(a, c, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keccak_zero_state),
        cmocka_unit_test(test_merlin_vector),
        cmocka_unit_test(test_challenges_depend_on_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
