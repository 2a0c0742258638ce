/* The KMS client's building blocks: endpoint, request signing (verified back with the
 * SigV4 parser), AWS error parsing, the retry policy and backoff, response parsing; IMDS
 * credential and role parsing; connect-via parsing and the vsock address layout (no
 * AF_VSOCK socket is opened). */
#include <linux/vm_sockets.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/aws/credentials.h"
#include "tmkms/aws/kms.h"
#include "tmkms/aws/net.h"
#include "tmkms/aws/sigv4.h"

static tm_aws_credentials *creds;

static int setup(void **unused)
{
    (void)unused;
    assert_int_equal(tm_aws_credentials_new(&creds), TM_OK);
    return tm_aws_credentials_set(creds, "AKIDEXAMPLE", "secret/Key+1", "tok3n") == TM_OK ? 0 : -1;
}

static int teardown(void **unused)
{
    (void)unused;
    tm_aws_credentials_free(creds);
    return 0;
}

static void test_endpoint(void **unused)
{
    (void)unused;
    char url[256], host[256];
    tm_kms_config c = {.region = "ap-southeast-1"};
    assert_int_equal(tm_kms_endpoint(&c, url, sizeof(url), host, sizeof(host)), TM_OK);
    assert_string_equal(url, "https://kms.ap-southeast-1.amazonaws.com/");
    assert_string_equal(host, "kms.ap-southeast-1.amazonaws.com");
    c.endpoint = "https://127.0.0.1:8443";
    assert_int_equal(tm_kms_endpoint(&c, url, sizeof(url), host, sizeof(host)), TM_OK);
    assert_string_equal(host, "127.0.0.1:8443");
    assert_string_equal(url, "https://127.0.0.1:8443/");
    c.endpoint = "https://kms-fips.us-east-1.amazonaws.com:443/";
    assert_int_equal(tm_kms_endpoint(&c, url, sizeof(url), host, sizeof(host)), TM_OK);
    assert_string_equal(host, "kms-fips.us-east-1.amazonaws.com");
    const char *bad[] = {"http://127.0.0.1:80", "https://x/path", "not a url"};
    for (size_t i = 0; i < 3; i++) {
        c.endpoint = bad[i];
        assert_int_equal(tm_kms_endpoint(&c, url, sizeof(url), host, sizeof(host)), TM_ERR_CONFIG);
    }
    tm_kms_config r = {.region = "us-east-1/../x"};
    assert_int_equal(tm_kms_endpoint(&r, url, sizeof(url), host, sizeof(host)), TM_ERR_CONFIG);
}

