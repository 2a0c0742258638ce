/* kms-emulator's key-policy evaluation (tools/kms-emulator/policy.c) on the operator
 * guide's policy as `tmkms-nitro-helper kms-policy` writes it, and on the rules around it:
 * action patterns, principals, conditions, Deny, malformed policies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emu.h"

#define ACCOUNT "123456789012"
#define ROLE "arn:aws:iam::123456789012:role/tmkms-role"
#define OTHER_ROLE "arn:aws:iam::123456789012:role/someone-else"
#define STRANGER "arn:aws:iam::999999999999:role/tmkms-role"
#define PCR0 "abababababababababababababababababababababababababababababababababababababababababababababababab"
#define PCR4 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define OTHER "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"

/* The operator guide's policy, produced by the real helper binary. */
static char *guide_policy(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/bin/tmkms-nitro-helper kms-policy --account %s --role tmkms-role --pcr0 %s --pcr4 %s",
             getenv("TMKMS_BUILD_DIR"), ACCOUNT, PCR0, PCR4);
    // NOLINTNEXTLINE(cert-env33-c): runs the helper binary of this build, its output is the test input
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, p);
    assert_int_equal(pclose(p), 0);
    assert_true(n > 0);
    return text;
}

static bool decrypt_with(const char *policy, const char *caller, const char *pcr0, const char *pcr4)
{
    emu_context ctx[2] = {{"kms:RecipientAttestation:PCR0", pcr0}, {"kms:RecipientAttestation:PCR4", pcr4}};
    size_t n = pcr0 ? 2 : 0;
    return emu_policy_allows(policy, ACCOUNT, caller, "kms:Decrypt", ctx, n);
}

static void test_guide_policy(void **unused)
{
    (void)unused;
    char *policy = guide_policy();
    emu_error e = {0};
    assert_true(emu_policy_validate(policy, &e));
    /* Decrypt only from the attested enclave: the role, with both PCRs matching. */
    assert_true(decrypt_with(policy, ROLE, PCR0, PCR4));
    char upper[97];
    for (size_t i = 0; i < 96; i++) upper[i] = (char)(PCR0[i] - 'a' + 'A');
    upper[96] = '\0';
    assert_true(decrypt_with(policy, ROLE, upper, PCR4)); /* StringEqualsIgnoreCase */
    assert_false(decrypt_with(policy, ROLE, OTHER, PCR4));
    assert_false(decrypt_with(policy, ROLE, PCR0, OTHER));
    assert_false(decrypt_with(policy, ROLE, NULL, NULL)); /* plain Decrypt: no attestation */
    assert_false(decrypt_with(policy, OTHER_ROLE, PCR0, PCR4));
    assert_false(decrypt_with(policy, STRANGER, PCR0, PCR4));
    /* Encrypt from the role; the account administers through patterns (kms:Put*, ...). */
    assert_true(emu_policy_allows(policy, ACCOUNT, ROLE, "kms:Encrypt", NULL, 0));
    assert_false(emu_policy_allows(policy, ACCOUNT, STRANGER, "kms:Encrypt", NULL, 0));
    assert_true(emu_policy_allows(policy, ACCOUNT, OTHER_ROLE, "kms:PutKeyPolicy", NULL, 0));
    assert_true(emu_policy_allows(policy, ACCOUNT, OTHER_ROLE, "kms:DescribeKey", NULL, 0));
    assert_false(emu_policy_allows(policy, ACCOUNT, STRANGER, "kms:PutKeyPolicy", NULL, 0));
    assert_false(emu_policy_allows(policy, ACCOUNT, OTHER_ROLE, "kms:GenerateRandom", NULL, 0));
    free(policy);
}

static void test_patterns_deny_and_lists(void **unused)
{
    (void)unused;
    const char *policy = "{\"Version\":\"2012-10-17\",\"Statement\":["
                         "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" OTHER_ROLE "\",\"" ROLE "\"]},"
                         "\"Action\":[\"KMS:de?rypt\",\"kms:Generate*\"],\"Resource\":\"*\","
                         "\"Condition\":{\"StringEquals\":{\"kms:RecipientAttestation:PCR0\":[\"" OTHER "\",\"" PCR0 "\"]}}},"
                         "{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"" OTHER_ROLE "\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
    emu_error e = {0};
    assert_true(emu_policy_validate(policy, &e));
    assert_true(decrypt_with(policy, ROLE, PCR0, PCR4));
    assert_true(decrypt_with(policy, ROLE, OTHER, PCR4)); /* any listed value */
    char upper[97];
    for (size_t i = 0; i < 96; i++) upper[i] = (char)(PCR0[i] - 'a' + 'A');
    upper[96] = '\0';
    assert_false(decrypt_with(policy, ROLE, upper, PCR4)); /* StringEquals is case-sensitive */
    assert_false(decrypt_with(policy, OTHER_ROLE, PCR0, PCR4)); /* Deny wins */
    emu_context ctx[1] = {{"kms:RecipientAttestation:PCR0", PCR0}};
    assert_true(emu_policy_allows(policy, ACCOUNT, ROLE, "kms:GenerateRandom", ctx, 1));
    assert_false(emu_policy_allows(policy, ACCOUNT, ROLE, "kms:Encrypt", ctx, 1));
}

static void test_malformed_policies(void **unused)
{
    (void)unused;
    const char *bad[] = {
        "",
        "[]",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Condition\":"
        "{\"NumericLessThan\":{\"kms:RecipientAttestation:PCR0\":\"1\"}}}]}",
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\"},"
        "{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        emu_error e = {0};
        assert_false(emu_policy_validate(bad[i], &e));
        assert_false(emu_policy_allows(bad[i], ACCOUNT, ROLE, "kms:Decrypt", NULL, 0));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_policy),
        cmocka_unit_test(test_patterns_deny_and_lists),
        cmocka_unit_test(test_malformed_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
