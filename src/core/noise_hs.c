/* The Noise state machine for Noise_XX_25519_ChaChaPoly_SHA256 (noiseprotocol.org, rev 34):
 * CipherState, SymmetricState (HKDF of Noise on HMAC-SHA256) and the three XX messages
 *   -> e
 *   <- e, ee, s, es
 *   -> s, se
 * Written from the specification; proven by the cacophony test vector in test_noise.c. */
#include <sodium.h>
#include <string.h>

#include "tmkms/noise.h"

#define PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256" /* exactly HASHLEN: used as h unhashed */
#define DH_LEN 32

/* ---- CipherState ---- */

static void nonce_of(uint64_t n, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

tm_status tm_noise_encrypt(tm_noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len,
                           uint8_t *out)
{
    TM_ENSURE(c->n != UINT64_MAX, TM_ERR_CRYPTO, "noise: send nonce exhausted");
    uint8_t nonce[12];
    nonce_of(c->n, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, ad_len, NULL, nonce, c->k);
    c->n++;
    return TM_OK;
}

tm_status tm_noise_decrypt(tm_noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len,
                           uint8_t *out)
{
    TM_ENSURE(c->n != UINT64_MAX, TM_ERR_CRYPTO, "noise: receive nonce exhausted");
    TM_ENSURE(len >= TM_NOISE_MAC_LEN, TM_ERR_INVALID, "%zu bytes, shorter than the 16-byte MAC", len);
    uint8_t nonce[12];
    nonce_of(c->n, nonce);
    TM_ENSURE(crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad, ad_len, nonce, c->k) == 0,
              TM_ERR_CRYPTO, "failed authentication (bad MAC)");
    c->n++;
    return TM_OK;
}

/* ---- SymmetricState ---- */

static void hmac(const uint8_t key[32], const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                 uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, a, a_len);
    if (b_len) crypto_auth_hmacsha256_update(&st, b, b_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, ikm) with two outputs; out1 may alias ck. */
static void hkdf2(const uint8_t ck[32], const uint8_t *ikm, size_t ikm_len, uint8_t out1[32], uint8_t out2[32])
{
    uint8_t temp[32], one = 1, two = 2;
    hmac(ck, ikm, ikm_len, NULL, 0, temp);
    hmac(temp, &one, 1, NULL, 0, out1);
    hmac(temp, out1, 32, &two, 1, out2);
    sodium_memzero(temp, sizeof(temp));
}

static void mix_hash(tm_noise_hs *hs, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, hs->h, 32);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, hs->h);
}

static void mix_key(tm_noise_hs *hs, const uint8_t ikm[DH_LEN])
{
    hkdf2(hs->ck, ikm, DH_LEN, hs->ck, hs->cs.k);
    hs->cs.n = 0;
    hs->cs.has_key = true;
}

/* EncryptAndHash: out holds len (+16 once a key is set) bytes; *n_out their count. */
static tm_status encrypt_and_hash(tm_noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out, size_t *n_out)
{
    if (hs->cs.has_key) {
        TM_TRY(tm_noise_encrypt(&hs->cs, hs->h, 32, in, len, out));
        *n_out = len + TM_NOISE_MAC_LEN;
    } else {
        if (len) memmove(out, in, len);
        *n_out = len;
    }
    mix_hash(hs, out, *n_out);
    return TM_OK;
}

static tm_status decrypt_and_hash(tm_noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out, size_t *n_out)
{
    if (hs->cs.has_key) {
        TM_TRY(tm_noise_decrypt(&hs->cs, hs->h, 32, in, len, out));
        *n_out = len - TM_NOISE_MAC_LEN;
    } else {
        if (len) memmove(out, in, len);
        *n_out = len;
    }
    mix_hash(hs, in, len);
    return TM_OK;
}