static void test_prepare_signs_json11(void **unused)
{
    (void)unused;
    tm_kms_config c = {.region = "us-east-1", .creds = creds};
    tm_kms_prepared p;
    const char *body = "{\"NumberOfBytes\":8}";
    assert_int_equal(tm_kms_prepare(&c, "GenerateRandom", body, strlen(body), 1440938160, &p), TM_OK);
    assert_int_equal(p.n_headers, 5);
    assert_string_equal(p.headers[0], "Content-Type: application/x-amz-json-1.1");
    assert_string_equal(p.headers[1], "X-Amz-Target: TrentService.GenerateRandom");
    assert_string_equal(p.headers[2], "X-Amz-Date: 20150830T123600Z");
    assert_string_equal(p.headers[4], "X-Amz-Security-Token: tok3n");
    /* verify like the emulator does */
    tm_sigv4_auth a;
    assert_int_equal(tm_sigv4_parse_authorization(p.hdr_auth + strlen("Authorization: "), &a), TM_OK);
    assert_string_equal(a.signed_headers, "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
    assert_string_equal(a.region, "us-east-1");
    assert_string_equal(a.service, "kms");
    tm_http_header hs[] = {{"content-type", "application/x-amz-json-1.1"},
                           {"host", "kms.us-east-1.amazonaws.com"},
                           {"x-amz-date", "20150830T123600Z"},
                           {"x-amz-security-token", "tok3n"},
                           {"x-amz-target", "TrentService.GenerateRandom"}};
    tm_sigv4_input in = {"POST", "/", NULL, hs, 5, (const uint8_t *)body, strlen(body), "us-east-1", "kms",
                         "20150830T123600Z"};
    char sig[65], sh[256];
    assert_int_equal(tm_sigv4_signature(&in, "secret/Key+1", sig, sh, sizeof(sh)), TM_OK);
    assert_string_equal(sig, a.signature);
    /* no token: no header */
    tm_aws_credentials *plain;
    assert_int_equal(tm_aws_credentials_new(&plain), TM_OK);
    assert_int_equal(tm_aws_credentials_set(plain, "AKID", "s", NULL), TM_OK);
    c.creds = plain;
    assert_int_equal(tm_kms_prepare(&c, "Encrypt", body, strlen(body), 1440938160, &p), TM_OK);
    assert_int_equal(p.n_headers, 4);
    tm_aws_credentials_free(plain);
}

static void test_parse_error(void **unused)
{
    (void)unused;
    tm_kms_error e = {0};
    const char *b = "{\"__type\":\"com.amazonaws.kms#AccessDeniedException\",\"message\":\"User: x is not authorized\"}";
    assert_int_equal(tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), "", &e), TM_ERR_REFUSED);
    assert_string_equal(e.type, "AccessDeniedException");
    assert_string_equal(e.message, "User: x is not authorized");
    assert_string_equal(tm_err_msg(), "AccessDeniedException: User: x is not authorized");
    b = "{\"__type\":\"NotFoundException\",\"Message\":\"Key 'k' does not exist\"}";
    assert_int_equal(tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), "", &e), TM_ERR_NOT_FOUND);
    assert_string_equal(e.message, "Key 'k' does not exist");
    b = "{\"__type\":\"InvalidCiphertextException\"}";
    assert_int_equal(tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), NULL, &e), TM_ERR_CRYPTO);
    assert_int_equal(tm_kms_parse_error(503, (const uint8_t *)"<html>", 6, NULL, &e), TM_ERR_IO);
    assert_string_equal(e.type, "HTTP 503");
    assert_int_equal(tm_kms_parse_error(400, NULL, 0, "ThrottlingException:http://internal", &e), TM_ERR_TIMEOUT);
    assert_string_equal(e.type, "ThrottlingException");
    b = "{\"__type\":\"X\",\"message\":\"bell\\u0007 and \\u00e9\"}";
    tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), NULL, &e);
    assert_string_equal(e.message, "bell? and ??");
    /* A signature mismatch: AWS adds, after a blank line, the canonical request it expected,
     * with the session token in it. Only the first paragraph is kept. */
    b = "{\"__type\":\"InvalidSignatureException\",\"message\":\"The request signature we calculated does "
        "not "
        "match the signature you provided.\\n\\nThe Canonical String for this request should have "
        "been\\n'POST\\n/"
        "\\n\\nhost:kms.eu-west-1.amazonaws.com\\nx-amz-security-token:SECRETTOKEN\\n'\"}";
    assert_int_equal(tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), NULL, &e), TM_ERR_REFUSED);
    assert_string_equal(e.message,
                        "The request signature we calculated does not match the signature you provided.");
    assert_null(strstr(tm_err_msg(), "SECRETTOKEN"));
    b = "{\"__type\":\"X\",\"message\":\"one\\r\\n\\r\\ntwo\"}";
    tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), NULL, &e);
    assert_string_equal(e.message, "one?");
    b = "{\"__type\":\"X\",\"message\":\"line one\\nline two\"}";
    tm_kms_parse_error(400, (const uint8_t *)b, strlen(b), NULL, &e);
    assert_string_equal(e.message, "line one?line two");
}

