/* tmkms pubkey: print the consensus public key of each chain of a config in the forms
 * operators paste elsewhere: bech32 (legacy amino, with the chain's consensus prefix),
 * base64, CometBFT JSON, hex, and the validator address. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "service.h"
#include "tmkms/config.h"
#include "tmkms/signer.h"

static void pubkey_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms pubkey [-c FILE] [--chain ID]\n\n"
                 "Prints the consensus public key of every chain in the config (or of one chain):\n"
                 "bech32 (amino prefix 1624DE6420 + key, with the chain's consensus_key_prefix when\n"
                 "its key_format is bech32), base64, CometBFT JSON, hex, and the validator address.\n\n"
                 "Options:\n"
                 "  -c, --config FILE  configuration file (default: tmkms.toml)\n"
                 "  -n, --chain ID     only this chain\n"
                 "  -h, --help         this help\n");
}

static void print_hex(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02X", data[i]);
}

static int print_renderings(const tm_chain_config *chain, const tm_softsign_config *key, const uint8_t *pk)
{
    char bech32[256], b64[TM_PUBKEY_BASE64_SIZE], json[TM_PUBKEY_JSON_SIZE], addr[TM_ADDRESS_HEX_SIZE];
    bool has_prefix = chain->key_format == TM_KEYFMT_BECH32 && chain->consensus_key_prefix != NULL;
    if ((has_prefix && tm_pubkey_bech32(pk, chain->consensus_key_prefix, bech32, sizeof(bech32)) != TM_OK) ||
        tm_pubkey_base64(pk, b64, sizeof(b64)) != TM_OK ||
        tm_pubkey_cometbft_json(pk, json, sizeof(json)) != TM_OK ||
        tm_pubkey_address_hex(pk, addr, sizeof(addr)) != TM_OK) {
        fprintf(stderr, "tmkms pubkey: chain '%s': %s\n", chain->id, tm_err_msg());
        return TM_EXIT_FAIL;
    }
    printf("chain %s (key %s)\n", chain->id, key->path);
    if (has_prefix) printf("  bech32:  %s\n", bech32);
    printf("  base64:  %s\n", b64);
    printf("  json:    %s\n", json);
    printf("  hex:     ");
    print_hex(pk, TM_ED25519_PUBKEY_LEN);
    printf("\n  address: %s\n", addr);
    return TM_EXIT_OK;
}

static int show_chain(const tm_config *config, const tm_chain_config *chain)
{
    const tm_softsign_config *key = tm_config_consensus_key(config, chain->id);
    if (key == NULL) {
        fprintf(stderr,
                "tmkms pubkey: %s:%d: chain '%s' has no consensus key: add a [[providers.softsign]] with "
                "chain_ids = [\"%s\"]\n",
                config->path, chain->line, chain->id, chain->id);
        return TM_EXIT_USAGE;
    }
    tm_signer *signer = NULL;
    if (tm_service_load_key(key, &signer) != TM_OK) {
        fprintf(stderr, "tmkms pubkey: chain '%s': %s\n", chain->id, tm_err_msg());
        return TM_EXIT_FAIL;
    }
    int rc = print_renderings(chain, key, signer->pubkey);
    tm_signer_destroy(signer);
    return rc;
}

static int show_chains(const tm_config *config, const char *only)
{
    if (only != NULL) {
        const tm_chain_config *chain = tm_config_chain(config, only);
        if (chain == NULL) {
            fprintf(stderr, "tmkms pubkey: %s has no [[chain]] with id '%s'\n", config->path, only);
            return TM_EXIT_USAGE;
        }
        return show_chain(config, chain);
    }
    if (config->n_chains == 0) {
        fprintf(stderr, "tmkms pubkey: %s: no [[chain]] defined\n", config->path);
        return TM_EXIT_USAGE;
    }
    int rc = TM_EXIT_OK;
    for (size_t i = 0; i < config->n_chains; i++) {
        int one = show_chain(config, &config->chains[i]);
        if (one != TM_EXIT_OK && rc == TM_EXIT_OK) rc = one;
    }
    return rc;
}

int cmd_pubkey(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"chain", required_argument, NULL, 'n'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = "tmkms.toml";
    const char *only = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'n': only = optarg; break;
        case 'h': pubkey_usage(stdout); return TM_EXIT_OK;
        default: pubkey_usage(stderr); return TM_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tmkms pubkey: unexpected argument '%s'\n", argv[optind]);
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK) {
        fprintf(stderr, "tmkms pubkey: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    tm_config *config = NULL;
    tm_status status = tm_config_load(config_path, &config);
    if (status != TM_OK) {
        fprintf(stderr, "tmkms pubkey: %s\n", tm_err_msg());
        return status == TM_ERR_CONFIG ? TM_EXIT_USAGE : TM_EXIT_FAIL;
    }
    int rc = show_chains(config, only);
    tm_config_free(config);
    return rc;
}
