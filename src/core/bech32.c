/* bech32 (BIP-173) and the public key renderings tmkms prints: legacy amino bech32
 * ("cosmosvalconspub1zcjduepq..."), base64, CometBFT JSON, validator address, node ID. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tmkms/signer.h"

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

#define BECH32_CHECKSUM_LEN 6
#define BECH32_MIN_HRP_CHAR 33
#define BECH32_MAX_HRP_CHAR 126

/* Amino's registered prefix of tendermint/PubKeyEd25519 (4 bytes) and the length byte. */
static const uint8_t amino_ed25519_prefix[] = {0x16, 0x24, 0xDE, 0x64, 0x20};
#define AMINO_PUBKEY_LEN (sizeof(amino_ed25519_prefix) + TM_ED25519_PUBKEY_LEN)

static uint32_t polymod_step(uint32_t chk, uint8_t value)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ value;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1) chk ^= gen[i];
    return chk;
}

static char to_lower_ascii(char c)
{
    if (c >= 'A' && c <= 'Z') return (char)(c - 'A' + 'a');
    return c;
}

/* The checksum covers the expanded human-readable part: high bits, a zero, low bits. */
static uint32_t polymod_hrp(const char *hrp, size_t hrp_len)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < hrp_len; i++)
        chk = polymod_step(chk, (uint8_t)to_lower_ascii(hrp[i]) >> 5);
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < hrp_len; i++)
        chk = polymod_step(chk, (uint8_t)to_lower_ascii(hrp[i]) & 31);
    return chk;
}

static tm_status check_hrp(const char *hrp, size_t hrp_len)
{
    TM_ENSURE(hrp_len > 0, TM_ERR_INVALID, "bech32: empty human-readable part");
    for (size_t i = 0; i < hrp_len; i++) {
        unsigned char c = (unsigned char)hrp[i];
        TM_ENSURE(c >= BECH32_MIN_HRP_CHAR && c <= BECH32_MAX_HRP_CHAR, TM_ERR_INVALID,
                  "bech32: character 0x%02x at %zu is not allowed in a human-readable part", c, i);
    }
    return TM_OK;
}

tm_status tm_bech32_encode_words(const char *hrp, const uint8_t *words, size_t n, char *out, size_t cap)
{
    TM_ENSURE(hrp != NULL, TM_ERR_INVALID, "bech32: no human-readable part");
    size_t hrp_len = strlen(hrp);
    TM_TRY(check_hrp(hrp, hrp_len));
    TM_ENSURE(n <= SIZE_MAX - hrp_len - BECH32_CHECKSUM_LEN - 2 &&
                  hrp_len + 1 + n + BECH32_CHECKSUM_LEN + 1 <= cap,
              TM_ERR_TOO_LARGE, "bech32: output buffer of %zu bytes is too small", cap);
    uint32_t chk = polymod_hrp(hrp, hrp_len);
    size_t pos = 0;
    for (size_t i = 0; i < hrp_len; i++)
        out[pos++] = to_lower_ascii(hrp[i]);
    out[pos++] = '1';
    for (size_t i = 0; i < n; i++) {
        TM_ENSURE(words[i] < 32, TM_ERR_INVALID, "bech32: word %zu is %u, not a 5-bit value", i, words[i]);
        chk = polymod_step(chk, words[i]);
        out[pos++] = bech32_charset[words[i]];
    }
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        out[pos++] = bech32_charset[(chk >> (5 * (BECH32_CHECKSUM_LEN - 1 - i))) & 31];
    out[pos] = '\0';
    return TM_OK;
}

/* Regroup bits: 8 -> 5 (with zero padding) for encoding, 5 -> 8 (padding must be short
 * and zero) for decoding. */
