/* tmkms softsign keygen|import|export: create, import or export software-held ed25519
 * keys, in tmkms's key file format (base64 of the 32-byte seed, mode 0600, never
 * overwritten) and CometBFT's priv_validator_key.json. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tmkms/noise.h"
#include "tmkms/signer.h"

static void softsign_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms softsign keygen [-t consensus|identity] PATH\n"
                 "       tmkms softsign import [-f json] priv_validator_key.json PATH\n"
                 "       tmkms softsign export [-f json] PATH priv_validator_key.json\n"
                 "\n"
                 "keygen   generate a fresh ed25519 key and write base64 of its 32-byte seed to PATH\n"
                 "         (mode 0600; an existing file is never overwritten). Prints the public key,\n"
                 "         or for an identity key (secret_key of tcp:// and noise:// validators) its\n"
                 "         node ID (tcp://) and libp2p peer ID (noise://).\n"
                 "import   convert CometBFT's priv_validator_key.json into a key file at PATH after\n"
                 "         checking that its public key and address match the private key.\n"
                 "export   write the key file at PATH as CometBFT's priv_validator_key.json (mode\n"
                 "         0600, never over an existing file), to move a validator back to the\n"
                 "         node's own file signer; export its state too (tmkms state export).\n"
                 "\n"
                 "Options:\n"
                 "  -t, --type TYPE    keygen: 'consensus' (default) or 'identity'\n"
                 "  -f, --format FMT   import/export: the other side's format; only 'json' (default)\n"
                 "  -h, --help         show this help\n");
}

/* Print what an operator needs to register or pin the key. */
static int print_public_key(const tm_signer *signer, const char *key_type)
{
    char b64[TM_PUBKEY_BASE64_SIZE], json[TM_PUBKEY_JSON_SIZE], addr[TM_ADDRESS_HEX_SIZE];
    if (strcmp(key_type, "identity") == 0) {
        char peer_id[TM_NOISE_PEER_ID_SIZE];
        if (tm_pubkey_node_id(signer->pubkey, addr, sizeof(addr)) != TM_OK) return TM_EXIT_FAIL;
        tm_noise_peer_id(signer->pubkey, peer_id);
        printf("node ID: %s\n", addr);     /* tcp:// (Secret Connection) */
        printf("peer ID: %s\n", peer_id); /* noise:// (libp2p) */
        return TM_EXIT_OK;
    }
    if (tm_pubkey_base64(signer->pubkey, b64, sizeof(b64)) != TM_OK ||
        tm_pubkey_cometbft_json(signer->pubkey, json, sizeof(json)) != TM_OK ||
        tm_pubkey_address_hex(signer->pubkey, addr, sizeof(addr)) != TM_OK)
        return TM_EXIT_FAIL;
    printf("public key (base64): %s\n", b64);
    printf("public key (CometBFT JSON): %s\n", json);
    printf("validator address: %s\n", addr);
    return TM_EXIT_OK;
}

/* Write `seed` to `path` and report its public key; the seed stays the caller's. */
static int save_and_report(const char *cmd, const uint8_t *seed, const char *path, const char *key_type,
                           const char *verb)
{
    tm_signer *signer = NULL;
    tm_status status = tm_softsign_from_seed(seed, &signer);
    if (status == TM_OK) status = tm_keyfile_write_seed(path, seed);
    if (status != TM_OK) {
        fprintf(stderr, "tmkms softsign %s: %s\n", cmd, tm_err_msg());
        tm_signer_destroy(signer);
        return TM_EXIT_FAIL;
    }
    printf("%s %s (Ed25519) private key at: %s\n", verb, key_type, path);
    int rc = print_public_key(signer, key_type);
    tm_signer_destroy(signer);
    return rc;
}

