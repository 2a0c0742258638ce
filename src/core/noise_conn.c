/* libp2p Noise over any tm_conn: the XX handshake with libp2p payloads (go-libp2p
 * p2p/security/noise, handshake.go: the initiator's first message carries no payload, the
 * responder's identity rides message 2, the initiator's message 3), then transport
 * frames: 2-byte big-endian length + ChaCha20-Poly1305 ciphertext of at most 65535 bytes. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/noise.h"

typedef struct {
    tm_conn base;
    tm_conn *raw;
    tm_noise_cipher *keys; /* locked memory: [0] send, [1] receive */
    uint8_t wire[2 + TM_NOISE_MSG_MAX];
    uint8_t plain[TM_NOISE_PLAIN_MAX]; /* received data not yet handed out */
    size_t plain_len, plain_pos;
    uint8_t out[2 + TM_NOISE_MSG_MAX];
} noise_conn;

/* ---- transport ---- */

/* Read and open one frame into s->plain. */
static tm_status read_frame(noise_conn *s)
{
    TM_TRY(tm_conn_read_exact(s->raw, s->wire, 2));
    size_t len = (size_t)s->wire[0] << 8 | s->wire[1];
    TM_ENSURE(len >= TM_NOISE_MAC_LEN, TM_ERR_INVALID, "%s: noise frame of %zu bytes, shorter than its 16-byte MAC",
              s->base.peer, len);
    TM_TRY(tm_conn_read_exact(s->raw, s->wire + 2, len));
    tm_status status = tm_noise_decrypt(&s->keys[1], NULL, 0, s->wire + 2, len, s->plain);
    if (status != TM_OK) return tm_err_prefix(status, "%s: noise frame: ", s->base.peer);
    s->plain_len = len - TM_NOISE_MAC_LEN;
    s->plain_pos = 0;
    return TM_OK;
}

static tm_status nc_read(tm_conn *conn, void *buf, size_t cap, size_t *got)
{
    noise_conn *s = (noise_conn *)conn;
    while (s->plain_pos == s->plain_len) TM_TRY(read_frame(s)); /* empty frames carry nothing */
    size_t n = s->plain_len - s->plain_pos;
    if (n > cap) n = cap;
    memcpy(buf, s->plain + s->plain_pos, n);
    s->plain_pos += n;
    *got = n;
    return TM_OK;
}

/* One call, one message: a privval message of at most TM_NOISE_PLAIN_MAX bytes leaves in
 * one frame, which is all CometBFT v0.40's reader handles (after a message spanning
 * frames it reads a phantom empty message). Nothing is sent for len 0: an empty frame
 * would be such a phantom too. */
static tm_status nc_write_all(tm_conn *conn, const void *buf, size_t len)
{
    noise_conn *s = (noise_conn *)conn;
    const uint8_t *p = buf;
    while (len > 0) {
        size_t n = len > TM_NOISE_PLAIN_MAX ? TM_NOISE_PLAIN_MAX : len;
        size_t sealed = n + TM_NOISE_MAC_LEN;
        s->out[0] = (uint8_t)(sealed >> 8);
        s->out[1] = (uint8_t)sealed;
        TM_TRY(tm_noise_encrypt(&s->keys[0], NULL, 0, p, n, s->out + 2));
        TM_TRY(tm_conn_write_all(s->raw, s->out, 2 + sealed));
        p += n;
        len -= n;
    }
    return TM_OK;
}

static void nc_close(tm_conn *conn)
{
    noise_conn *s = (noise_conn *)conn;
    if (s->raw) tm_conn_close(s->raw);
    sodium_free(s->keys); /* wipes */
    sodium_memzero(s, sizeof(*s));
    free(s);
}

static const struct tm_conn_ops nc_ops = {.read = nc_read, .write_all = nc_write_all, .close = nc_close};

tm_status tm_noise_conn_wrap(tm_conn *raw, const tm_noise_cipher *send, const tm_noise_cipher *recv, tm_conn **out)
{
    noise_conn *s = calloc(1, sizeof(*s));
    tm_noise_cipher *keys = sodium_malloc(2 * sizeof(tm_noise_cipher));
    if (!s || !keys) {
        free(s);
        sodium_free(keys);
        tm_conn_close(raw);
        return tm_err_set(TM_ERR_NOMEM, "out of memory");
    }
    keys[0] = *send;
    keys[1] = *recv;
    s->base.ops = &nc_ops;
    memcpy(s->base.peer, raw->peer, sizeof(s->base.peer));
    s->raw = raw;
    s->keys = keys;
    *out = &s->base;
    return TM_OK;
}

/* ---- handshake ---- */

typedef struct {
    tm_noise_hs hs;
    uint8_t msg[2 + TM_NOISE_HS_MSG_MAX];
    uint8_t payload[TM_NOISE_HS_MSG_MAX];
    size_t payload_len;
    tm_noise_cipher send, recv;
} hs_work; /* locked memory */

