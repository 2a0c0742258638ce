/* tmkms-nitro-helper pcr4: PCR4 of an EC2 instance, SHA-384(48 zero bytes || instance
 * id), as the KMS key policy's kms:RecipientAttestation:PCR4 wants it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "tmkms/aws/nsm.h"

#define INSTANCE_ID_MAX 64

static void pcr4_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms-nitro-helper pcr4 [--instance-id ID]\n\n"
                 "Prints PCR4 of the enclaves of an EC2 instance as 96 lower-case hex digits:\n"
                 "SHA-384 over 48 zero bytes followed by the instance id (e.g. i-0123456789abcdef0).\n"
                 "Without --instance-id the id of this instance is asked from IMDSv2 (at\n"
                 "AWS_EC2_METADATA_SERVICE_ENDPOINT when set, else http://169.254.169.254).\n\n"
                 "Options:\n"
                 "  -i, --instance-id ID  the EC2 instance id\n"
                 "  -h, --help            this help\n");
}

static int valid_instance_id(const char *id)
{
    size_t n = strnlen(id, INSTANCE_ID_MAX + 1);
    if (n < 3 || n > INSTANCE_ID_MAX || strncmp(id, "i-", 2) != 0) return 0;
    for (size_t i = 2; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
    return 1;
}

int cmd_pcr4(int argc, char **argv)
{
    static const struct option options[] = {
        {"instance-id", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char id[INSTANCE_ID_MAX + 1] = "";
    const char *given = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:h", options, NULL)) != -1) {
        if (opt == 'h') return pcr4_usage(stdout), HELPER_EXIT_OK;
        if (opt != 'i') return pcr4_usage(stderr), HELPER_EXIT_USAGE;
        given = optarg;
    }
    if (optind != argc) return pcr4_usage(stderr), HELPER_EXIT_USAGE;
    if (given == NULL && helper_instance_id(id, sizeof(id)) != TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper pcr4: %s\n", tm_err_msg());
        return HELPER_EXIT_FAIL;
    }
    const char *use = given != NULL ? given : id;
    if (!valid_instance_id(use)) {
        fprintf(stderr, "tmkms-nitro-helper pcr4: '%.80s' is not an instance id (i- and hex digits)\n", use);
        return HELPER_EXIT_USAGE;
    }
    unsigned char pcr[48];
    char hex[97];
    if (tm_nsm_pcr4(use, pcr) != TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper pcr4: %s\n", tm_err_msg());
        return HELPER_EXIT_FAIL;
    }
    helper_hex(pcr, sizeof(pcr), hex, sizeof(hex));
    printf("%s\n", hex);
    return HELPER_EXIT_OK;
}