static tm_status convert_bits(const uint8_t *in, size_t n, unsigned from, unsigned to, bool pad, uint8_t *out,
                              size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    const uint32_t maxv = (1u << to) - 1;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        acc = ((acc << from) | in[i]) & 0xffffff;
        bits += from;
        while (bits >= to) {
            bits -= to;
            TM_ENSURE(pos < cap, TM_ERR_TOO_LARGE, "bech32: data does not fit in %zu bytes", cap);
            out[pos++] = (uint8_t)((acc >> bits) & maxv);
        }
    }
    if (pad && bits > 0) {
        TM_ENSURE(pos < cap, TM_ERR_TOO_LARGE, "bech32: data does not fit in %zu bytes", cap);
        out[pos++] = (uint8_t)((acc << (to - bits)) & maxv);
    } else if (!pad) {
        TM_ENSURE(bits < from && ((acc << (to - bits)) & maxv) == 0, TM_ERR_INVALID,
                  "bech32: data has invalid padding");
    }
    *out_len = pos;
    return TM_OK;
}

tm_status tm_bech32_encode(const char *hrp, const uint8_t *data, size_t len, char *out, size_t cap)
{
    /* 8 bits per byte into 5-bit words: ceil(8 * len / 5); bounded here by the caller's
     * output buffer, so a small stack buffer suffices for every key rendering. */
    uint8_t words[256];
    size_t n = 0;
    TM_ENSURE(len <= sizeof(words) * 5 / 8, TM_ERR_TOO_LARGE,
              "bech32: %zu bytes is more than this encoder takes", len);
    TM_TRY(convert_bits(data, len, 8, 5, true, words, sizeof(words), &n));
    return tm_bech32_encode_words(hrp, words, n, out, cap);
}

static int charset_index(char c)
{
    const char *p = strchr(bech32_charset, to_lower_ascii(c));
    return (c != '\0' && p != NULL) ? (int)(p - bech32_charset) : -1;
}

static tm_status check_case_and_range(const char *str, size_t len)
{
    bool lower = false, upper = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)str[i];
        TM_ENSURE(c >= BECH32_MIN_HRP_CHAR && c <= BECH32_MAX_HRP_CHAR, TM_ERR_INVALID,
                  "bech32: character 0x%02x at %zu is out of range", c, i);
        lower |= (c >= 'a' && c <= 'z');
        upper |= (c >= 'A' && c <= 'Z');
    }
    TM_ENSURE(!(lower && upper), TM_ERR_INVALID, "bech32: mixed upper and lower case");
    return TM_OK;
}

tm_status tm_bech32_decode_words(const char *str, size_t max_len, char *hrp, size_t hrp_cap, uint8_t *words,
                                 size_t words_cap, size_t *n_words)
{
    size_t len = strnlen(str, max_len + 1);
    TM_ENSURE(len <= max_len, TM_ERR_TOO_LARGE, "bech32: longer than %zu characters", max_len);
    TM_TRY(check_case_and_range(str, len));
    const char *sep = memrchr(str, '1', len);
    TM_ENSURE(sep != NULL, TM_ERR_INVALID, "bech32: no separator '1'");
    size_t hrp_len = (size_t)(sep - str);
    size_t data_len = len - hrp_len - 1;
    TM_ENSURE(hrp_len > 0, TM_ERR_INVALID, "bech32: empty human-readable part");
    TM_ENSURE(data_len >= BECH32_CHECKSUM_LEN, TM_ERR_INVALID, "bech32: checksum too short");
    TM_ENSURE(hrp_len < hrp_cap, TM_ERR_TOO_LARGE, "bech32: human-readable part longer than %zu",
              hrp_cap - 1);
    size_t n = data_len - BECH32_CHECKSUM_LEN;
    TM_ENSURE(n <= words_cap, TM_ERR_TOO_LARGE, "bech32: more than %zu data words", words_cap);
    uint32_t chk = polymod_hrp(str, hrp_len);
    for (size_t i = 0; i < data_len; i++) {
        int v = charset_index(sep[1 + i]);
        TM_ENSURE(v >= 0, TM_ERR_INVALID, "bech32: invalid data character '%c'", sep[1 + i]);
        chk = polymod_step(chk, (uint8_t)v);
        if (i < n) words[i] = (uint8_t)v;
    }
    TM_ENSURE(chk == 1, TM_ERR_INVALID, "bech32: checksum mismatch");
    for (size_t i = 0; i < hrp_len; i++)
        hrp[i] = to_lower_ascii(str[i]);
    hrp[hrp_len] = '\0';
    *n_words = n;
    return TM_OK;
}

