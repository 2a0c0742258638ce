/* nitro-cli's JSON as the helper reads it (src/nitro-helper/nitro_cli.c): describe-enclaves
 * in the shape AWS documents (and older outputs without EnclaveName or Measurements),
 * run-enclave, finding "our" enclave, the run-enclave arguments, malformed outputs, the
 * loopback-only simulation target of the vsock proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nitro_cli.h"
#include "proxy.h"
#include "tmkms/signer.h"

#define PCR0 "b8a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

/* The documented example, with Measurements as nitro-cli prints them for an EIF. */
static const char describe_two[] =
    "[\n"
    "  {\n"
    "    \"EnclaveName\": \"my_enclave\",\n"
    "    \"EnclaveID\": \"i-abc12345def67890a-enc9876abcd543210ef12\",\n"
    "    \"ProcessID\": 12345,\n"
    "    \"EnclaveCID\": 10,\n"
    "    \"NumberOfCPUs\": 2,\n"
    "    \"CPUIDs\": [1, 3],\n"
    "    \"MemoryMiB\": 1600,\n"
    "    \"State\": \"RUNNING\",\n"
    "    \"Flags\": \"NONE\"\n"
    "  },\n"
    "  {\n"
    "    \"EnclaveName\": \"tmkms\",\n"
    "    \"EnclaveID\": \"i-0123456789abcdef0-enc0123456789abcdef\",\n"
    "    \"ProcessID\": 4242,\n"
    "    \"EnclaveCID\": 16,\n"
    "    \"NumberOfCPUs\": 2,\n"
    "    \"CPUIDs\": [1, 3],\n"
    "    \"MemoryMiB\": 512,\n"
    "    \"State\": \"RUNNING\",\n"
    "    \"Flags\": \"DEBUG_MODE\",\n"
    "    \"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"" PCR0 "\",\n"
    "                     \"PCR1\": \"00\", \"PCR2\": \"00\"}\n"
    "  }\n"
    "]\n";

static helper_enclave_opts opts_named(const char *eif, const char *name)
{
    helper_enclave_opts o;
    memset(&o, 0, sizeof(o));
    snprintf(o.eif_path, sizeof(o.eif_path), "%s", eif);
    snprintf(o.enclave_name, sizeof(o.enclave_name), "%s", name);
    o.cpu_count = 2;
    o.memory_mib = 512;
    return o;
}

static void test_describe(void **unused)
{
    (void)unused;
    nitro_enclave_info list[4];
    size_t n = 0;
    assert_int_equal(nitro_parse_describe(describe_two, strlen(describe_two), list, 4, &n), TM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "my_enclave");
    assert_string_equal(list[0].id, "i-abc12345def67890a-enc9876abcd543210ef12");
    assert_int_equal(list[0].process_id, 12345);
    assert_int_equal(list[0].cid, 10);
    assert_int_equal(list[0].memory_mib, 1600);
    assert_string_equal(list[0].state, "RUNNING");
    assert_string_equal(list[0].flags, "NONE");
    assert_string_equal(list[0].pcr0, "");
    assert_int_equal(list[1].cid, 16);
    assert_string_equal(list[1].flags, "DEBUG_MODE");
    assert_string_equal(list[1].pcr0, PCR0);
    /* none running */
    assert_int_equal(nitro_parse_describe("[]", 2, list, 4, &n), TM_OK);
    assert_int_equal(n, 0);
    /* an older nitro-cli: no EnclaveName, no ProcessID */
    const char *old = "[{\"EnclaveID\": \"i-1-enc2\", \"EnclaveCID\": 5, \"NumberOfCPUs\": 2, \"MemoryMiB\": 512,"
                      " \"State\": \"RUNNING\", \"Flags\": \"NONE\"}]";
    assert_int_equal(nitro_parse_describe(old, strlen(old), list, 4, &n), TM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "");
    assert_int_equal(list[0].cid, 5);
}

