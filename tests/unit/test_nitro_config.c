/* The helper's flat tmkms.toml: the operator guide's two examples parse unchanged; the
 * optional keys; credentials kept in locked memory; every error FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/nitro/config.h"

static char fixture[1024];

static const char *data_path(const char *name)
{
    snprintf(fixture, sizeof(fixture), "%s/tests/data/nitro/%s", getenv("TMKMS_SOURCE_DIR"), name);
    return fixture;
}

static void test_guide_generic(void **unused)
{
    (void)unused;
    tm_nitro_config *cfg = NULL;
    assert_int_equal(tm_nitro_config_load(data_path("guide-generic.toml"), &cfg), TM_OK);
    assert_string_equal(cfg->address, "unix:///tmp/sockets/validator.socket");
    assert_string_equal(cfg->chain_id, "<chain id>");
    char want[1200];
    snprintf(want, sizeof(want), "%s/tests/data/nitro/secrets/secret.key", getenv("TMKMS_SOURCE_DIR"));
    assert_string_equal(cfg->sealed_consensus_key_path, want); /* relative to the file */
    assert_null(cfg->sealed_id_key_path);
    assert_int_equal(cfg->enclave_config_cid, 15);
    assert_int_equal(cfg->enclave_config_port, 5050);
    assert_int_equal(cfg->enclave_state_port, 5555);
    assert_int_equal(cfg->enclave_tendermint_conn, 5000);
    assert_string_equal(cfg->aws_region, "<AWS region to use for KMS>");
    assert_int_equal(cfg->max_height, 0);
    assert_false(cfg->has_credentials);
    tm_nitro_config_free(cfg);
}

static void test_guide_testnet(void **unused)
{
    (void)unused;
    tm_nitro_config *cfg = NULL;
    assert_int_equal(tm_nitro_config_load(data_path("guide-testnet.toml"), &cfg), TM_OK);
    assert_string_equal(cfg->chain_id, "testnet-croeseid-4");
    assert_string_equal(cfg->sealed_consensus_key_path, "/home/ec2-user/.tmkms/secrets/secret.key");
    assert_string_equal(cfg->state_file_path, "/home/ec2-user/.tmkms/state/priv_validator_state.json");
    assert_string_equal(cfg->aws_region, "ap-southeast-1");
    tm_nitro_config_free(cfg);
}

#define BASE                                                                                                   \
    "chain_id = 'c'\nsealed_consensus_key_path = 'k'\nstate_file_path = 's'\nenclave_config_cid = 15\n"         \
    "enclave_config_port = 5050\nenclave_state_port = 5555\nenclave_tendermint_conn = 5000\naws_region = 'r'\n"

static void test_optional_keys_and_credentials(void **unused)
{
    (void)unused;
    const char *text = "address = 'noise://12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq@10.0.0.5:26659'\n" BASE
                       "sealed_id_key_path = 'id.key'\nmax_height = 1000000\n"
                       "[credentials]\naws_key_id = 'AKID'\naws_secret_key = 'SECRET'\naws_session_token = 'TOKEN'\n";
    tm_nitro_config *cfg = NULL;
    assert_int_equal(tm_nitro_config_parse(text, strlen(text), "t.toml", "/etc/tmkms", &cfg), TM_OK);
    assert_string_equal(cfg->sealed_id_key_path, "/etc/tmkms/id.key");
    assert_int_equal(cfg->max_height, 1000000);
    assert_true(cfg->has_credentials);
    assert_string_equal(cfg->aws_key_id, "AKID");
    assert_string_equal(cfg->aws_secret_key, "SECRET");
    assert_string_equal(cfg->aws_session_token, "TOKEN");
    tm_nitro_config_free(cfg);
}

static void expect_error(const char *text, const char *want)
{
    tm_nitro_config *cfg = NULL;
    assert_int_equal(tm_nitro_config_parse(text, strlen(text), "t.toml", "/d", &cfg), TM_ERR_CONFIG);
    if (!strstr(tm_err_msg(), want)) fail_msg("got '%s', want '%s'", tm_err_msg(), want);
    assert_null(cfg);
}

static void test_errors(void **unused)
{
    (void)unused;
    expect_error(BASE, "t.toml:1: missing key 'address'");
    expect_error("address = 'unix:///x'\n" BASE "colour = 'red'\n", "t.toml:10: unknown key 'colour'");
    expect_error("address = 'unix:///x'\n" BASE "enclave_config_port = 5051\n", "t.toml:10:");
    expect_error("address = 'unix:///x'\nchain_id = ''\n", "t.toml:2: chain_id: expected a non-empty string");
    expect_error("address = 'unix:///x'\n" BASE "max_height = -1\n", "t.toml:10: max_height");
    expect_error("address = 'unix:///x'\nenclave_config_cid = 4294967296\n", "t.toml:2: enclave_config_cid");
    expect_error("address = 'unix:///x'\nenclave_state_port = '5555'\n", "t.toml:2: enclave_state_port");
    expect_error("address = 'http://x'\n" BASE, "t.toml:1: address: 'http://x' is not");
    expect_error("address = 'tcp://127.0.0.1:26659'\n" BASE, "needs sealed_id_key_path");
    expect_error("address = 'unix:///x'\n" BASE "[credentials]\naws_key_id = 'A'\naws_secret_key = 'S'\n",
                 "t.toml:10: missing key 'aws_session_token'");
    expect_error("address = 'unix:///x'\n" BASE "credentials = 'A'\n", "credentials: expected a table");
    expect_error("address = 'unix:///x\n", "t.toml:1:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_generic),
        cmocka_unit_test(test_guide_testnet),
        cmocka_unit_test(test_optional_keys_and_credentials),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
