/* tmkms init: a working starting point — config, directories, a consensus key and a
 * height-0 state per chain, and the KMS's identity key for the network transports. Never
 * overwrites anything that exists. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tmkms/config.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"
#include "tmkms/state.h"

#define MAX_INIT_CHAINS 16

static void init_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms init [-n CHAIN_ID]... [DIR]\n\n"
                 "Creates DIR (default: the current directory) with a commented tmkms.toml,\n"
                 "secrets/ (0700) holding one softsign consensus key per chain and the KMS's\n"
                 "identity key for tcp:// and noise:// (kms-identity.key; its node ID and peer ID\n"
                 "are printed), and state/ holding a height-0 double-sign state per chain.\n"
                 "Existing files are kept.\n\n"
                 "Options:\n"
                 "  -n, --chain CHAIN_ID   a chain to configure (repeatable; default cosmoshub-4)\n"
                 "  -h, --help             this help\n\n"
                 "Next steps: edit addr in tmkms.toml to the node's priv_validator_laddr, print the\n"
                 "key with 'tmkms pubkey -c DIR/tmkms.toml', then 'tmkms start -c DIR/tmkms.toml'.\n"
                 "Moving a validator that already signed? Import its key (tmkms softsign import)\n"
                 "and its state (tmkms state import) instead of using the new ones.\n");
}

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "tmkms init: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int write_config(const char *dir, char **chains, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tmkms.toml", dir);
    FILE *f = fopen(path, "wx");
    if (!f) {
        if (errno == EEXIST) {
            printf("kept     %s (exists)\n", path);
            return 0;
        }
        fprintf(stderr, "tmkms init: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# tmkms configuration (tmkms-nitro). Relative paths are relative to this file.\n"
               "# Reference: docs/CONFIGURATION.md\n\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "## Chain: %s\n"
                "[[chain]]\n"
                "id = \"%s\"\n"
                "# How `tmkms pubkey` prints the key: bech32 (with prefixes), cosmos-json or hex.\n"
                "key_format = { type = \"bech32\", account_key_prefix = \"cosmospub\", "
                "consensus_key_prefix = \"cosmosvalconspub\" }\n"
                "# Last signed height/round/step; made durable before each signature is released.\n"
                "state_file = \"state/%s-consensus.state\"\n"
                "# Sign vote extensions of non-nil precommits (CometBFT >= 0.38). Turn off only for\n"
                "# nodes older than 0.38.\n"
                "sign_extensions = true\n\n"
                "## Validator node(s) of %s: one [[validator]] per node or sentry.\n"
                "[[validator]]\n"
                "chain_id = \"%s\"\n"
                "# The node's priv_validator_laddr. tmkms dials it and reconnects when it goes away.\n"
                "# Over the network: tcp://NODE_ID@host:port (Secret Connection) or\n"
                "# noise://PEER_ID@host:port (libp2p Noise, CometBFT >= 0.40), both with\n"
                "# secret_key = \"secrets/kms-identity.key\" (tmkms softsign keygen -t identity PATH).\n"
                "addr = \"unix://%s/validator.sock\"\n"
                "reconnect = true\n"
                "# Refuse to sign above this height (0 or absent: no limit).\n"
                "# max_height = 0\n\n"
                "[[providers.softsign]]\n"
                "chain_ids = [\"%s\"]\n"
                "key_type = \"consensus\"\n"
                "path = \"secrets/%s-consensus.key\"\n\n",
                chains[i], chains[i], chains[i], chains[i], chains[i], dir, chains[i], chains[i]);
    int failed = fflush(f) != 0 || fsync(fileno(f)) != 0;
    failed |= fclose(f) != 0;
    if (failed) {
        fprintf(stderr, "tmkms init: writing %s failed\n", path);
        return -1;
    }
    printf("created  %s\n", path);
    return 0;
}

/* A fresh ed25519 seed at path (0600), unless a key is there already. */
static int create_seed_file(const char *path, const char *what)
{
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (!seed) return -1;
    randombytes_buf(seed, TM_ED25519_SEED_LEN);
    tm_status status = tm_keyfile_write_seed(path, seed);
    sodium_free(seed);
    if (status == TM_ERR_EXISTS) {
        printf("kept     %s (exists)\n", path);
        return 0;
    }
    if (status != TM_OK) {
        fprintf(stderr, "tmkms init: %s\n", tm_err_msg());
        return -1;
    }
    printf("created  %s (%s, 0600)\n", path, what);
    return 0;
}

