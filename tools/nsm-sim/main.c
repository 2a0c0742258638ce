/* nsm-sim: asks the NSM simulator for one attestation document and prints it as base64.
 * The simulator's CA lives in --ca-dir (root.pem is the root to verify against). */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/nsm.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: nsm-sim --ca-dir DIR [--enclave FILE | --pcr0 HEX] [--instance-id ID]\n"
                 "               [--user-data TEXT] [--nonce HEX] [--public-key HEX] [--timestamp-ms MS]\n\n"
                 "Prints one attestation document of the NSM simulator as base64. DIR holds the\n"
                 "simulated CA (created when missing); verify against DIR/root.pem.\n");
}

typedef struct {
    tm_nsm_sim_config cfg;
    const char *user_data, *nonce_hex, *pk_hex;
} sim_args;

static int parse(int argc, char **argv, sim_args *a)
{
    static const struct option options[] = {
        {"ca-dir", required_argument, NULL, 'c'},      {"enclave", required_argument, NULL, 'e'},
        {"pcr0", required_argument, NULL, '0'},        {"instance-id", required_argument, NULL, 'i'},
        {"user-data", required_argument, NULL, 'u'},   {"nonce", required_argument, NULL, 'n'},
        {"public-key", required_argument, NULL, 'p'},  {"timestamp-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    int opt;
    memset(a, 0, sizeof(*a));
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': a->cfg.ca_dir = optarg; break;
        case 'e': a->cfg.enclave_binary = optarg; break;
        case '0': a->cfg.pcr0_hex = optarg; break;
        case 'i': a->cfg.instance_id = optarg; break;
        case 'u': a->user_data = optarg; break;
        case 'n': a->nonce_hex = optarg; break;
        case 'p': a->pk_hex = optarg; break;
        case 't': a->cfg.timestamp_ms = strtoull(optarg, NULL, 10); break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    return optind == argc && a->cfg.ca_dir != NULL ? 0 : -1;
}

static int hex_field(const char *hex, uint8_t *buf, size_t cap, tm_nsm_opt_bytes *out)
{
    size_t n = 0;
    if (hex == NULL) return 0;
    if (sodium_hex2bin(buf, cap, hex, strlen(hex), NULL, &n, NULL) != 0) return -1;
    *out = (tm_nsm_opt_bytes){true, buf, n};
    return 0;
}

int main(int argc, char **argv)
{
    sim_args a;
    static uint8_t nonce[1024], pk[2048];
    tm_nsm_opt_bytes ud = {0}, no = {0}, k = {0};
    tm_nsm *sim = NULL;
    uint8_t *doc = NULL;
    size_t len = 0;
    if (parse(argc, argv, &a) != 0 || hex_field(a.nonce_hex, nonce, sizeof(nonce), &no) != 0 ||
        hex_field(a.pk_hex, pk, sizeof(pk), &k) != 0) {
        usage(stderr);
        return 2;
    }
    if (a.user_data) ud = (tm_nsm_opt_bytes){true, (const uint8_t *)a.user_data, strlen(a.user_data)};
    if (tm_nsm_sim_open(&a.cfg, &sim) != TM_OK || tm_nsm_attestation(sim, &ud, &no, &k, &doc, &len) != TM_OK) {
        fprintf(stderr, "nsm-sim: %s\n", tm_err_msg());
        tm_nsm_close(sim);
        return 1;
    }
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    if (b64 != NULL) printf("%s\n", sodium_bin2base64(b64, cap, doc, len, sodium_base64_VARIANT_ORIGINAL));
    free(b64);
    free(doc);
    tm_nsm_close(sim);
    return b64 != NULL ? 0 : 1;
}