static void test_retry_policy(void **unused)
{
    (void)unused;
    assert_true(tm_kms_is_retryable(500, "KMSInternalException"));
    assert_true(tm_kms_is_retryable(503, "HTTP 503"));
    assert_true(tm_kms_is_retryable(429, "HTTP 429"));
    assert_true(tm_kms_is_retryable(400, "ThrottlingException"));
    assert_false(tm_kms_is_retryable(400, "AccessDeniedException"));
    assert_false(tm_kms_is_retryable(400, "InvalidSignatureException"));
    assert_false(tm_kms_is_retryable(404, "HTTP 404"));
    assert_false(tm_kms_is_retryable(200, NULL));
    /* full jitter: 1..ceil, ceil doubling from base up to the cap */
    assert_int_equal(tm_kms_backoff_ms(1, 100, 3000, 0), 1);
    assert_int_equal(tm_kms_backoff_ms(1, 100, 3000, 99), 100);
    assert_int_equal(tm_kms_backoff_ms(1, 100, 3000, 100), 1);
    assert_int_equal(tm_kms_backoff_ms(2, 100, 3000, 199), 200);
    assert_int_equal(tm_kms_backoff_ms(3, 100, 3000, 399), 400);
    assert_int_equal(tm_kms_backoff_ms(10, 100, 3000, 2999), 3000);
    assert_int_equal(tm_kms_backoff_ms(60, 100, 3000, UINT32_MAX), UINT32_MAX % 3000 + 1);
}

static void test_parse_b64_field(void **unused)
{
    (void)unused;
    tm_kms_bytes out;
    const char *ok = "{\"Plaintext\":\"aGVsbG8=\",\"KeyId\":\"k\"}";
    assert_int_equal(tm_kms_parse_b64_field((const uint8_t *)ok, strlen(ok), "Plaintext", 4096, true, &out), TM_OK);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    assert_true(out.secure);
    tm_kms_bytes_free(&out);
    const char *bad[] = {"", "{", "[]", "{\"Plaintext\":null}", "{\"Plaintext\":\"\"}", "{\"Plaintext\":\"aGVsbG8\"}",
                         "{\"Plaintext\":\"aGVs bG8=\"}", "{\"Plaintext\":\"aGVsbG8=\",\"Plaintext\":\"aGVsbG8=\"}",
                         "{\"Other\":\"aGVsbG8=\"}", "{\"Plaintext\":\"aGVsbG8=\"} trailing"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tm_status st = tm_kms_parse_b64_field((const uint8_t *)bad[i], strlen(bad[i]), "Plaintext", 4096, false, &out);
        if (st == TM_OK) fail_msg("accepted %s", bad[i]);
        assert_null(out.data);
    }
    assert_int_equal(tm_kms_parse_b64_field((const uint8_t *)ok, strlen(ok), "Plaintext", 4, false, &out),
                     TM_ERR_TOO_LARGE);
}

