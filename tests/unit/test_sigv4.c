/* SigV4: the AWS SigV4 test-suite vectors (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z,
 * us-east-1, service "service"; the published signatures), and equality with botocore's
 * SigV4Auth (Debian's awscli) for KMS-shaped requests: tests/aws/botocore_sigv4.py signs the
 * same fixed inputs and we compare the headers. Authorization parsing for the emulator. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/aws/sigv4.h"

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_TIME 1440938160

typedef struct {
    const char *name;
    const char *method;
    const char *query;
    tm_http_header headers[4];
    size_t n_headers;
    const char *body;
    const char *signed_headers;
    const char *signature;
} suite_case;

#define HOST {"Host", "example.amazonaws.com"}
#define DATE {"X-Amz-Date", SUITE_DATE}

static const suite_case suite[] = {
    {"get-vanilla", "GET", NULL, {HOST, DATE}, 2, "", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla", "POST", NULL, {HOST, DATE}, 2, "", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query", "POST", "Param1=value1", {HOST, DATE}, 2, "", "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"get-vanilla-query-order-value", "GET", "Param2=value2&Param1=value1", {HOST, DATE}, 2, "", "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"post-header-key-case", "POST", NULL, {HOST, DATE, {"MY-HEADER1", "value1"}}, 3, "", "host;my-header1;x-amz-date",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", NULL, {HOST, DATE, {"My-Header1", "VALUE1"}}, 3, "", "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"get-header-key-duplicate", "GET", NULL,
     {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, 4, "",
     "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-trim", "GET", NULL, {HOST, DATE, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, 4,
     "", "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-x-www-form-urlencoded", "POST", NULL, {{"Content-Type", "application/x-www-form-urlencoded"}, HOST, DATE}, 3,
     "Param1=value1", "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
};

static void test_suite_vectors(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
        const suite_case *c = &suite[i];
        tm_http_header hs[5];
        memcpy(hs, c->headers, c->n_headers * sizeof(hs[0]));
        size_t n = c->n_headers;
        if (strcmp(c->name, "get-header-key-duplicate") == 0) hs[n++] = (tm_http_header)DATE;
        tm_sigv4_input in = {c->method, "/", c->query, hs, n, (const uint8_t *)c->body, strlen(c->body),
                             "us-east-1", "service", SUITE_DATE};
        char sig[65], sh[256];
        assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, sizeof(sh)), TM_OK);
        if (strcmp(sig, c->signature) != 0) fail_msg("%s: signature %s, want %s", c->name, sig, c->signature);
        assert_string_equal(sh, c->signed_headers);
    }
}

static void test_sign_adds_date_and_token(void **unused)
{
    (void)unused;
    tm_http_header hs[] = {HOST};
    tm_sigv4_input in = {"GET", "/", NULL, hs, 1, NULL, 0, "us-east-1", "service", NULL};
    tm_sigv4_signed out;
    assert_int_equal(tm_sigv4_sign(&in, "AKIDEXAMPLE", SUITE_SECRET, NULL, SUITE_TIME, &out), TM_OK);
    assert_string_equal(out.amz_date, SUITE_DATE);
    assert_string_equal(out.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                        "SignedHeaders=host;x-amz-date, "
                        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    assert_int_equal(tm_sigv4_sign(&in, "AKIDEXAMPLE", SUITE_SECRET, "TOKEN", SUITE_TIME, &out), TM_OK);
    assert_non_null(strstr(out.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    /* no host header: refused */
    tm_http_header nohost[] = {{"content-type", "x"}};
    in.headers = nohost;
    assert_int_equal(tm_sigv4_sign(&in, "AKIDEXAMPLE", SUITE_SECRET, NULL, SUITE_TIME, &out), TM_ERR_INVALID);
}

static void test_bad_inputs(void **unused)
{
    (void)unused;
    tm_http_header hs[] = {HOST, DATE, {"bad name", "x"}};
    tm_sigv4_input in = {"GET", "/", NULL, hs, 3, NULL, 0, "us-east-1", "service", SUITE_DATE};
    char sig[65], sh[256];
    assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, sizeof(sh)), TM_ERR_INVALID);
    hs[2] = (tm_http_header){"x-a", "line\nbreak"};
    assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, sizeof(sh)), TM_ERR_INVALID);
    hs[2] = (tm_http_header){"x-a", "ok"};
    in.amz_date = "2015-08-30T12:36:00Z";
    assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, sizeof(sh)), TM_ERR_INVALID);
    in.amz_date = SUITE_DATE;
    in.region = "us/east";
    assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, sizeof(sh)), TM_ERR_INVALID);
    in.region = "us-east-1";
    assert_int_equal(tm_sigv4_signature(&in, "", sig, sh, sizeof(sh)), TM_ERR_INVALID);
    assert_int_equal(tm_sigv4_signature(&in, SUITE_SECRET, sig, sh, 4), TM_ERR_TOO_LARGE);
}