tm_status tm_bech32_decode(const char *str, size_t max_len, char *hrp, size_t hrp_cap, uint8_t *data,
                           size_t data_cap, size_t *data_len)
{
    uint8_t words[512];
    size_t n = 0;
    TM_TRY(tm_bech32_decode_words(str, max_len, hrp, hrp_cap, words, sizeof(words), &n));
    return convert_bits(words, n, 5, 8, false, data, data_cap, data_len);
}

/* ---- public key renderings ---- */

tm_status tm_pubkey_bech32(const uint8_t pk[TM_ED25519_PUBKEY_LEN], const char *hrp, char *out, size_t cap)
{
    uint8_t amino[AMINO_PUBKEY_LEN];
    memcpy(amino, amino_ed25519_prefix, sizeof(amino_ed25519_prefix));
    memcpy(amino + sizeof(amino_ed25519_prefix), pk, TM_ED25519_PUBKEY_LEN);
    return tm_bech32_encode(hrp, amino, sizeof(amino), out, cap);
}

tm_status tm_pubkey_from_bech32(const char *str, char *hrp, size_t hrp_cap, uint8_t pk[TM_ED25519_PUBKEY_LEN])
{
    uint8_t amino[AMINO_PUBKEY_LEN + 1];
    size_t len = 0;
    /* No 90-character limit: long chain prefixes exceed it (see tm_bech32_encode). */
    TM_TRY(tm_bech32_decode(str, 1024, hrp, hrp_cap, amino, sizeof(amino), &len));
    TM_ENSURE(
        len == AMINO_PUBKEY_LEN && memcmp(amino, amino_ed25519_prefix, sizeof(amino_ed25519_prefix)) == 0,
        TM_ERR_INVALID, "bech32 key: not an amino-encoded ed25519 public key (prefix 1624DE6420 + 32 bytes)");
    memcpy(pk, amino + sizeof(amino_ed25519_prefix), TM_ED25519_PUBKEY_LEN);
    return TM_OK;
}

tm_status tm_pubkey_base64(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap)
{
    TM_ENSURE(cap >= TM_PUBKEY_BASE64_SIZE, TM_ERR_TOO_LARGE, "base64 key: output buffer too small");
    sodium_bin2base64(out, cap, pk, TM_ED25519_PUBKEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    return TM_OK;
}

tm_status tm_pubkey_cometbft_json(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap)
{
    char b64[TM_PUBKEY_BASE64_SIZE];
    TM_TRY(tm_pubkey_base64(pk, b64, sizeof(b64)));
    int n = snprintf(out, cap, "{\"type\":\"tendermint/PubKeyEd25519\",\"value\":\"%s\"}", b64);
    TM_ENSURE(n >= 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "JSON key: output buffer too small");
    return TM_OK;
}

static tm_status address_hex(const uint8_t pk[TM_ED25519_PUBKEY_LEN], bool upper, char *out, size_t cap)
{
    static const char lower_digits[] = "0123456789abcdef", upper_digits[] = "0123456789ABCDEF";
    const char *digits = upper ? upper_digits : lower_digits;
    uint8_t hash[crypto_hash_sha256_BYTES];
    TM_ENSURE(cap >= TM_ADDRESS_HEX_SIZE, TM_ERR_TOO_LARGE, "address: output buffer too small");
    crypto_hash_sha256(hash, pk, TM_ED25519_PUBKEY_LEN);
    for (size_t i = 0; i < (TM_ADDRESS_HEX_SIZE - 1) / 2; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[TM_ADDRESS_HEX_SIZE - 1] = '\0';
    return TM_OK;
}

tm_status tm_pubkey_address_hex(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap)
{
    return address_hex(pk, true, out, cap);
}

tm_status tm_pubkey_node_id(const uint8_t pk[TM_ED25519_PUBKEY_LEN], char *out, size_t cap)
{
    return address_hex(pk, false, out, cap);
}
