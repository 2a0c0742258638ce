/* Tendermint Secret Connection: handshake and encrypted frames over any tm_conn.
 *
 * Handshake (CometBFT p2p/conn/secret_connection.go): exchange ephemeral X25519 keys as
 * length-delimited BytesValue messages; Merlin transcript over both keys (sorted) and the
 * DH secret; keys by HKDF (tm_sc_derive_keys); a 32-byte challenge from the transcript,
 * signed with the ed25519 identity key and exchanged, encrypted, as an AuthSigMessage.
 * Frames: 4-byte little-endian length + 1024 data bytes, sealed with ChaCha20-Poly1305
 * under a 96-bit nonce whose last 8 bytes count frames (little-endian). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/buf.h"
#include "tmkms/merlin.h"
#include "tmkms/secretconn.h"

#define DATA_MAX 1024
#define FRAME_LEN (4 + DATA_MAX)
#define SEALED_LEN (FRAME_LEN + crypto_aead_chacha20poly1305_ietf_ABYTES)

typedef struct {
    tm_conn base;
    tm_conn *raw;
    uint8_t send_key[32], recv_key[32];
    uint8_t send_nonce[12], recv_nonce[12];
    uint8_t plain[DATA_MAX]; /* received data not yet handed out */
    size_t plain_len, plain_pos;
} secret_conn;

static void next_nonce(uint8_t nonce[12])
{
    for (int i = 4; i < 12; i++)
        if (++nonce[i] != 0) break;
}

