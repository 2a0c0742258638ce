/* tmkms-nitro-helper kms-policy: the KMS key policy of the operator guide, as JSON:
 * key administration for the account (no use of the key), kms:Decrypt for the instance
 * role only from an enclave whose attestation has the given PCR0 and PCR4
 * (StringEqualsIgnoreCase on kms:RecipientAttestation:PCR0/PCR4), kms:Encrypt for the
 * role. --debug pins the all-zero PCR0 of enclaves run in debug mode. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"

#define PCR_HEX_LEN 96
#define ROLE_MAX 64

static const char *const admin_actions[] = {
    "kms:Create*", "kms:Describe*", "kms:Enable*",      "kms:List*",        "kms:Put*",
    "kms:Update*", "kms:Revoke*",   "kms:Disable*",     "kms:Get*",         "kms:Delete*",
    "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
};

static void policy_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper kms-policy --account ID --role NAME --pcr0 HEX --pcr4 HEX [--debug]\n\n"
            "Prints the key policy for the KMS key that seals the consensus key (JSON, for\n"
            "`aws kms put-key-policy --policy file://policy.json`):\n"
            "  - the account (arn:aws:iam::ID:root) may administer the key, not use it;\n"
            "  - the role NAME may kms:Decrypt only with a Recipient attestation document whose\n"
            "    PCR0 and PCR4 equal the given values (StringEqualsIgnoreCase on\n"
            "    kms:RecipientAttestation:PCR0 and :PCR4);\n"
            "  - the role NAME may kms:Encrypt.\n\n"
            "Options:\n"
            "  -a, --account ID  the 12-digit AWS account id\n"
            "  -r, --role NAME   the instance role name (not its ARN)\n"
            "      --pcr0 HEX    PCR0 of the enclave image (96 hex digits, from nitro-cli build-enclave)\n"
            "      --pcr4 HEX    PCR4 of the instance (96 hex digits, see `tmkms-nitro-helper pcr4`)\n"
            "  -d, --debug       the enclave runs in debug mode: PCR0 is all zeros (no --pcr0)\n"
            "  -h, --help        this help\n");
}

static int all_chars(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0 || strchr(set, s[i]) == NULL) return 0;
    return 1;
}

static int valid_pcr(const char *hex)
{
    return hex != NULL && strnlen(hex, PCR_HEX_LEN + 1) == PCR_HEX_LEN &&
           all_chars(hex, PCR_HEX_LEN, "0123456789abcdefABCDEF");
}

static int valid_args(const char *account, const char *role, const char *pcr0, const char *pcr4)
{
    const char *role_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-";
    size_t rl = role ? strnlen(role, ROLE_MAX + 1) : 0;
    const char *bad = NULL;
    if (account == NULL || strnlen(account, 13) != 12 || !all_chars(account, 12, "0123456789"))
        bad = "--account: 12 digits";
    else if (rl == 0 || rl > ROLE_MAX || !all_chars(role, rl, role_chars))
        bad = "--role: an IAM role name (1-64 of A-Za-z0-9+=,.@_-)";
    else if (!valid_pcr(pcr0))
        bad = "--pcr0: 96 hex digits (or --debug)";
    else if (!valid_pcr(pcr4))
        bad = "--pcr4: 96 hex digits";
    if (bad) fprintf(stderr, "tmkms-nitro-helper kms-policy: %s\n", bad);
    return bad == NULL;
}

static json_t *statement(const char *sid, const char *principal, json_t *action, json_t *condition)
{
    json_t *s = json_pack("{s:s, s:s, s:{s:s}, s:o, s:s}", "Sid", sid, "Effect", "Allow", "Principal", "AWS",
                          principal, "Action", action, "Resource", "*");
    if (s != NULL && condition != NULL) json_object_set_new(s, "Condition", condition);
    else json_decref(condition);
    return s;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F') *s = (char)(*s - 'A' + 'a');
}

static json_t *build_policy(const char *account, const char *role, const char *pcr0, const char *pcr4)
{
    char root[64], role_arn[160], p0[PCR_HEX_LEN + 1], p4[PCR_HEX_LEN + 1];
    snprintf(root, sizeof(root), "arn:aws:iam::%s:root", account);
    snprintf(role_arn, sizeof(role_arn), "arn:aws:iam::%s:role/%s", account, role);
    snprintf(p0, sizeof(p0), "%s", pcr0);
    snprintf(p4, sizeof(p4), "%s", pcr4);
    lower(p0);
    lower(p4);
    json_t *admin = json_array();
    for (size_t i = 0; admin != NULL && i < sizeof(admin_actions) / sizeof(admin_actions[0]); i++)
        json_array_append_new(admin, json_string(admin_actions[i]));
    json_t *cond = json_pack("{s:{s:s, s:s}}", "StringEqualsIgnoreCase", "kms:RecipientAttestation:PCR0", p0,
                             "kms:RecipientAttestation:PCR4", p4);
    return json_pack("{s:s, s:s, s:[o, o, o]}", "Version", "2012-10-17", "Id", "tmkms-nitro-key-policy", "Statement",
                     statement("Allow key administration by the account", root, admin, NULL),
                     statement("Allow decrypt only from the attested enclave", role_arn, json_string("kms:Decrypt"),
                               cond),
                     statement("Allow encrypt from the instance role", role_arn, json_string("kms:Encrypt"), NULL));
}

int cmd_kms_policy(int argc, char **argv)
{
    static const struct option options[] = {
        {"account", required_argument, NULL, 'a'}, {"role", required_argument, NULL, 'r'},
        {"pcr0", required_argument, NULL, '0'},    {"pcr4", required_argument, NULL, '4'},
        {"debug", no_argument, NULL, 'd'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char zero_pcr[PCR_HEX_LEN + 1] =
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    const char *account = NULL, *role = NULL, *pcr0 = NULL, *pcr4 = NULL;
    int debug = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "a:r:dh", options, NULL)) != -1) {
        switch (opt) {
        case 'a': account = optarg; break;
        case 'r': role = optarg; break;
        case '0': pcr0 = optarg; break;
        case '4': pcr4 = optarg; break;
        case 'd': debug = 1; break;
        case 'h': policy_usage(stdout); return HELPER_EXIT_OK;
        default: policy_usage(stderr); return HELPER_EXIT_USAGE;
        }
    }
    if (optind != argc || (debug && pcr0 != NULL)) {
        fprintf(stderr, "tmkms-nitro-helper kms-policy: %s\n",
                optind != argc ? "unexpected argument" : "--debug and --pcr0 exclude each other");
        return HELPER_EXIT_USAGE;
    }
    if (debug) pcr0 = zero_pcr;
    if (!valid_args(account, role, pcr0, pcr4)) return HELPER_EXIT_USAGE;
    json_t *policy = build_policy(account, role, pcr0, pcr4);
    if (policy == NULL || json_dumpf(policy, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        json_decref(policy);
        fprintf(stderr, "tmkms-nitro-helper kms-policy: cannot build the policy\n");
        return HELPER_EXIT_FAIL;
    }
    printf("\n");
    json_decref(policy);
    return HELPER_EXIT_OK;
}
