/* enclave.toml (src/nitro-helper/enclave_config.c): defaults, tmkms-light's layout,
 * FILE:LINE errors for every kind of mistake, the KMS-endpoint restriction, the starter
 * file that `init` writes (parsed back), and its refusal to overwrite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "enclave_config.h"
#include "tmkms/signer.h"

static helper_enclave_config parse_ok(const char *text, const char *dir)
{
    helper_enclave_config cfg;
    if (helper_enclave_config_parse(text, strlen(text), "enclave.toml", dir, &cfg) != TM_OK)
        fail_msg("%s", tm_err_msg());
    return cfg;
}

static void expect_error(const char *text, const char *fragment)
{
    helper_enclave_config cfg;
    assert_int_equal(helper_enclave_config_parse(text, strlen(text), "enclave.toml", "/etc/tmkms", &cfg), TM_ERR_CONFIG);
    if (!strstr(tm_err_msg(), fragment)) fail_msg("'%s' lacks '%s'", tm_err_msg(), fragment);
}

static void test_defaults(void **unused)
{
    (void)unused;
    helper_enclave_config cfg = parse_ok("", "/home/ec2-user/.tmkms");
    assert_string_equal(cfg.enclave.eif_path, "/home/ec2-user/.tmkms/tmkms.eif");
    assert_int_equal(cfg.enclave.cpu_count, 2);
    assert_int_equal(cfg.enclave.memory_mib, 512);
    assert_false(cfg.enclave.debug_mode);
    assert_false(cfg.enclave.has_cid);
    assert_string_equal(cfg.enclave.enclave_name, "");
    assert_int_equal(cfg.enclave.log_server_port, 6050);
    assert_int_equal(cfg.proxy.local_port, 8000);
    assert_string_equal(cfg.proxy.remote_addr, "kms.ap-southeast-1.amazonaws.com");
    assert_string_equal(cfg.proxy.region, "ap-southeast-1");
    assert_int_equal(cfg.proxy.remote_port, 443);
    assert_int_equal(cfg.proxy.num_workers, 4);
    assert_string_equal(cfg.proxy.config_file, "/etc/nitro_enclaves/vsock-proxy.yaml");
}

static void test_tmkms_light_layout(void **unused)
{
    (void)unused;
    /* the tables and keys tmkms-light writes, plus debug_mode and enclave_name */
    helper_enclave_config cfg = parse_ok("[vsock_proxy]\n"
                                         "num_workers = 8\n"
                                         "local_port = 8001\n"
                                         "remote_port = 443\n"
                                         "remote_addr = \"kms.eu-west-2.amazonaws.com\"\n"
                                         "config_file = \"proxy.yaml\"\n"
                                         "\n[enclave]\n"
                                         "eif_path = \"/opt/tmkms/tmkms.eif\"\n"
                                         "enclave_cid = 15\n"
                                         "memory_mib = 1024\n"
                                         "cpu_count = 4\n"
                                         "log_server_port = 6051\n"
                                         "debug_mode = true\n"
                                         "enclave_name = \"tmkms-testnet\"\n",
                                         "/etc/tmkms");
    assert_int_equal(cfg.proxy.num_workers, 8);
    assert_int_equal(cfg.proxy.local_port, 8001);
    assert_string_equal(cfg.proxy.region, "eu-west-2");
    assert_string_equal(cfg.proxy.config_file, "/etc/tmkms/proxy.yaml");
    assert_string_equal(cfg.enclave.eif_path, "/opt/tmkms/tmkms.eif");
    assert_true(cfg.enclave.has_cid);
    assert_int_equal(cfg.enclave.enclave_cid, 15);
    assert_int_equal(cfg.enclave.memory_mib, 1024);
    assert_int_equal(cfg.enclave.cpu_count, 4);
    assert_int_equal(cfg.enclave.log_server_port, 6051);
    assert_true(cfg.enclave.debug_mode);
    assert_string_equal(cfg.enclave.enclave_name, "tmkms-testnet");
}

