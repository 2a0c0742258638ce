/* libp2p identities for noise://: peer IDs (base58btc of the identity multihash of the
 * key's PublicKey protobuf, per the libp2p peer-ids spec) and the Noise handshake payload
 * (go-libp2p p2p/security/noise: identity_key, identity_sig over
 * "noise-libp2p-static-key:" || the X25519 static key). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "libp2p/crypto.pb-c.h"
#include "libp2p/noise.pb-c.h"
#include "tmkms/noise.h"

#define SIG_PREFIX "noise-libp2p-static-key:"
#define SIG_PREFIX_LEN (sizeof(SIG_PREFIX) - 1)
#define PUBKEY_PB_LEN 36          /* 08 01 12 20 key */
#define MULTIHASH_LEN (2 + PUBKEY_PB_LEN) /* 00 24 PublicKey */
#define PEER_ID_MAX_CHARS 100

static const char B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* ---- base58btc ---- */

/* Encode n bytes (n <= 64) into out (cap >= 2 * n + 1, checked by the callers' sizes). */
static void b58_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    uint8_t digits[128] = {0}; /* base-58 digits, most significant last; 64 bytes need < 88 */
    size_t nd = 0, zeros = 0;
    while (zeros < n && in[zeros] == 0) zeros++;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = in[i];
        for (size_t j = 0; j < nd; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry && nd < sizeof(digits)) {
            digits[nd++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < zeros && o + 1 < cap; i++) out[o++] = '1';
    for (size_t i = nd; i > 0 && o + 1 < cap; i--) out[o++] = B58[digits[i - 1]];
    out[o] = '\0';
}

static int b58_value(char c)
{
    const char *p = c ? memchr(B58, c, sizeof(B58) - 1) : NULL;
    return p ? (int)(p - B58) : -1;
}