/* DH with an all-zero result refused (libsodium returns -1 for it: a low-order point). */
static tm_status dh_mix(tm_noise_hs *hs, const uint8_t sec[32], const uint8_t pub[32], const char *what)
{
    uint8_t shared[DH_LEN];
    int rc = crypto_scalarmult(shared, sec, pub);
    if (rc == 0) mix_key(hs, shared);
    sodium_memzero(shared, sizeof(shared));
    TM_ENSURE(rc == 0, TM_ERR_CRYPTO, "the peer's %s key gives an all-zero DH result (a low-order point)", what);
    return TM_OK;
}

/* ---- HandshakeState (XX) ---- */

void tm_noise_hs_init(tm_noise_hs *hs, bool initiator, const uint8_t *prologue, size_t prologue_len,
                      const uint8_t s_sec[32], const uint8_t e_sec[32])
{
    memset(hs, 0, sizeof(*hs));
    memcpy(hs->h, PROTOCOL_NAME, 32);
    memcpy(hs->ck, hs->h, 32);
    mix_hash(hs, prologue, prologue_len);
    hs->initiator = initiator;
    memcpy(hs->s_sec, s_sec, 32);
    memcpy(hs->e_sec, e_sec, 32);
    crypto_scalarmult_base(hs->s_pub, hs->s_sec);
    crypto_scalarmult_base(hs->e_pub, hs->e_sec);
}

/* Bytes of message `index` before its payload, and the payload's MAC (none in message 1:
 * no key yet). */
static size_t before_payload(int index)
{
    static const size_t before[3] = {DH_LEN, DH_LEN + DH_LEN + TM_NOISE_MAC_LEN, DH_LEN + TM_NOISE_MAC_LEN};
    return before[index];
}

static size_t payload_mac(int index)
{
    return index == 0 ? 0 : TM_NOISE_MAC_LEN;
}

/* Run expr; on failure put `prefix` before its message. */
#define TRY_PREFIX(expr, prefix)                                                           \
    do {                                                                                   \
        tm_status try_status_ = (expr);                                                    \
        if (try_status_ != TM_OK) return tm_err_prefix(try_status_, "%s", (prefix));        \
    } while (0)

static bool ours_to_write(const tm_noise_hs *hs)
{
    return hs->next < 3 && (hs->next == 1) != hs->initiator;
}

/* The tokens of message `index` as its writer: everything before the payload. */
static tm_status write_tokens(tm_noise_hs *hs, uint8_t *out, size_t *pos)
{
    size_t n = 0;
    if (hs->next < 2) { /* e */
        memcpy(out, hs->e_pub, DH_LEN);
        mix_hash(hs, hs->e_pub, DH_LEN);
        *pos = DH_LEN;
    }
    if (hs->next == 1) { /* ee, s, es (es for the responder: DH(s, re)) */
        TM_TRY(dh_mix(hs, hs->e_sec, hs->re, "ephemeral"));
        TM_TRY(encrypt_and_hash(hs, hs->s_pub, DH_LEN, out + *pos, &n));
        *pos += n;
        TM_TRY(dh_mix(hs, hs->s_sec, hs->re, "ephemeral"));
    }
    if (hs->next == 2) { /* s, se (se for the initiator: DH(s, re)) */
        TM_TRY(encrypt_and_hash(hs, hs->s_pub, DH_LEN, out, &n));
        *pos = n;
        TM_TRY(dh_mix(hs, hs->s_sec, hs->re, "ephemeral"));
    }
    return TM_OK;
}

static tm_status write_message(tm_noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                               size_t cap, size_t *out_len)
{
    size_t need = before_payload(hs->next) + payload_len + payload_mac(hs->next);
    size_t bound = cap < TM_NOISE_MSG_MAX ? cap : TM_NOISE_MSG_MAX;
    TM_ENSURE(need <= bound, TM_ERR_TOO_LARGE, "%zu bytes, above its %zu-byte bound", need, bound);
    size_t pos = 0, n = 0;
    TM_TRY(write_tokens(hs, out, &pos));
    TM_TRY(encrypt_and_hash(hs, payload, payload_len, out + pos, &n));
    *out_len = pos + n;
    hs->next++;
    return TM_OK;
}