static int create_key(const char *dir, const char *chain)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/secrets/%s-consensus.key", dir, chain);
    return create_seed_file(path, "softsign consensus key");
}

/* The KMS's identity for tcp:// and noise://, one for all chains; prints the IDs the node
 * side needs. */
static int create_identity(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/secrets/kms-identity.key", dir);
    if (create_seed_file(path, "identity key for tcp:// and noise://") != 0) return -1;
    uint8_t *sk = sodium_malloc(TM_ED25519_SEED_LEN + crypto_sign_SECRETKEYBYTES);
    if (!sk) return -1;
    int rc = -1;
    if (tm_keyfile_read_seed(path, sk) == TM_OK) {
        uint8_t pub[32];
        char node_id[41], peer_id[TM_NOISE_PEER_ID_SIZE];
        crypto_sign_seed_keypair(pub, sk + TM_ED25519_SEED_LEN, sk);
        tm_sc_node_id(pub, node_id);
        tm_noise_peer_id(pub, peer_id);
        printf("         node ID %s (tcp://), peer ID %s (noise://)\n", node_id, peer_id);
        rc = 0;
    } else {
        fprintf(stderr, "tmkms init: %s\n", tm_err_msg());
    }
    sodium_free(sk);
    return rc;
}

static int create_state(const char *dir, const char *chain)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/state/%s-consensus.state", dir, chain);
    tm_sign_state initial = {0};
    tm_status status = tm_state_file_create(path, chain, &initial);
    if (status == TM_ERR_EXISTS) {
        printf("kept     %s (exists)\n", path);
        return 0;
    }
    if (status != TM_OK) {
        fprintf(stderr, "tmkms init: %s\n", tm_err_msg());
        return -1;
    }
    printf("created  %s (height 0)\n", path);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"chain", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char *chains[MAX_INIT_CHAINS];
    size_t n = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (n == MAX_INIT_CHAINS) {
                fprintf(stderr, "tmkms init: at most %d chains\n", MAX_INIT_CHAINS);
                return TM_EXIT_USAGE;
            }
            chains[n++] = optarg;
            break;
        case 'h': init_usage(stdout); return TM_EXIT_OK;
        default: init_usage(stderr); return TM_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        init_usage(stderr);
        return TM_EXIT_USAGE;
    }
    if (n == 0) chains[n++] = "cosmoshub-4";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(chains[i]);
        if (len == 0 || len > TM_MAX_CHAIN_ID_LEN || strpbrk(chains[i], "/ \t\"\\")) {
            fprintf(stderr, "tmkms init: '%s' is not a chain id\n", chains[i]);
            return TM_EXIT_USAGE;
        }
    }
    const char *target = optind < argc ? argv[optind] : ".";
    if (make_dir(target, 0755) != 0) return TM_EXIT_FAIL;
    char *dir = realpath(target, NULL);
    if (!dir || tm_crypto_init() != TM_OK) {
        free(dir);
        return TM_EXIT_FAIL;
    }
    char sub[PATH_MAX];
    int rc = 0;
    snprintf(sub, sizeof(sub), "%s/secrets", dir);
    rc |= make_dir(sub, 0700);
    snprintf(sub, sizeof(sub), "%s/state", dir);
    rc |= make_dir(sub, 0700);
    if (rc == 0) rc |= write_config(dir, chains, n);
    for (size_t i = 0; rc == 0 && i < n; i++) rc |= create_key(dir, chains[i]) | create_state(dir, chains[i]);
    if (rc == 0) rc |= create_identity(dir);
    free(dir);
    return rc == 0 ? TM_EXIT_OK : TM_EXIT_FAIL;
}
