/* Import of CometBFT's and tmkms's state JSON, telling them apart, refusing mixed or
 * ambiguous files; export in CometBFT's exact format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/state.h"

static tm_status import(const char *json, tm_sign_state *st, tm_state_json_kind *kind)
{
    return tm_state_from_json(json, strlen(json), st, kind);
}

static void test_cometbft_format(void **unused)
{
    (void)unused;
    tm_sign_state st;
    tm_state_json_kind kind;
    /* as CometBFT writes it (privval/file.go, cmtjson): height string, round/step numbers */
    const char *fresh = "{\n  \"height\": \"0\",\n  \"round\": 0,\n  \"step\": 0\n}";
    assert_int_equal(import(fresh, &st, &kind), TM_OK);
    assert_int_equal(kind, TM_STATE_JSON_COMETBFT);
    assert_int_equal(st.height, 0);
    assert_int_equal(st.step, TM_STEP_NONE);
    const char *signed_ = "{\"height\":\"1234\",\"round\":2,\"step\":3,"
                          "\"signature\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\","
                          "\"signbytes\":\"0A0B0C\"}";
    assert_int_equal(import(signed_, &st, &kind), TM_OK);
    assert_int_equal(st.height, 1234);
    assert_int_equal(st.round, 2);
    assert_int_equal(st.step, TM_STEP_PRECOMMIT); /* CometBFT 3 = precommit */
    assert_true(st.has_signature);
    assert_int_equal(st.signature[63], 63);
    assert_int_equal(st.sign_bytes_len, 3);
    assert_int_equal(st.sign_bytes[2], 0x0C);

    char *out = NULL;
    assert_int_equal(tm_state_to_cometbft_json(&st, &out), TM_OK);
    assert_string_equal(out, "{\n  \"height\": \"1234\",\n  \"round\": 2,\n  \"step\": 3,\n  \"signature\": "
                             "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\",\n"
                             "  \"signbytes\": \"0A0B0C\"\n}");
    tm_sign_state back;
    assert_int_equal(import(out, &back, &kind), TM_OK);
    assert_memory_equal(&back.signature, &st.signature, 64);
    free(out);
}

static void test_tmkms_format(void **unused)
{
    (void)unused;
    tm_sign_state st;
    tm_state_json_kind kind;
    /* tendermint-rs consensus::State: height and round strings, step 0/1/2, block_id */
    assert_int_equal(import("{\"height\":\"500\",\"round\":\"1\",\"step\":2,\"block_id\":null}", &st, &kind), TM_OK);
    assert_int_equal(kind, TM_STATE_JSON_TMKMS);
    assert_int_equal(st.step, TM_STEP_PRECOMMIT); /* tmkms 2 = precommit, NOT CometBFT's prevote */
    assert_int_equal(st.height, 500);
    assert_int_equal(st.round, 1);
    assert_int_equal(st.sign_bytes_len, 0);
    assert_int_equal(import("{\"height\":\"501\",\"round\":\"0\",\"step\":0,\"block_id\":{\"hash\":"
                            "\"ABCD\",\"part_set_header\":{\"total\":1,\"hash\":\"ABCD\"}}}",
                            &st, &kind),
                     TM_OK);
    assert_int_equal(st.step, TM_STEP_PROPOSE);
    assert_int_equal(import("{\"height\":\"501\",\"round\":\"0\",\"step\":1,\"block_id\":null}", &st, &kind), TM_OK);
    assert_int_equal(st.step, TM_STEP_PREVOTE);
    assert_int_equal(import("{\"height\":\"0\",\"round\":\"0\",\"step\":0,\"block_id\":null}", &st, &kind), TM_OK);
    assert_int_equal(st.step, TM_STEP_NONE);
}

static void expect_refused(const char *json, const char *fragment)
{
    tm_sign_state st;
    tm_state_json_kind kind;
    assert_int_equal(import(json, &st, &kind), TM_ERR_INVALID);
    if (!strstr(tm_err_msg(), fragment)) fail_msg("'%s' lacks '%s'", tm_err_msg(), fragment);
}

static void test_ambiguous_and_bad(void **unused)
{
    (void)unused;
    expect_refused("{\"height\":\"5\",\"round\":\"0\",\"step\":2}", "ambiguous");          /* string round, no block_id */
    expect_refused("{\"height\":\"5\",\"round\":0,\"step\":2,\"block_id\":null}", "ambiguous"); /* numeric round + block_id */
    expect_refused("{\"height\":\"5\",\"round\":\"0\",\"step\":2,\"block_id\":null,\"signbytes\":\"00\"}", "signbytes");
    expect_refused("{\"height\":\"5\",\"round\":0,\"step\":4}", "step");
    expect_refused("{\"height\":\"5\",\"round\":\"0\",\"step\":3,\"block_id\":null}", "step"); /* tmkms has no 3 */
    expect_refused("{\"height\":5,\"round\":0,\"step\":1}", "height");
    expect_refused("{\"height\":\"-5\",\"round\":0,\"step\":1}", "height");
    expect_refused("{\"height\":\"5x\",\"round\":0,\"step\":1}", "height");
    expect_refused("{\"height\":\"5\",\"round\":-1,\"step\":1}", "round");
    expect_refused("{\"height\":\"5\",\"round\":0,\"step\":1,\"signature\":\"AAAA\"}", "signbytes");
    expect_refused("{\"height\":\"5\",\"round\":0,\"step\":1,\"signature\":\"AAAA\",\"signbytes\":\"00\"}", "signature");
    expect_refused("{\"height\":\"5\",\"height\":\"6\",\"round\":0,\"step\":1}", "JSON");
    expect_refused("[1,2]", "object");
    expect_refused("not json", "JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cometbft_format),
        cmocka_unit_test(test_tmkms_format),
        cmocka_unit_test(test_ambiguous_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