static void expect_bad(const char *json, const char *fragment)
{
    nitro_enclave_info list[2];
    size_t n = 7;
    tm_status st = nitro_parse_describe(json, strlen(json), list, 2, &n);
    assert_int_not_equal(st, TM_OK);
    assert_int_equal(n, 0);
    if (!strstr(tm_err_msg(), fragment)) fail_msg("'%s' lacks '%s'", tm_err_msg(), fragment);
}

static void test_describe_malformed(void **unused)
{
    (void)unused;
    expect_bad("", "not JSON");
    expect_bad("Error: something", "not JSON");
    expect_bad("{}", "not a JSON array");
    expect_bad("[1]", "enclave 0: not a JSON object");
    expect_bad("[{\"EnclaveCID\": 5}]", "enclave 0: EnclaveID: missing");
    expect_bad("[{\"EnclaveID\": \"x\"}]", "enclave 0: EnclaveCID: missing");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveCID\": \"5\"}]", "EnclaveCID: not an integer");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveCID\": -1}]", "EnclaveCID: -1 out of range");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveCID\": 4294967296}]", "out of range");
    expect_bad("[{\"EnclaveID\": 7, \"EnclaveCID\": 5}]", "EnclaveID: not a string");
    expect_bad("[{\"EnclaveID\": \"\", \"EnclaveCID\": 5}]", "enclave 0: EnclaveID: empty");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveCID\": 5, \"State\": 1}]", "State: not a string");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveCID\": 5, \"Measurements\": []}]", "Measurements: not an object");
    expect_bad("[{\"EnclaveID\": \"x\", \"EnclaveID\": \"y\", \"EnclaveCID\": 5}]", "not JSON");
    expect_bad("[{\"EnclaveID\": \"a\", \"EnclaveCID\": 5}, {\"EnclaveID\": \"b\", \"EnclaveCID\": 6},"
               " {\"EnclaveID\": \"c\", \"EnclaveCID\": 7}]",
               "lists 3 enclaves, more than 2");
    char long_id[300] = "[{\"EnclaveCID\": 5, \"EnclaveID\": \"";
    size_t l = strlen(long_id);
    memset(long_id + l, 'a', 200);
    snprintf(long_id + l + 200, sizeof(long_id) - l - 200, "\"}]");
    expect_bad(long_id, "EnclaveID: longer than");
}

static void test_run_output(void **unused)
{
    (void)unused;
    const char *run = "{\n  \"EnclaveName\": \"tmkms\",\n  \"EnclaveID\": \"i-05f6ed443ac428be8-enc173a5e4f7ab7a2b\",\n"
                      "  \"ProcessID\": 7331,\n  \"EnclaveCID\": 16,\n  \"NumberOfCPUs\": 2,\n  \"CPUIDs\": [1, 3],\n"
                      "  \"MemoryMiB\": 512\n}\n";
    nitro_enclave_info e;
    assert_int_equal(nitro_parse_run(run, strlen(run), &e), TM_OK);
    assert_string_equal(e.id, "i-05f6ed443ac428be8-enc173a5e4f7ab7a2b");
    assert_int_equal(e.cid, 16);
    assert_int_equal(e.cpu_count, 2);
    assert_int_equal(nitro_parse_run("[]", 2, &e), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "run-enclave output"));
}