static void test_parse_authorization(void **unused)
{
    (void)unused;
    tm_sigv4_auth a;
    const char *ok = "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/kms/aws4_request, "
                     "SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    assert_int_equal(tm_sigv4_parse_authorization(ok, &a), TM_OK);
    assert_string_equal(a.access_key_id, "AKID");
    assert_string_equal(a.date8, "20150830");
    assert_string_equal(a.region, "eu-west-1");
    assert_string_equal(a.service, "kms");
    assert_string_equal(a.signed_headers, "content-type;host;x-amz-date");
    const char *bad[] = {
        "",
        "AWS4-HMAC-SHA1 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_reques, SignedHeaders=host, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request, SignedHeaders=host, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5fa0",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Signature="
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=//r/s/aws4_request, SignedHeaders=host, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tm_sigv4_parse_authorization(bad[i], &a) != TM_ERR_INVALID) fail_msg("accepted: %s", bad[i]);
}

static void test_dates(void **unused)
{
    (void)unused;
    time_t t;
    assert_int_equal(tm_sigv4_parse_date(SUITE_DATE, &t), TM_OK);
    assert_int_equal((long long)t, SUITE_TIME);
    assert_int_equal(tm_sigv4_parse_date("20150830T123600", &t), TM_ERR_INVALID);
    assert_int_equal(tm_sigv4_parse_date("2015083xT123600Z", &t), TM_ERR_INVALID);
    assert_int_equal(tm_sigv4_parse_date("20151330T123600Z", &t), TM_ERR_INVALID);
}

/* ---- botocore ---- */

typedef struct {
    const char *url, *host, *target, *body, *region, *token;
    long long time;
} boto_case;

static json_t *run_botocore(const boto_case *c)
{
    char script[1024], cmd[1400], in_path[] = "/tmp/sigv4-in-XXXXXX";
    const char *py = getenv("TMKMS_PYTHON");
    if (!py) py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(script, sizeof(script), "%s/tests/aws/botocore_sigv4.py", getenv("TMKMS_SOURCE_DIR"));
    json_t *req = json_pack("{s:s, s:s, s:[[s,s],[s,s]], s:s, s:s, s:s, s:s, s:s, s:s?, s:I}", "method", "POST",
                            "url", c->url, "headers", "Content-Type", "application/x-amz-json-1.1", "X-Amz-Target",
                            c->target, "body", c->body, "region", c->region, "service", "kms", "access_key_id",
                            "AKIAEXAMPLE123", "secret_access_key", "s3cr3t/Key+Example", "session_token", c->token,
                            "time", c->time);
    int fd = mkstemp(in_path);
    assert_true(fd >= 0);
    assert_int_equal(json_dumpfd(req, fd, 0), 0);
    close(fd);
    json_decref(req);
    snprintf(cmd, sizeof(cmd), "%s %s < %s", py, script, in_path);
    // NOLINTNEXTLINE(cert-env33-c): runs the reference signer script on a file the test wrote
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t err;
    json_t *out = json_loadf(p, 0, &err);
    int rc = pclose(p);
    unlink(in_path);
    if (!out || rc != 0) fail_msg("botocore signer failed (%s): %s", cmd, err.text);
    return out;
}

static void test_equal_to_botocore(void **unused)
{
    (void)unused;
    const boto_case cases[] = {
        {"https://kms.us-east-1.amazonaws.com/", "kms.us-east-1.amazonaws.com", "TrentService.Encrypt",
         "{\"KeyId\":\"alias/x\",\"Plaintext\":\"aGVsbG8=\"}", "us-east-1", NULL, 1440938160},
        {"https://kms.ap-southeast-1.amazonaws.com/", "kms.ap-southeast-1.amazonaws.com", "TrentService.Decrypt",
         "{\"CiphertextBlob\":\"AAAA\"}", "ap-southeast-1",
         "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+session/token=", 1700000000},
        {"https://127.0.0.1:4443/", "127.0.0.1:4443", "TrentService.GenerateRandom", "{\"NumberOfBytes\":32}",
         "eu-central-1", "tok", 1893456000},
        {"https://kms.us-east-1.amazonaws.com/", "kms.us-east-1.amazonaws.com", "TrentService.Encrypt", "", "us-east-1",
         NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const boto_case *c = &cases[i];
        json_t *want = run_botocore(c);
        tm_http_header hs[] = {{"Content-Type", "application/x-amz-json-1.1"},
                               {"X-Amz-Target", c->target},
                               {"Host", c->host}};
        tm_sigv4_input in = {"POST", "/", NULL, hs, 3, (const uint8_t *)c->body, strlen(c->body), c->region, "kms", NULL};
        tm_sigv4_signed got;
        assert_int_equal(tm_sigv4_sign(&in, "AKIAEXAMPLE123", "s3cr3t/Key+Example", c->token, (time_t)c->time, &got),
                         TM_OK);
        assert_string_equal(got.amz_date, json_string_value(json_object_get(want, "x_amz_date")));
        assert_string_equal(got.authorization, json_string_value(json_object_get(want, "authorization")));
        if (c->token)
            assert_string_equal(c->token, json_string_value(json_object_get(want, "x_amz_security_token")));
        json_decref(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_vectors),       cmocka_unit_test(test_sign_adds_date_and_token),
        cmocka_unit_test(test_bad_inputs),          cmocka_unit_test(test_parse_authorization),
        cmocka_unit_test(test_dates),               cmocka_unit_test(test_equal_to_botocore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