static void test_errors_name_file_and_line(void **unused)
{
    (void)unused;
    expect_error("[enclave]\ncpu_count = \"two\"\n", "enclave.toml:2: enclave.cpu_count: expected an integer");
    expect_error("[enclave]\ncpu_count = 0\n", "enclave.toml:2: enclave.cpu_count: 0 is out of range");
    expect_error("[enclave]\n\nmemory_mib = 12\n", "enclave.toml:3: enclave.memory_mib");
    expect_error("[enclave]\nenclave_cid = 3\n", "enclave.toml:2: enclave.enclave_cid: 3 is out of range");
    expect_error("[enclave]\ndebug_mode = 1\n", "enclave.toml:2: enclave.debug_mode: expected true or false");
    expect_error("[enclave]\neif_pth = \"x.eif\"\n", "enclave.toml:2: enclave: unknown key 'eif_pth'");
    expect_error("[enclave]\neif_path = \"\"\n", "enclave.toml:2: enclave.eif_path: must be a non-empty string");
    expect_error("[enclave]\nenclave_name = \"a b\"\n", "enclave.toml:2: enclave.enclave_name: only letters");
    expect_error("[vsock_proxy]\nremote_port = 80\n", "enclave.toml:2: vsock_proxy.remote_port: 80 is out of range");
    expect_error("[vsock_proxy]\nnum_workers = 1000\n", "enclave.toml:2: vsock_proxy.num_workers");
    expect_error("[vsock_proxy]\nlisten = 1\n", "enclave.toml:2: vsock_proxy: unknown key 'listen'");
    expect_error("enclave = 1\n", "enclave.toml:1: enclave: expected a table");
    expect_error("[proxy]\n", "enclave.toml:1: unknown key 'proxy'");
    /* a TOML syntax error keeps the parser's own FILE:LINE */
    expect_error("[enclave]\ncpu_count = = 2\n", "enclave.toml:2:");
}

static void test_proxy_only_reaches_kms(void **unused)
{
    (void)unused;
    expect_error("[vsock_proxy]\nremote_addr = \"example.com\"\n",
                 "enclave.toml:2: vsock_proxy.remote_addr: 'example.com' is not a KMS endpoint");
    expect_error("[vsock_proxy]\nremote_addr = \"kms.us-east-1.amazonaws.com.evil.net\"\n", "not a KMS endpoint");
    expect_error("[vsock_proxy]\nremote_addr = \"kms.x.amazonaws.com\"\n", "not a KMS endpoint");
    expect_error("[vsock_proxy]\nremote_addr = \"s3.us-east-1.amazonaws.com\"\n", "not a KMS endpoint");
    expect_error("[vsock_proxy]\nremote_addr = \"127.0.0.1\"\n", "not a KMS endpoint");
    helper_enclave_config cfg = parse_ok("[vsock_proxy]\nremote_addr = \"kms-fips.us-gov-west-1.amazonaws.com\"\n", NULL);
    assert_string_equal(cfg.proxy.region, "us-gov-west-1");
}

static void test_regions(void **unused)
{
    (void)unused;
    assert_true(helper_valid_region("ap-southeast-1"));
    assert_true(helper_valid_region("us-east-1"));
    assert_true(helper_valid_region("us-gov-west-1"));
    assert_false(helper_valid_region("<AWS region to use for KMS>"));
    assert_false(helper_valid_region("us-east"));
    assert_false(helper_valid_region("US-EAST-1"));
    assert_false(helper_valid_region("us--east-1"));
    assert_false(helper_valid_region(""));
    assert_false(helper_valid_region("a-very-long-region-name-that-is-not-real-1"));
}

static void test_starter_round_trip(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/test_enclave_config.XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/enclave.toml", dir);
    assert_int_equal(helper_enclave_config_write_starter(path, "eu-central-1", NULL), TM_OK);
    helper_enclave_config cfg;
    if (helper_enclave_config_load(path, &cfg) != TM_OK) fail_msg("%s", tm_err_msg());
    char want[300];
    snprintf(want, sizeof(want), "%s/tmkms.eif", dir);
    assert_string_equal(cfg.enclave.eif_path, want);
    assert_string_equal(cfg.proxy.remote_addr, "kms.eu-central-1.amazonaws.com");
    assert_int_equal(cfg.enclave.cpu_count, 2);
    assert_false(cfg.enclave.debug_mode);
    /* never overwritten */
    assert_int_equal(helper_enclave_config_write_starter(path, "us-east-1", NULL), TM_ERR_EXISTS);
    assert_non_null(strstr(tm_err_msg(), "exists already"));
    assert_int_equal(helper_enclave_config_load(path, &cfg), TM_OK);
    assert_string_equal(cfg.proxy.region, "eu-central-1");
    unlink(path);
    /* a region that is not one, and an EIF path that would break the TOML */
    assert_int_equal(helper_enclave_config_write_starter(path, "<AWS region to use for KMS>", NULL), TM_ERR_INVALID);
    assert_int_equal(helper_enclave_config_write_starter(path, "us-east-1", "a\"b.eif"), TM_ERR_INVALID);
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
}

static void test_load_errors(void **unused)
{
    (void)unused;
    helper_enclave_config cfg;
    assert_int_equal(helper_enclave_config_load("/nonexistent/enclave.toml", &cfg), TM_ERR_NOT_FOUND);
    assert_non_null(strstr(tm_err_msg(), "/nonexistent/enclave.toml"));
}

int main(void)
{
    if (tm_crypto_init() != TM_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_tmkms_light_layout),
        cmocka_unit_test(test_errors_name_file_and_line), cmocka_unit_test(test_proxy_only_reaches_kms),
        cmocka_unit_test(test_regions),           cmocka_unit_test(test_starter_round_trip),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