static void test_find_ours(void **unused)
{
    (void)unused;
    nitro_enclave_info list[4];
    size_t n = 0;
    assert_int_equal(nitro_parse_describe(describe_two, strlen(describe_two), list, 4, &n), TM_OK);
    /* nitro-cli names an enclave after its EIF file when run without --enclave-name */
    helper_enclave_opts o = opts_named("/home/ec2-user/.tmkms/tmkms.eif", "");
    assert_int_equal(nitro_find_enclave(list, n, &o, NULL), 1);
    o = opts_named("/x/other.eif", "");
    assert_int_equal(nitro_find_enclave(list, n, &o, NULL), -1);
    o = opts_named("/x/other.eif", "my_enclave");
    assert_int_equal(nitro_find_enclave(list, n, &o, NULL), 0);
    /* a configured CID wins over names */
    o = opts_named("/x/tmkms.eif", "");
    o.has_cid = true;
    o.enclave_cid = 10;
    assert_int_equal(nitro_find_enclave(list, n, &o, NULL), 0);
    o.enclave_cid = 11;
    assert_int_equal(nitro_find_enclave(list, n, &o, NULL), -1);
    /* a known enclave ID wins over everything */
    assert_int_equal(nitro_find_enclave(list, n, &o, "i-0123456789abcdef0-enc0123456789abcdef"), 1);
    assert_int_equal(nitro_find_enclave(list, n, &o, "i-gone"), -1);
    char name[16];
    nitro_default_name("tmkms.eif", name, sizeof(name));
    assert_string_equal(name, "tmkms");
    nitro_default_name("/a/b/image", name, sizeof(name));
    assert_string_equal(name, "image");
    nitro_default_name("/a/b/an-enclave-image-with-a-long-name.eif", name, sizeof(name));
    assert_string_equal(name, "an-enclave-imag");
}

static void test_run_argv(void **unused)
{
    (void)unused;
    helper_enclave_opts o = opts_named("/opt/tmkms.eif", "");
    char *argv[NITRO_RUN_ARGV_MAX];
    nitro_run_bufs bufs;
    nitro_run_argv(&o, &bufs, argv);
    const char *want[] = {"nitro-cli", "run-enclave", "--cpu-count", "2", "--memory", "512", "--eif-path",
                          "/opt/tmkms.eif", NULL};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (want[i] == NULL) assert_null(argv[i]);
        else assert_string_equal(argv[i], want[i]);
    }
    o = opts_named("/opt/tmkms.eif", "tmkms");
    o.has_cid = true;
    o.enclave_cid = 15;
    o.debug_mode = true;
    nitro_run_argv(&o, &bufs, argv);
    const char *want2[] = {"nitro-cli", "run-enclave", "--cpu-count", "2", "--memory", "512", "--eif-path",
                           "/opt/tmkms.eif", "--enclave-cid", "15", "--enclave-name", "tmkms", "--debug-mode", NULL};
    for (size_t i = 0; i < sizeof(want2) / sizeof(want2[0]); i++) {
        if (want2[i] == NULL) assert_null(argv[i]);
        else assert_string_equal(argv[i], want2[i]);
    }
}

static void test_loopback_target(void **unused)
{
    (void)unused;
    char host[PROXY_HOST_MAX + 1], port[8];
    assert_int_equal(proxy_parse_loopback_target("127.0.0.1:4443", host, port), TM_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "4443");
    assert_int_equal(proxy_parse_loopback_target("127.8.9.10:1", host, port), TM_OK);
    assert_int_equal(proxy_parse_loopback_target("[::1]:443", host, port), TM_OK);
    assert_string_equal(host, "::1");
    const char *bad[] = {"10.0.0.1:443", "192.168.1.1:443", "8.8.8.8:53", "kms.us-east-1.amazonaws.com:443",
                         "localhost:443", "[::2]:443", "[::ffff:127.0.0.1]:443", "127.0.0.1", "127.0.0.1:",
                         "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:44x", ":443", "[::1:443", "0.0.0.0:443"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (proxy_parse_loopback_target(bad[i], host, port) != TM_ERR_INVALID) fail_msg("accepted '%s'", bad[i]);
}

int main(void)
{
    if (tm_crypto_init() != TM_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),   cmocka_unit_test(test_describe_malformed),
        cmocka_unit_test(test_run_output), cmocka_unit_test(test_find_ours),
        cmocka_unit_test(test_run_argv),   cmocka_unit_test(test_loopback_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