tm_status tm_noise_hs_write(tm_noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    TM_ENSURE(ours_to_write(hs), TM_ERR_INVALID, "noise: handshake message %d is not ours to write", hs->next + 1);
    int index = hs->next;
    tm_status status = write_message(hs, payload, payload_len, out, cap, out_len);
    if (status != TM_OK) return tm_err_prefix(status, "noise handshake message %d: ", index + 1);
    return TM_OK;
}

/* The tokens of message `index` as its reader; *pos advances past them. */
static tm_status read_tokens(tm_noise_hs *hs, const uint8_t *msg, size_t *pos)
{
    size_t n = 0;
    if (hs->next < 2) { /* e */
        memcpy(hs->re, msg, DH_LEN);
        mix_hash(hs, hs->re, DH_LEN);
        *pos = DH_LEN;
    }
    if (hs->next == 1) { /* ee, s, es (es for the initiator: DH(e, rs)) */
        TM_TRY(dh_mix(hs, hs->e_sec, hs->re, "ephemeral"));
        TRY_PREFIX(decrypt_and_hash(hs, msg + *pos, DH_LEN + TM_NOISE_MAC_LEN, hs->rs, &n),
                   "the encrypted static key: ");
        *pos += DH_LEN + TM_NOISE_MAC_LEN;
        TM_TRY(dh_mix(hs, hs->e_sec, hs->rs, "static"));
    }
    if (hs->next == 2) { /* s, se (se for the responder: DH(e, rs)) */
        TRY_PREFIX(decrypt_and_hash(hs, msg, DH_LEN + TM_NOISE_MAC_LEN, hs->rs, &n), "the encrypted static key: ");
        *pos = DH_LEN + TM_NOISE_MAC_LEN;
        TM_TRY(dh_mix(hs, hs->e_sec, hs->rs, "static"));
    }
    return TM_OK;
}

static tm_status read_message(tm_noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                              size_t *payload_len)
{
    size_t min = before_payload(hs->next) + payload_mac(hs->next);
    TM_ENSURE(len >= min, TM_ERR_INVALID, "%zu bytes, shorter than the %zu its keys and MACs take", len, min);
    TM_ENSURE(len <= TM_NOISE_MSG_MAX, TM_ERR_TOO_LARGE, "%zu bytes, above the Noise maximum of 65535", len);
    TM_ENSURE(len - min <= cap, TM_ERR_TOO_LARGE, "a payload of %zu bytes, above our %zu-byte bound", len - min,
              cap);
    size_t pos = 0;
    TM_TRY(read_tokens(hs, msg, &pos));
    TRY_PREFIX(decrypt_and_hash(hs, msg + pos, len - pos, payload, payload_len), "the payload: ");
    hs->next++;
    return TM_OK;
}

tm_status tm_noise_hs_read(tm_noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                           size_t *payload_len)
{
    TM_ENSURE(hs->next < 3 && !ours_to_write(hs), TM_ERR_INVALID, "noise: handshake message %d is not ours to read",
              hs->next + 1);
    int index = hs->next;
    tm_status status = read_message(hs, msg, len, payload, cap, payload_len);
    if (status != TM_OK) return tm_err_prefix(status, "noise handshake message %d: ", index + 1);
    return TM_OK;
}

void tm_noise_hs_split(const tm_noise_hs *hs, tm_noise_cipher *send, tm_noise_cipher *recv)
{
    tm_noise_cipher c1 = {.has_key = true}, c2 = {.has_key = true};
    hkdf2(hs->ck, NULL, 0, c1.k, c2.k);
    *send = hs->initiator ? c1 : c2;
    *recv = hs->initiator ? c2 : c1;
    sodium_memzero(&c1, sizeof(c1));
    sodium_memzero(&c2, sizeof(c2));
}