static tm_status send_message(tm_conn *raw, hs_work *w, const uint8_t *payload, size_t len)
{
    size_t n = 0;
    TM_TRY(tm_noise_hs_write(&w->hs, payload, len, w->msg + 2, TM_NOISE_HS_MSG_MAX, &n));
    w->msg[0] = (uint8_t)(n >> 8);
    w->msg[1] = (uint8_t)n;
    return tm_conn_write_all(raw, w->msg, 2 + n);
}

static tm_status recv_message(tm_conn *raw, hs_work *w)
{
    int index = w->hs.next + 1;
    tm_status status = tm_conn_read_exact(raw, w->msg, 2);
    size_t len = (size_t)w->msg[0] << 8 | w->msg[1];
    if (status == TM_OK && len > TM_NOISE_HS_MSG_MAX)
        status = tm_err_set(TM_ERR_TOO_LARGE, "length %zu above our %d-byte bound", len, TM_NOISE_HS_MSG_MAX);
    if (status == TM_OK) status = tm_conn_read_exact(raw, w->msg + 2, len);
    if (status != TM_OK) return tm_err_prefix(status, "%s: noise handshake message %d: ", raw->peer, index);
    status = tm_noise_hs_read(&w->hs, w->msg + 2, len, w->payload, sizeof(w->payload), &w->payload_len);
    if (status != TM_OK) return tm_err_prefix(status, "%s: ", raw->peer);
    return TM_OK;
}

/* The payload just received: a valid libp2p identity for the static key, and the one
 * expected if any. */
static tm_status check_remote(tm_conn *raw, hs_work *w, const uint8_t *expected, uint8_t remote_pub[32])
{
    tm_status status = tm_noise_payload_verify(w->payload, w->payload_len, w->hs.rs, remote_pub);
    if (status != TM_OK) return tm_err_prefix(status, "%s: ", raw->peer);
    if (expected && sodium_memcmp(expected, remote_pub, 32) != 0) {
        char got[TM_NOISE_PEER_ID_SIZE], want[TM_NOISE_PEER_ID_SIZE];
        tm_noise_peer_id(remote_pub, got);
        tm_noise_peer_id(expected, want);
        return tm_err_set(TM_ERR_REFUSED, "%s: the peer's ID is %s, not the pinned %s", raw->peer, got, want);
    }
    return TM_OK;
}

static tm_status send_identity(tm_conn *raw, hs_work *w, const uint8_t seed[32])
{
    uint8_t payload[TM_NOISE_PAYLOAD_MAX];
    size_t len = 0;
    TM_TRY(tm_noise_payload_make(seed, w->hs.s_pub, payload, sizeof(payload), &len));
    return send_message(raw, w, payload, len);
}

static tm_status run_initiator(tm_conn *raw, hs_work *w, const uint8_t seed[32], const uint8_t *expected,
                               uint8_t remote_pub[32])
{
    TM_TRY(send_message(raw, w, NULL, 0));
    TM_TRY(recv_message(raw, w));
    TM_TRY(check_remote(raw, w, expected, remote_pub));
    return send_identity(raw, w, seed);
}

static tm_status run_responder(tm_conn *raw, hs_work *w, const uint8_t seed[32], const uint8_t *expected,
                               uint8_t remote_pub[32])
{
    TM_TRY(recv_message(raw, w)); /* its payload, if any, is not used */
    TM_TRY(send_identity(raw, w, seed));
    TM_TRY(recv_message(raw, w));
    return check_remote(raw, w, expected, remote_pub);
}

tm_status tm_noise_handshake(tm_conn *raw, const uint8_t identity_seed[32], bool initiator,
                             const uint8_t *expected_remote, int timeout_ms, tm_conn **out, uint8_t remote_pub[32])
{
    hs_work *w = sodium_malloc(sizeof(*w));
    if (!w) {
        tm_conn_close(raw);
        return tm_err_set(TM_ERR_NOMEM, "out of locked memory");
    }
    uint8_t s_sec[32], e_sec[32];
    randombytes_buf(s_sec, sizeof(s_sec));
    randombytes_buf(e_sec, sizeof(e_sec));
    tm_noise_hs_init(&w->hs, initiator, NULL, 0, s_sec, e_sec);
    sodium_memzero(s_sec, sizeof(s_sec));
    sodium_memzero(e_sec, sizeof(e_sec));
    tm_conn_set_deadline(raw, timeout_ms); /* the whole handshake, not each read */
    tm_status status = initiator ? run_initiator(raw, w, identity_seed, expected_remote, remote_pub)
                                 : run_responder(raw, w, identity_seed, expected_remote, remote_pub);
    tm_conn_set_deadline(raw, 0);
    if (status == TM_OK) {
        tm_noise_hs_split(&w->hs, &w->send, &w->recv);
        status = tm_noise_conn_wrap(raw, &w->send, &w->recv, out);
    } else {
        tm_conn_close(raw);
    }
    sodium_free(w); /* wipes */
    return status;
}