/* Decode str (at most PEER_ID_MAX_CHARS characters) into out[0..cap); *n = byte count. */
static tm_status b58_decode(const char *str, size_t len, uint8_t *out, size_t cap, size_t *n)
{
    uint8_t bytes[PEER_ID_MAX_CHARS] = {0}; /* little-endian; 100 digits need < 74 bytes */
    size_t nb = 0, zeros = 0;
    while (zeros < len && str[zeros] == '1') zeros++;
    for (size_t i = zeros; i < len; i++) {
        int v = b58_value(str[i]);
        TM_ENSURE(v >= 0, TM_ERR_INVALID, "peer ID '%s': '%c' is not a base58btc character", str, str[i]);
        unsigned carry = (unsigned)v;
        for (size_t j = 0; j < nb; j++) {
            carry += (unsigned)bytes[j] * 58;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry && nb < sizeof(bytes)) {
            bytes[nb++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    TM_ENSURE(zeros + nb <= cap, TM_ERR_INVALID, "peer ID '%s': %zu bytes, longer than an Ed25519 peer ID", str,
              zeros + nb);
    memset(out, 0, zeros);
    for (size_t i = 0; i < nb; i++) out[zeros + i] = bytes[nb - 1 - i];
    *n = zeros + nb;
    return TM_OK;
}

/* ---- peer IDs ---- */

/* libp2p PublicKey{Type = Ed25519, Data = pub}: 36 bytes. */
static void encode_public_key(const uint8_t pub[32], uint8_t out[PUBKEY_PB_LEN])
{
    Libp2p__Crypto__PublicKey pk = LIBP2P__CRYPTO__PUBLIC_KEY__INIT;
    pk.type = LIBP2P__CRYPTO__KEY_TYPE__Ed25519;
    pk.data.data = (uint8_t *)pub;
    pk.data.len = 32;
    libp2p__crypto__public_key__pack(&pk, out); /* always 36 bytes: 08 01 12 20 key */
}

void tm_noise_peer_id(const uint8_t pub[32], char out[TM_NOISE_PEER_ID_SIZE])
{
    uint8_t mh[MULTIHASH_LEN] = {0x00, PUBKEY_PB_LEN};
    encode_public_key(pub, mh + 2);
    b58_encode(mh, sizeof(mh), out, TM_NOISE_PEER_ID_SIZE);
}

static const char *key_type_name(int type)
{
    switch (type) {
    case LIBP2P__CRYPTO__KEY_TYPE__RSA: return "RSA";
    case LIBP2P__CRYPTO__KEY_TYPE__Ed25519: return "Ed25519";
    case LIBP2P__CRYPTO__KEY_TYPE__Secp256k1: return "Secp256k1";
    case LIBP2P__CRYPTO__KEY_TYPE__ECDSA: return "ECDSA";
    }
    return "unknown";
}

/* The multihash must be the identity multihash of an Ed25519 PublicKey. */
static tm_status check_multihash(const char *str, const uint8_t *mh, size_t n, uint8_t pub[32])
{
    TM_ENSURE(!(n >= 2 && mh[0] == 0x12 && mh[1] == 0x20), TM_ERR_INVALID,
              "peer ID '%s' is a SHA-256 multihash (an RSA or other large key): only Ed25519 peer IDs "
              "(12D3KooW...) are supported",
              str);
    TM_ENSURE(n >= 2 && mh[0] == 0x00 && mh[1] == n - 2, TM_ERR_INVALID,
              "peer ID '%s' is not a libp2p identity multihash of a public key", str);
    Libp2p__Crypto__PublicKey *pk = libp2p__crypto__public_key__unpack(NULL, n - 2, mh + 2);
    TM_ENSURE(pk != NULL, TM_ERR_INVALID, "peer ID '%s' does not hold a libp2p PublicKey", str);
    int type = (int)pk->type;
    size_t len = pk->data.len;
    if (type == LIBP2P__CRYPTO__KEY_TYPE__Ed25519 && len == 32) memcpy(pub, pk->data.data, 32);
    libp2p__crypto__public_key__free_unpacked(pk, NULL);
    TM_ENSURE(type == LIBP2P__CRYPTO__KEY_TYPE__Ed25519, TM_ERR_INVALID,
              "peer ID '%s' holds a %s key: only Ed25519 peer IDs (12D3KooW...) are supported", str,
              key_type_name(type));
    TM_ENSURE(len == 32, TM_ERR_INVALID, "peer ID '%s' holds an Ed25519 key of %zu bytes, not 32", str, len);
    return TM_OK;
}

tm_status tm_noise_peer_id_decode(const char *str, uint8_t pub[32])
{
    size_t len = strnlen(str, PEER_ID_MAX_CHARS + 1);
    TM_ENSURE(len > 0, TM_ERR_INVALID, "peer ID: empty");
    TM_ENSURE(len <= PEER_ID_MAX_CHARS, TM_ERR_INVALID, "peer ID: longer than %d characters", PEER_ID_MAX_CHARS);
    uint8_t mh[64];
    size_t n = 0;
    TM_TRY(b58_decode(str, len, mh, sizeof(mh), &n));
    uint8_t key[32];
    TM_TRY(check_multihash(str, mh, n, key));
    char again[TM_NOISE_PEER_ID_SIZE];
    tm_noise_peer_id(key, again);
    TM_ENSURE(strcmp(again, str) == 0, TM_ERR_INVALID, "peer ID '%s' is not canonical (expected %s)", str, again);
    memcpy(pub, key, 32);
    return TM_OK;
}

/* ---- noise:// addresses ---- */

tm_status tm_noise_parse_addr(const char *addr, uint8_t pin[32], char host[256], char port[8])
{
    TM_ENSURE(strncmp(addr, "noise://", 8) == 0, TM_ERR_INVALID, "%s: not a noise:// address", addr);
    const char *rest = addr + 8, *at = strrchr(rest, '@');
    TM_ENSURE(at != NULL, TM_ERR_INVALID,
              "%s: the node's peer ID is required: noise://PEER_ID@host:port (PEER_ID: the node's libp2p peer "
              "ID, 12D3KooW...)",
              addr);
    char id[PEER_ID_MAX_CHARS + 1];
    size_t idlen = (size_t)(at - rest);
    TM_ENSURE(idlen > 0 && idlen <= PEER_ID_MAX_CHARS, TM_ERR_INVALID, "%s: expected a peer ID before '@'", addr);
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    tm_status status = tm_noise_peer_id_decode(id, pin);
    if (status != TM_OK) return tm_err_prefix(status, "%s: ", addr);
    return tm_parse_host_port(addr, at + 1, host, port);
}

/* ---- the handshake payload ---- */

static void signed_message(const uint8_t static_pub[32], uint8_t msg[SIG_PREFIX_LEN + 32])
{
    memcpy(msg, SIG_PREFIX, SIG_PREFIX_LEN);
    memcpy(msg + SIG_PREFIX_LEN, static_pub, 32);
}

tm_status tm_noise_payload_make(const uint8_t identity_seed[32], const uint8_t static_pub[32], uint8_t *out,
                                size_t cap, size_t *len)
{
    uint8_t pub[32], sig[64], msg[SIG_PREFIX_LEN + 32], key_pb[PUBKEY_PB_LEN];
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    TM_ENSURE(sk != NULL, TM_ERR_NOMEM, "out of locked memory");
    crypto_sign_seed_keypair(pub, sk, identity_seed);
    signed_message(static_pub, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
    sodium_free(sk);
    encode_public_key(pub, key_pb);
    Libp2p__Noise__NoiseHandshakePayload p = LIBP2P__NOISE__NOISE_HANDSHAKE_PAYLOAD__INIT;
    p.has_identity_key = p.has_identity_sig = 1;
    p.identity_key.data = key_pb;
    p.identity_key.len = sizeof(key_pb);
    p.identity_sig.data = sig;
    p.identity_sig.len = sizeof(sig);
    size_t need = libp2p__noise__noise_handshake_payload__get_packed_size(&p);
    TM_ENSURE(need <= cap, TM_ERR_TOO_LARGE, "noise: our handshake payload needs %zu bytes", need);
    *len = libp2p__noise__noise_handshake_payload__pack(&p, out);
    return TM_OK;
}

/* identity_key → the Ed25519 key it holds. */
static tm_status identity_key(const ProtobufCBinaryData *b, uint8_t pub[32])
{
    Libp2p__Crypto__PublicKey *pk = libp2p__crypto__public_key__unpack(NULL, b->len, b->data);
    TM_ENSURE(pk != NULL, TM_ERR_INVALID,
              "noise handshake payload: identity_key is not a libp2p PublicKey protobuf (Type and Data required)");
    int type = (int)pk->type;
    size_t len = pk->data.len;
    if (type == LIBP2P__CRYPTO__KEY_TYPE__Ed25519 && len == 32) memcpy(pub, pk->data.data, 32);
    libp2p__crypto__public_key__free_unpacked(pk, NULL);
    TM_ENSURE(type == LIBP2P__CRYPTO__KEY_TYPE__Ed25519, TM_ERR_REFUSED,
              "noise handshake payload: identity_key is a %s key (type %d): only Ed25519 identities are supported",
              key_type_name(type), type);
    TM_ENSURE(len == 32, TM_ERR_INVALID, "noise handshake payload: identity_key holds %zu bytes, not a 32-byte "
              "Ed25519 key", len);
    return TM_OK;
}

static tm_status check_payload(const Libp2p__Noise__NoiseHandshakePayload *p, const uint8_t remote_static[32],
                               uint8_t identity_pub[32])
{
    TM_ENSURE(p->has_identity_key, TM_ERR_INVALID, "noise handshake payload: identity_key missing");
    uint8_t pub[32];
    TM_TRY(identity_key(&p->identity_key, pub));
    TM_ENSURE(p->has_identity_sig && p->identity_sig.len == 64, TM_ERR_INVALID,
              "noise handshake payload: identity_sig is %zu bytes, not a 64-byte Ed25519 signature",
              p->has_identity_sig ? p->identity_sig.len : 0);
    uint8_t msg[SIG_PREFIX_LEN + 32];
    signed_message(remote_static, msg);
    TM_ENSURE(crypto_sign_verify_detached(p->identity_sig.data, msg, sizeof(msg), pub) == 0, TM_ERR_CRYPTO,
              "noise handshake payload: identity_sig does not verify (the identity key did not sign this "
              "Noise static key)");
    memcpy(identity_pub, pub, 32);
    return TM_OK;
}

tm_status tm_noise_payload_verify(const uint8_t *payload, size_t len, const uint8_t remote_static[32],
                                  uint8_t identity_pub[32])
{
    Libp2p__Noise__NoiseHandshakePayload *p = libp2p__noise__noise_handshake_payload__unpack(NULL, len, payload);
    TM_ENSURE(p != NULL, TM_ERR_INVALID, "noise handshake payload: not a NoiseHandshakePayload protobuf (%zu bytes)",
              len);
    tm_status status = check_payload(p, remote_static, identity_pub);
    libp2p__noise__noise_handshake_payload__free_unpacked(p, NULL);
    return status;
}