/* Parse `-t`/`-f` style options; argv[0] is the subcommand name. */
static int parse_options(int argc, char **argv, const char *cmd, const char **value, int *first_arg)
{
    static const struct option options[] = {{"type", required_argument, NULL, 't'},
                                            {"format", required_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int want = strcmp(cmd, "keygen") == 0 ? 't' : 'f';
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:f:h", options, NULL)) != -1) {
        if (opt == 'h') {
            softsign_usage(stdout);
            return -1;
        }
        if (opt != want) {
            if (opt != '?') fprintf(stderr, "tmkms softsign %s: option -%c does not apply\n", cmd, opt);
            softsign_usage(stderr);
            return TM_EXIT_USAGE;
        }
        *value = optarg;
    }
    *first_arg = optind;
    return TM_EXIT_OK;
}

static int softsign_keygen(int argc, char **argv)
{
    const char *key_type = "consensus";
    int first = 0;
    int rc = parse_options(argc, argv, "keygen", &key_type, &first);
    if (rc != TM_EXIT_OK) return rc < 0 ? TM_EXIT_OK : rc;
    if (strcmp(key_type, "consensus") != 0 && strcmp(key_type, "identity") != 0) {
        fprintf(
            stderr, "tmkms softsign keygen: unknown key type '%s' (must be 'consensus' or 'identity'%s)\n",
            key_type, strcmp(key_type, "account") == 0 ? "; secp256k1 account keys are not supported" : "");
        return TM_EXIT_USAGE;
    }
    if (argc - first != 1) {
        fprintf(stderr, "Usage: tmkms softsign keygen [-t consensus|identity] PATH\n");
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK) {
        fprintf(stderr, "tmkms softsign keygen: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (seed == NULL) {
        fprintf(stderr, "tmkms softsign keygen: cannot allocate locked memory\n");
        return TM_EXIT_FAIL;
    }
    randombytes_buf(seed, TM_ED25519_SEED_LEN);
    rc = save_and_report("keygen", seed, argv[first], key_type, "Generated");
    sodium_free(seed);
    return rc;
}

static int softsign_import(int argc, char **argv)
{
    const char *format = "json";
    int first = 0;
    int rc = parse_options(argc, argv, "import", &format, &first);
    if (rc != TM_EXIT_OK) return rc < 0 ? TM_EXIT_OK : rc;
    if (strcmp(format, "json") != 0) {
        fprintf(stderr, "tmkms softsign import: invalid format '%s' (must be 'json')\n", format);
        return TM_EXIT_USAGE;
    }
    if (argc - first != 2) {
        fprintf(stderr, "Usage: tmkms softsign import [-f json] priv_validator_key.json PATH\n");
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK) { /* before sodium_malloc, which needs an initialised libsodium */
        fprintf(stderr, "tmkms softsign import: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (seed == NULL) {
        fprintf(stderr, "tmkms softsign import: cannot allocate locked memory\n");
        return TM_EXIT_FAIL;
    }
    if (tm_keyfile_import_cometbft(argv[first], seed) != TM_OK) {
        fprintf(stderr, "tmkms softsign import: %s\n", tm_err_msg());
        rc = TM_EXIT_FAIL;
    } else {
        rc = save_and_report("import", seed, argv[first + 1], "consensus", "Imported");
    }
    sodium_free(seed);
    return rc;
}

static int softsign_export(int argc, char **argv)
{
    const char *format = "json";
    int first = 0;
    int rc = parse_options(argc, argv, "export", &format, &first);
    if (rc != TM_EXIT_OK) return rc < 0 ? TM_EXIT_OK : rc;
    if (strcmp(format, "json") != 0) {
        fprintf(stderr, "tmkms softsign export: invalid format '%s' (must be 'json')\n", format);
        return TM_EXIT_USAGE;
    }
    if (argc - first != 2) {
        fprintf(stderr, "Usage: tmkms softsign export [-f json] PATH priv_validator_key.json\n");
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK) {
        fprintf(stderr, "tmkms softsign export: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (seed == NULL) {
        fprintf(stderr, "tmkms softsign export: cannot allocate locked memory\n");
        return TM_EXIT_FAIL;
    }
    if (tm_keyfile_read_seed(argv[first], seed) != TM_OK || tm_keyfile_export_cometbft(seed, argv[first + 1]) != TM_OK) {
        fprintf(stderr, "tmkms softsign export: %s\n", tm_err_msg());
        rc = TM_EXIT_FAIL;
    } else {
        printf("Exported %s as CometBFT priv_validator_key.json: %s\n", argv[first], argv[first + 1]);
    }
    sodium_free(seed);
    return rc;
}

int cmd_softsign(int argc, char **argv)
{
    if (argc < 2) {
        softsign_usage(stderr);
        return TM_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        softsign_usage(stdout);
        return TM_EXIT_OK;
    }
    if (strcmp(sub, "keygen") == 0) return softsign_keygen(argc - 1, argv + 1);
    if (strcmp(sub, "import") == 0) return softsign_import(argc - 1, argv + 1);
    if (strcmp(sub, "export") == 0) return softsign_export(argc - 1, argv + 1);
    fprintf(stderr, "tmkms softsign: unknown subcommand '%s'\n\n", sub);
    softsign_usage(stderr);
    return TM_EXIT_USAGE;
}