static void test_imds_parsing(void **unused)
{
    (void)unused;
    tm_aws_credentials *c;
    assert_int_equal(tm_aws_credentials_new(&c), TM_OK);
    const char *j = "{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\","
                    "\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"se/cr+et\",\"Token\":\"T0k\","
                    "\"Expiration\":\"2024-01-01T06:00:00Z\"}";
    assert_int_equal(tm_imds_parse_credentials(j, strlen(j), c), TM_OK);
    assert_string_equal(c->access_key_id, "ASIAX");
    assert_string_equal(c->secret_access_key, "se/cr+et");
    assert_string_equal(c->session_token, "T0k");
    assert_string_equal(c->expiration, "2024-01-01T06:00:00Z");
    const char *bad[] = {"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
                         "{\"Code\":\"Success\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
                         "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":5,\"Token\":\"T\"}",
                         "{\"Code\":\"Success\",\"AccessKeyId\":\"A B\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
                         "not json", "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tm_imds_parse_credentials(bad[i], strlen(bad[i]), c) == TM_OK) fail_msg("accepted %s", bad[i]);
    char role[65];
    assert_int_equal(tm_imds_parse_role("tmkms-role\nother", 16, role, sizeof(role)), TM_OK);
    assert_string_equal(role, "tmkms-role");
    assert_int_equal(tm_imds_parse_role("../etc", 6, role, sizeof(role)), TM_ERR_INVALID);
    assert_int_equal(tm_imds_parse_role("", 0, role, sizeof(role)), TM_ERR_INVALID);
    /* explicit and environment */
    assert_int_equal(tm_aws_credentials_set(c, "AK/ID", "s", NULL), TM_ERR_INVALID);
    assert_string_equal(c->access_key_id, "");
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SENV", 1);
    unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(tm_aws_credentials_from_env(c), TM_OK);
    assert_string_equal(c->access_key_id, "AKENV");
    assert_string_equal(c->session_token, "");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(tm_aws_credentials_from_env(c), TM_ERR_NOT_FOUND);
    tm_aws_credentials_free(c);
}

static void test_connect_via(void **unused)
{
    (void)unused;
    tm_aws_via v;
    assert_int_equal(tm_aws_via_parse("vsock", &v), TM_OK);
    assert_int_equal(v.kind, TM_VIA_VSOCK);
    assert_int_equal(v.cid, 3);
    assert_int_equal(v.port, 8000);
    assert_int_equal(tm_aws_via_parse("vsock:16:5000", &v), TM_OK);
    assert_int_equal(v.cid, 16);
    assert_int_equal(v.port, 5000);
    assert_int_equal(tm_aws_via_parse("tcp:127.0.0.1:8443", &v), TM_OK);
    assert_int_equal(v.kind, TM_VIA_TCP);
    assert_string_equal(v.host, "127.0.0.1");
    assert_int_equal(v.port, 8443);
    assert_int_equal(tm_aws_via_parse("tcp:[::1]:9", &v), TM_OK);
    assert_string_equal(v.host, "::1");
    const char *bad[] = {"tcp:127.0.0.1", "tcp:host:0", "tcp:host:65536", "vsock:3", "vsock:x:1", "udp:1:2", "vsock3:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tm_aws_via_parse(bad[i], &v) == TM_OK) fail_msg("accepted %s", bad[i]);
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(tm_vsock_addr(TM_VSOCK_PARENT_CID, TM_VSOCK_PROXY_PORT, &ss, &len), TM_OK);
    const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&ss;
    assert_int_equal(len, sizeof(struct sockaddr_vm));
    assert_int_equal(vm->svm_family, AF_VSOCK);
    assert_int_equal(vm->svm_cid, 3);
    assert_int_equal(vm->svm_port, 8000);
}

static void test_argument_bounds(void **unused)
{
    (void)unused;
    tm_kms_config c = {.region = "us-east-1", .creds = creds};
    tm_kms_bytes out = {0};
    uint8_t big[TM_KMS_MAX_PLAINTEXT + 1] = {0};
    assert_int_equal(tm_kms_encrypt(&c, "k", big, sizeof(big), &out, NULL), TM_ERR_INVALID);
    assert_int_equal(tm_kms_encrypt(&c, "k", big, 0, &out, NULL), TM_ERR_INVALID);
    assert_int_equal(tm_kms_generate_random(&c, 0, &out, NULL), TM_ERR_INVALID);
    assert_int_equal(tm_kms_generate_random(&c, 1025, &out, NULL), TM_ERR_INVALID);
    assert_int_equal(tm_kms_decrypt(&c, NULL, big, 0, NULL, &out, NULL), TM_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),        cmocka_unit_test(test_prepare_signs_json11),
        cmocka_unit_test(test_parse_error),     cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_parse_b64_field), cmocka_unit_test(test_imds_parsing),
        cmocka_unit_test(test_connect_via),     cmocka_unit_test(test_argument_bounds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
