/* Signers: something that holds a consensus key and signs bytes with it. The softsign
 * signer keeps the key in locked memory (sodium_malloc) and wipes it on destroy. */
#ifndef TMKMS_SIGNER_H
#define TMKMS_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/types.h"

typedef struct tm_signer tm_signer;

struct tm_signer_ops {
    tm_status (*sign)(tm_signer *signer, const uint8_t *msg, size_t len, uint8_t sig[TM_ED25519_SIG_LEN]);
    void (*destroy)(tm_signer *signer);
};

struct tm_signer {
    const struct tm_signer_ops *ops;
    uint8_t pubkey[TM_ED25519_PUBKEY_LEN];
};

static inline tm_status tm_signer_sign(tm_signer *s, const uint8_t *msg, size_t len,
                                       uint8_t sig[TM_ED25519_SIG_LEN])
{
    return s->ops->sign(s, msg, len, sig);
}

/* Initialise libsodium once per process (thread-safe, idempotent) and make jansson wipe
 * the memory it frees (globally, for the whole process). The key and key-file functions
 * below call it; call it yourself before using libsodium directly. */
tm_status tm_crypto_init(void);
/* For a process that will hold a key: no core files (RLIMIT_CORE 0) and not dumpable, so
 * no other process of the same user can ptrace it or read /proc/PID/mem. */
tm_status tm_process_harden(void);

/* An ed25519 signer from a 32-byte seed; the seed is copied into locked memory. */
tm_status tm_softsign_from_seed(const uint8_t seed[TM_ED25519_SEED_LEN], tm_signer **out);
/* Load a softsign key file (base64 of the 32-byte seed, as tmkms writes it). Refuses
 * files readable by group or others (TM_ERR_PERMISSION). */
tm_status tm_softsign_load(const char *path, tm_signer **out);
void tm_signer_destroy(tm_signer *signer);

/* Key files. The seed buffers are the caller's and should be locked memory.
 * Reading follows symlinks (secret mounts are often symlinks) but checks the opened file
 * itself: a regular file with no group/other permission bits (TM_ERR_PERMISSION).
 * Accepts base64 of a 32-byte seed with optional trailing whitespace, as tmkms does; the
 * 64- and 96-byte expanded-key forms tmkms also reads are refused with an explanation. */
tm_status tm_keyfile_read_seed(const char *path, uint8_t seed[TM_ED25519_SEED_LEN]);
/* Create with O_EXCL, mode 0600, fsync; never overwrites (TM_ERR_EXISTS). */
tm_status tm_keyfile_write_seed(const char *path, const uint8_t seed[TM_ED25519_SEED_LEN]);
/* CometBFT's priv_validator_key.json (priv_key.value = base64 of seed||pubkey). Checks the
 * key types, lengths, that pub_key and the pubkey half of priv_key match the seed and that
 * address matches the pubkey. Same permission rules as tm_keyfile_read_seed. */
tm_status tm_keyfile_import_cometbft(const char *json_path, uint8_t seed[TM_ED25519_SEED_LEN]);
/* Write CometBFT's priv_validator_key.json for a seed (address, pub_key, priv_key), mode
 * 0600, refusing an existing path: for moving a validator back to the file signer. */
tm_status tm_keyfile_export_cometbft(const uint8_t seed[TM_ED25519_SEED_LEN], const char *json_path);
/* The parser behind it, on text already in memory (which should be locked memory);
 * `path` only names the source in error messages. */
tm_status tm_keyfile_parse_cometbft(const char *text, size_t len, const char *path,
                                    uint8_t seed[TM_ED25519_SEED_LEN]);

/* Public key renderings. */
typedef enum { TM_KEYFMT_BECH32, TM_KEYFMT_BASE64, TM_KEYFMT_COSMOS_JSON, TM_KEYFMT_HEX } tm_key_format;
/* bech32 of amino prefix 1624DE6420 || key with human-readable part `hrp`. */
tm_status tm_pubkey_bech32(const uint8_t pk[TM_ED25519_PUBKEY_LEN], const char *hrp, char *out, size_t cap);
tm_status tm_pubkey_base64(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap);
/* {"type":"tendermint/PubKeyEd25519","value":"<b64>"} */
tm_status tm_pubkey_cometbft_json(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap);
/* CometBFT validator address: first 20 bytes of SHA-256(pubkey), upper-case hex. */
tm_status tm_pubkey_address_hex(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap);
/* P2P node ID (Secret Connection identity): the same 20 bytes, lower-case hex. */
tm_status tm_pubkey_node_id(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap);
/* Output sizes including the terminating NUL. */
#define TM_PUBKEY_BASE64_SIZE 45
#define TM_PUBKEY_JSON_SIZE 96
#define TM_ADDRESS_HEX_SIZE 41

/* bech32 (BIP-173) encoding of arbitrary data (8-bit bytes, regrouped into 5-bit words).
 * The human-readable part is written in lower case. No 90-character limit on encoding:
 * long chain prefixes exceed it, and Cosmos tools encode them anyway. Takes at most 160
 * bytes of data (keys and addresses are far smaller). */
tm_status tm_bech32_encode(const char *hrp, const uint8_t *data, size_t len, char *out, size_t cap);
/* The same from 5-bit words (each < 32). */
tm_status tm_bech32_encode_words(const char *hrp, const uint8_t *words, size_t n, char *out, size_t cap);
/* Decode and verify a bech32 string of at most max_len characters (BIP-173: 90) into its
 * lower-case human-readable part and 5-bit data words (checksum removed). */
tm_status tm_bech32_decode_words(const char *str, size_t max_len, char *hrp, size_t hrp_cap, uint8_t *words,
                                 size_t words_cap, size_t *n_words);
/* Decode into 8-bit bytes; fails on non-zero or overlong padding. */
tm_status tm_bech32_decode(const char *str, size_t max_len, char *hrp, size_t hrp_cap, uint8_t *data,
                           size_t data_cap, size_t *data_len);
/* The inverse of tm_pubkey_bech32: checks the amino prefix 1624DE6420 and length. */
tm_status tm_pubkey_from_bech32(const char *str, char *hrp, size_t hrp_cap,
                                uint8_t pk[TM_ED25519_PUBKEY_LEN]);

#endif
