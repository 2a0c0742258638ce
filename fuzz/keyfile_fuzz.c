/* libFuzzer target: CometBFT priv_validator_key.json parsing (tm_keyfile_parse_cometbft).
 * The input is untrusted bytes of any length; the parser must never read out of bounds,
 * leak, or accept a file whose fields disagree. Seeds: fuzz/corpus/keyfile/. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/signer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (tm_crypto_init() != TM_OK) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t seed[TM_ED25519_SEED_LEN];
    /* An exact-size heap copy: the sanitizer then catches any read past the input. */
    char *text = malloc(size ? size : 1);
    if (text == NULL) return 0;
    if (size) memcpy(text, data, size);
    if (tm_keyfile_parse_cometbft(text, size, "fuzz-input", seed) == TM_OK) {
        /* Accepted: the seed must reproduce a key, and the message must be untouched. */
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        if (crypto_sign_seed_keypair(pk, sk, seed) != 0) abort();
        sodium_memzero(sk, sizeof(sk));
    }
    sodium_memzero(seed, sizeof(seed));
    free(text);
    return 0;
}