static tm_status sc_read(tm_conn *conn, void *buf, size_t cap, size_t *got)
{
    secret_conn *s = (secret_conn *)conn;
    if (s->plain_pos == s->plain_len) {
        uint8_t sealed[SEALED_LEN], frame[FRAME_LEN];
        TM_TRY(tm_conn_read_exact(s->raw, sealed, sizeof(sealed)));
        TM_ENSURE(crypto_aead_chacha20poly1305_ietf_decrypt(frame, NULL, NULL, sealed, sizeof(sealed), NULL, 0,
                                                            s->recv_nonce, s->recv_key) == 0,
                  TM_ERR_CRYPTO, "%s: secret connection frame failed authentication", conn->peer);
        next_nonce(s->recv_nonce);
        uint32_t n = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 | (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 24;
        TM_ENSURE(n <= DATA_MAX, TM_ERR_INVALID, "%s: secret connection frame claims %u data bytes", conn->peer, n);
        /* The padding after the data is not checked: Go senders leave it unzeroed. */
        memcpy(s->plain, frame + 4, n);
        s->plain_len = n;
        s->plain_pos = 0;
        sodium_memzero(frame, sizeof(frame));
        if (n == 0) return sc_read(conn, buf, cap, got);
    }
    size_t n = s->plain_len - s->plain_pos;
    if (n > cap) n = cap;
    memcpy(buf, s->plain + s->plain_pos, n);
    s->plain_pos += n;
    *got = n;
    return TM_OK;
}

static tm_status sc_write_all(tm_conn *conn, const void *buf, size_t len)
{
    secret_conn *s = (secret_conn *)conn;
    const uint8_t *p = buf;
    do {
        size_t n = len > DATA_MAX ? DATA_MAX : len;
        uint8_t frame[FRAME_LEN] = {0}, sealed[SEALED_LEN];
        frame[0] = (uint8_t)n;
        frame[1] = (uint8_t)(n >> 8);
        memcpy(frame + 4, p, n);
        crypto_aead_chacha20poly1305_ietf_encrypt(sealed, NULL, frame, sizeof(frame), NULL, 0, NULL, s->send_nonce,
                                                  s->send_key);
        next_nonce(s->send_nonce);
        TM_TRY(tm_conn_write_all(s->raw, sealed, sizeof(sealed)));
        p += n;
        len -= n;
    } while (len > 0);
    return TM_OK;
}

static void sc_close(tm_conn *conn)
{
    secret_conn *s = (secret_conn *)conn;
    tm_conn_close(s->raw);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

static const struct tm_conn_ops sc_ops = {.read = sc_read, .write_all = sc_write_all, .close = sc_close};

/* Exchange ephemeral public keys: uvarint(34) 0x0a 0x20 key. */
static tm_status share_ephemeral(tm_conn *raw, const uint8_t mine[32], uint8_t theirs[32])
{
    uint8_t msg[35] = {34, 0x0a, 32};
    memcpy(msg + 3, mine, 32);
    TM_TRY(tm_conn_write_all(raw, msg, sizeof(msg)));
    uint8_t in[35];
    TM_TRY(tm_conn_read_exact(raw, in, sizeof(in)));
    TM_ENSURE(in[0] == 34 && in[1] == 0x0a && in[2] == 32, TM_ERR_INVALID,
              "%s: secret connection: malformed ephemeral key message", raw->peer);
    memcpy(theirs, in + 3, 32);
    return TM_OK;
}

/* AuthSigMessage {1: PublicKey {1: ed25519 key}, 2: signature}, length-delimited. */
static tm_status share_auth(secret_conn *s, const uint8_t pub[32], const uint8_t sig[64], uint8_t remote_pub[32],
                            uint8_t remote_sig[64])
{
    uint8_t msg[103] = {102, 0x0a, 34, 0x0a, 32};
    memcpy(msg + 5, pub, 32);
    msg[37] = 0x12;
    msg[38] = 64;
    memcpy(msg + 39, sig, 64);
    TM_TRY(sc_write_all(&s->base, msg, sizeof(msg)));
    uint8_t in[103];
    for (size_t have = 0; have < sizeof(in);) {
        size_t got = 0;
        TM_TRY(sc_read(&s->base, in + have, sizeof(in) - have, &got));
        have += got;
    }
    TM_ENSURE(memcmp(in, msg, 5) == 0 && in[37] == 0x12 && in[38] == 64, TM_ERR_INVALID,
              "%s: secret connection: the peer's identity is not an ed25519 AuthSigMessage", s->base.peer);
    memcpy(remote_pub, in + 5, 32);
    memcpy(remote_sig, in + 39, 64);
    return TM_OK;
}

static tm_status sign_challenge(const uint8_t seed[32], const uint8_t challenge[32], uint8_t pub[32], uint8_t sig[64])
{
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    TM_ENSURE(sk != NULL, TM_ERR_NOMEM, "out of locked memory");
    crypto_sign_seed_keypair(pub, sk, seed);
    crypto_sign_detached(sig, NULL, challenge, 32, sk);
    sodium_free(sk);
    return TM_OK;
}

static tm_status handshake(secret_conn *s, const uint8_t seed[32], uint8_t remote_pub[32])
{
    uint8_t eph_pub[32], eph_sec[32], rem_eph[32], dh[32], challenge[32], pub[32], sig[64], rem_sig[64];
    tm_merlin t;
    tm_status status = TM_OK;
    crypto_box_keypair(eph_pub, eph_sec);
    TM_TRY_GOTO(share_ephemeral(s->raw, eph_pub, rem_eph));
    bool least = memcmp(eph_pub, rem_eph, 32) < 0;
    /* libsodium refuses low-order points (an all-zero shared secret) with -1. */
    TM_ENSURE_GOTO(crypto_scalarmult(dh, eph_sec, rem_eph) == 0, TM_ERR_CRYPTO,
                   "%s: secret connection: the peer's ephemeral key is of low order", s->base.peer);
    tm_merlin_init(&t, (const uint8_t *)"TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH", 44);
    tm_merlin_append(&t, (const uint8_t *)"EPHEMERAL_LOWER_PUBLIC_KEY", 26, least ? eph_pub : rem_eph, 32);
    tm_merlin_append(&t, (const uint8_t *)"EPHEMERAL_UPPER_PUBLIC_KEY", 26, least ? rem_eph : eph_pub, 32);
    tm_merlin_append(&t, (const uint8_t *)"DH_SECRET", 9, dh, 32);
    TM_TRY_GOTO(tm_sc_derive_keys(dh, least, s->recv_key, s->send_key));
    tm_merlin_challenge(&t, (const uint8_t *)"SECRET_CONNECTION_MAC", 21, challenge, 32);
    TM_TRY_GOTO(sign_challenge(seed, challenge, pub, sig));
    TM_TRY_GOTO(share_auth(s, pub, sig, remote_pub, rem_sig));
    TM_ENSURE_GOTO(crypto_sign_verify_detached(rem_sig, challenge, 32, remote_pub) == 0, TM_ERR_CRYPTO,
                   "%s: secret connection: the peer's challenge signature does not verify", s->base.peer);
out:
    sodium_memzero(eph_sec, sizeof(eph_sec));
    sodium_memzero(dh, sizeof(dh));
    tm_merlin_wipe(&t);
    return status;
}

tm_status tm_sc_handshake(tm_conn *raw, const uint8_t identity_seed[32], int timeout_ms, tm_conn **out,
                          uint8_t remote_pub[32])
{
    secret_conn *s = calloc(1, sizeof(*s));
    if (!s) {
        tm_conn_close(raw);
        return tm_err_set(TM_ERR_NOMEM, "out of memory");
    }
    s->base.ops = &sc_ops;
    memcpy(s->base.peer, raw->peer, sizeof(s->base.peer));
    s->raw = raw;
    tm_conn_set_deadline(raw, timeout_ms); /* the whole handshake, not each read */
    tm_status status = handshake(s, identity_seed, remote_pub);
    tm_conn_set_deadline(raw, 0);
    if (status != TM_OK) {
        sc_close(&s->base);
        return status;
    }
    *out = &s->base;
    return TM_OK;
}

void tm_sc_node_id_raw(const uint8_t pub[32], uint8_t out[TM_SC_NODE_ID_LEN])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pub, 32);
    memcpy(out, h, TM_SC_NODE_ID_LEN);
}

void tm_sc_node_id(const uint8_t pub[32], char out[41])
{
    uint8_t id[TM_SC_NODE_ID_LEN];
    tm_sc_node_id_raw(pub, id);
    sodium_bin2hex(out, 41, id, sizeof(id));
}

tm_status tm_sc_parse_addr(const char *addr, bool *pinned, uint8_t pin[TM_SC_NODE_ID_LEN], char host[256],
                           char port[8])
{
    TM_ENSURE(strncmp(addr, "tcp://", 6) == 0, TM_ERR_INVALID, "%s: not a tcp:// address", addr);
    const char *rest = addr + 6, *at = strrchr(rest, '@');
    *pinned = at != NULL;
    if (at) {
        size_t len = 0;
        TM_ENSURE(at - rest == 2 * TM_SC_NODE_ID_LEN &&
                      sodium_hex2bin(pin, TM_SC_NODE_ID_LEN, rest, (size_t)(at - rest), NULL, &len, NULL) == 0 &&
                      len == TM_SC_NODE_ID_LEN,
                  TM_ERR_INVALID, "%s: the node ID before '@' must be 40 hex digits", addr);
        rest = at + 1;
    }
    return tm_parse_host_port(addr, rest, host, port);
}
