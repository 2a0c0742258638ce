/* tmkms-nitro-helper: the host side of tmkms-nitro in AWS Nitro Enclaves, and the
 * operator's tools. Subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "tmkms/signer.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"init", cmd_init, "generate the consensus key in the enclave, sealed by KMS; write starter configs"},
    {"start", cmd_start, "push the config to the enclave; serve its state, node connection and logs"},
    {"status", cmd_status,
     "what a running `start` is doing: the enclave, the last state persisted, the relay"},
    {"pcr4", cmd_pcr4, "print PCR4 of an EC2 instance: SHA-384(48 zero bytes || instance id)"},
    {"kms-policy", cmd_kms_policy, "print the KMS key policy: Decrypt only from the attested enclave"},
    {"verify-attestation", cmd_verify_attestation, "verify an attestation document and print its fields"},
    {"enclave", cmd_enclave, "run|info|stop the enclave (nitro-cli), or run the vsock proxy to KMS"},
    {"launch-all", cmd_launch_all, "run enclave, vsock proxy and helper as one supervised unit"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: tmkms-nitro-helper <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-19s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun 'tmkms-nitro-helper <command> --help' for a command's options.\n");
}

int helper_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

void helper_hex(const unsigned char *data, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len && n + 2 < cap; i++) {
        out[n++] = digits[data[i] >> 4];
        out[n++] = digits[data[i] & 15];
    }
    if (cap > 0) out[n] = 0;
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("tmkms-nitro-helper %s (%s)\n", TMKMS_VERSION, TMKMS_GIT_REV);
    return HELPER_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* libsodium before any locked allocation; jansson's frees wipe (credentials, keys). */
    if (tm_crypto_init() != TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper: %s\n", tm_err_msg());
        return HELPER_EXIT_FAIL;
    }
    if (argc < 2) {
        usage(stderr);
        return HELPER_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return HELPER_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tmkms-nitro-helper: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return HELPER_EXIT_USAGE;
}
