/* libp2p Noise (noise://):
 * - the Noise state machine against the cacophony test vector for
 *   Noise_XX_25519_ChaChaPoly_SHA256 (as shipped in noise-c, tests/vector/cacophony.txt);
 * - peer IDs against the libp2p peer-ids spec's Ed25519 key and CometBFT v0.40's
 *   lp2p/utils_test.go key (both IDs as go-libp2p computes them);
 * - initiator and responder against each other, in memory and over a socket pair;
 * - refusals: tampered frames and handshake messages, a wrong signature, a foreign key
 *   type, malformed payloads, over-long and truncated messages, an all-zero DH result, a
 *   peer other than the pinned one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/mem_conn.h"
#include "libp2p/crypto.pb-c.h"
#include "libp2p/noise.pb-c.h"
#include "tmkms/noise.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        const char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        char *end = NULL;
        unsigned long v = strtoul(byte, &end, 16);
        assert_true(end == byte + 2 && v <= 0xff);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* ---- the cacophony vector ---- */

static const char *const VEC_PROLOGUE = "4a6f686e2047616c74";
static const char *const VEC_INIT_STATIC = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char *const VEC_INIT_EPHEMERAL = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char *const VEC_RESP_STATIC = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char *const VEC_RESP_EPHEMERAL = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const char *const VEC_MESSAGES[6][2] = {
    {"4c756477696720766f6e204d69736573",
     "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"},
    {"4d757272617920526f746862617264",
     "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3"
     "629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9"
     "326ad"},
    {"462e20412e20486179656b",
     "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec"
     "82a286427402f113e4b6ae769a1d95941d49b25030"},
    {"4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"},
    {"4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"},
    {"457567656e2042f6686d20766f6e2042617765726b",
     "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"},
};

static void test_cacophony_xx_vector(void **unused)
{
    (void)unused;
    uint8_t prologue[16], is[32], ie[32], rs[32], re[32];
    size_t plen = unhex(VEC_PROLOGUE, prologue, sizeof(prologue));
    unhex(VEC_INIT_STATIC, is, 32);
    unhex(VEC_INIT_EPHEMERAL, ie, 32);
    unhex(VEC_RESP_STATIC, rs, 32);
    unhex(VEC_RESP_EPHEMERAL, re, 32);
    tm_noise_hs init, resp;
    tm_noise_hs_init(&init, true, prologue, plen, is, ie);
    tm_noise_hs_init(&resp, false, prologue, plen, rs, re);
    tm_noise_cipher send[2], recv[2]; /* [0] initiator, [1] responder */
    for (int i = 0; i < 6; i++) {
        uint8_t payload[64], want[256], msg[256], got[256];
        size_t pl = unhex(VEC_MESSAGES[i][0], payload, sizeof(payload));
        size_t wl = unhex(VEC_MESSAGES[i][1], want, sizeof(want));
        size_t ml = 0, gl = 0;
        int from = i % 2; /* messages alternate, the initiator first */
        if (i < 3) {
            tm_noise_hs *w = from ? &resp : &init, *r = from ? &init : &resp;
            assert_int_equal(tm_noise_hs_write(w, payload, pl, msg, sizeof(msg), &ml), TM_OK);
            assert_int_equal(tm_noise_hs_read(r, msg, ml, got, sizeof(got), &gl), TM_OK);
        } else {
            if (i == 3) {
                tm_noise_hs_split(&init, &send[0], &recv[0]);
                tm_noise_hs_split(&resp, &send[1], &recv[1]);
            }
            assert_int_equal(tm_noise_encrypt(&send[from], NULL, 0, payload, pl, msg), TM_OK);
            ml = pl + TM_NOISE_MAC_LEN;
            assert_int_equal(tm_noise_decrypt(&recv[1 - from], NULL, 0, msg, ml, got), TM_OK);
            gl = ml - TM_NOISE_MAC_LEN;
        }
        assert_int_equal(ml, wl);
        assert_memory_equal(msg, want, wl);
        assert_int_equal(gl, pl);
        assert_memory_equal(got, payload, pl);
    }
    assert_memory_equal(init.rs, resp.s_pub, 32);
    assert_memory_equal(resp.rs, init.s_pub, 32);
}

/* ---- peer IDs ---- */

static void check_peer_id(const uint8_t seed[32], const char *want)
{
    uint8_t pub[32], sk[64], back[32];
    crypto_sign_seed_keypair(pub, sk, seed);
    char id[TM_NOISE_PEER_ID_SIZE];
    tm_noise_peer_id(pub, id);
    assert_string_equal(id, want);
    assert_int_equal(tm_noise_peer_id_decode(want, back), TM_OK);
    assert_memory_equal(back, pub, 32);
}

static void test_peer_id_vectors(void **unused)
{
    (void)unused;
    /* libp2p specs, peer-ids/peer-ids.md test vectors: the Ed25519 private key
     * 080112407e08...; its public key 1ed1e8fa...; the ID as go-libp2p v0.47 prints it. */
    uint8_t seed[32], pub[32], sk[64], want_pub[32];
    unhex("7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d", seed, 32);
    unhex("1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e", want_pub, 32);
    crypto_sign_seed_keypair(pub, sk, seed);
    assert_memory_equal(pub, want_pub, 32);
    check_peer_id(seed, "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
    /* CometBFT v0.40 lp2p/utils_test.go TestKeyConversion: ed25519.GenPrivKeyFromSecret(
     * "lp2p-test-secret"), whose seed is SHA-256 of the secret. */
    crypto_hash_sha256(seed, (const uint8_t *)"lp2p-test-secret", 16);
    check_peer_id(seed, "12D3KooWE3h4xxbYockU6Y5EKhffWqo4AtMGwNS3UzmGkEFKGPZK");
    /* Random keys round-trip. */
    for (int i = 0; i < 200; i++) {
        uint8_t back[32];
        char id[TM_NOISE_PEER_ID_SIZE];
        randombytes_buf(seed, 32);
        crypto_sign_seed_keypair(pub, sk, seed);
        tm_noise_peer_id(pub, id);
        assert_int_equal(strncmp(id, "12D3KooW", 8), 0);
        assert_int_equal(strlen(id), 52);
        assert_int_equal(tm_noise_peer_id_decode(id, back), TM_OK);
        assert_memory_equal(back, pub, 32);
    }
}

static void refuse_peer_id(const char *id, const char *why)
{
    uint8_t pub[32];
    assert_int_equal(tm_noise_peer_id_decode(id, pub), TM_ERR_INVALID);
    if (!strstr(tm_err_msg(), why)) fail_msg("'%s': expected '%s' in: %s", id, why, tm_err_msg());
}

static void test_peer_id_refusals(void **unused)
{
    (void)unused;
    /* CometBFT's secp256k1 vector (lp2p/utils_test.go): a valid peer ID, not Ed25519. */
    refuse_peer_id("16Uiu2HAmNt4G6MjXTVwSz5HoajXdpbApHvwBNCc5WX6peH3rosN9", "Secp256k1");
    refuse_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "SHA-256 multihash");
    refuse_peer_id("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0", "not a base58btc character");
    refuse_peer_id("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p", "identity multihash");
    refuse_peer_id("112D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", "identity multihash");
    refuse_peer_id("", "empty");
    refuse_peer_id("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
                   "longer than");
    refuse_peer_id("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq ", "base58btc");
}

/* ---- two state machines in memory ---- */

typedef struct {
    uint8_t seed[32], pub[32];
} identity;

static identity new_identity(void)
{
    identity id;
    uint8_t sk[64];
    randombytes_buf(id.seed, 32);
    crypto_sign_seed_keypair(id.pub, sk, id.seed);
    return id;
}

static void random_hs(tm_noise_hs *hs, bool initiator)
{
    uint8_t s[32], e[32];
    randombytes_buf(s, 32);
    randombytes_buf(e, 32);
    tm_noise_hs_init(hs, initiator, NULL, 0, s, e);
}

static void test_state_machines_in_memory(void **unused)
{
    (void)unused;
    identity a = new_identity(), b = new_identity();
    tm_noise_hs init, resp;
    random_hs(&init, true);
    random_hs(&resp, false);
    uint8_t msg[1024], pl[512], got[512], who[32];
    size_t ml, pll, gl;
    assert_int_equal(tm_noise_hs_write(&init, NULL, 0, msg, sizeof(msg), &ml), TM_OK);
    assert_int_equal(ml, 32);
    assert_int_equal(tm_noise_hs_read(&resp, msg, ml, got, sizeof(got), &gl), TM_OK);
    assert_int_equal(tm_noise_payload_make(b.seed, resp.s_pub, pl, sizeof(pl), &pll), TM_OK);
    assert_int_equal(tm_noise_hs_write(&resp, pl, pll, msg, sizeof(msg), &ml), TM_OK);
    assert_int_equal(tm_noise_hs_read(&init, msg, ml, got, sizeof(got), &gl), TM_OK);
    assert_int_equal(tm_noise_payload_verify(got, gl, init.rs, who), TM_OK);
    assert_memory_equal(who, b.pub, 32);
    assert_int_equal(tm_noise_payload_make(a.seed, init.s_pub, pl, sizeof(pl), &pll), TM_OK);
    assert_int_equal(tm_noise_hs_write(&init, pl, pll, msg, sizeof(msg), &ml), TM_OK);
    assert_int_equal(tm_noise_hs_read(&resp, msg, ml, got, sizeof(got), &gl), TM_OK);
    assert_int_equal(tm_noise_payload_verify(got, gl, resp.rs, who), TM_OK);
    assert_memory_equal(who, a.pub, 32);
    /* A payload is bound to its static key: the initiator's does not verify for another. */
    assert_int_equal(tm_noise_payload_verify(got, gl, resp.s_pub, who), TM_ERR_CRYPTO);
    tm_noise_cipher is, ir, rsnd, rrcv;
    tm_noise_hs_split(&init, &is, &ir);
    tm_noise_hs_split(&resp, &rsnd, &rrcv);
    assert_memory_equal(is.k, rrcv.k, 32);
    assert_memory_equal(ir.k, rsnd.k, 32);
    assert_memory_not_equal(is.k, ir.k, 32);
    /* Out of turn: nothing more to write or read. */
    assert_int_equal(tm_noise_hs_write(&init, NULL, 0, msg, sizeof(msg), &ml), TM_ERR_INVALID);
    assert_int_equal(tm_noise_hs_read(&resp, msg, 64, got, sizeof(got), &gl), TM_ERR_INVALID);
}

/* ---- over a socket pair, both roles through tm_noise_handshake ---- */

typedef struct {
    int fd;
    bool initiator;
    identity id;
    const uint8_t *expect;
    tm_status status;
    char err[512];
    tm_conn *conn;
    uint8_t remote[32];
} side;

static void *handshake_thread(void *arg)
{
    side *s = arg;
    tm_conn *raw = NULL;
    assert_int_equal(tm_conn_from_fd(s->fd, "test", 5000, &raw), TM_OK);
    s->status = tm_noise_handshake(raw, s->id.seed, s->initiator, s->expect, 5000, &s->conn, s->remote);
    snprintf(s->err, sizeof(s->err), "%s", tm_err_msg());
    return NULL;
}

static void pair(side *a, side *b, const uint8_t *a_expects, const uint8_t *b_expects)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    memset(a, 0, sizeof(*a));
    memset(b, 0, sizeof(*b));
    *a = (side){.fd = fds[0], .initiator = true, .id = new_identity(), .expect = a_expects};
    *b = (side){.fd = fds[1], .initiator = false, .id = new_identity(), .expect = b_expects};
    pthread_t t;
    pthread_create(&t, NULL, handshake_thread, b);
    handshake_thread(a);
    pthread_join(t, NULL);
}

static void read_all(tm_conn *c, uint8_t *buf, size_t len)
{
    for (size_t have = 0; have < len;) {
        size_t got = 0;
        assert_int_equal(tm_conn_read(c, buf + have, len - have, &got), TM_OK);
        have += got;
    }
}

typedef struct {
    tm_conn *conn;
    const uint8_t *data;
    size_t len;
    tm_status status;
} writer;

static void *write_thread(void *arg)
{
    writer *w = arg;
    w->status = tm_conn_write_all(w->conn, w->data, w->len);
    return NULL;
}

static void test_handshake_and_frames(void **unused)
{
    (void)unused;
    side a, b;
    pair(&a, &b, NULL, NULL);
    assert_int_equal(a.status, TM_OK);
    assert_int_equal(b.status, TM_OK);
    assert_memory_equal(a.remote, b.id.pub, 32); /* each side authenticated the other */
    assert_memory_equal(b.remote, a.id.pub, 32);
    /* 200 000 bytes: four frames of 65519 and a partial one, written while read. */
    static uint8_t msg[200000], got[200000];
    randombytes_buf(msg, sizeof(msg));
    writer w = {a.conn, msg, sizeof(msg), TM_OK};
    pthread_t t;
    pthread_create(&t, NULL, write_thread, &w);
    read_all(b.conn, got, sizeof(got));
    pthread_join(t, NULL);
    assert_int_equal(w.status, TM_OK);
    assert_memory_equal(got, msg, sizeof(got));
    assert_int_equal(tm_conn_write_all(b.conn, msg, 10), TM_OK);
    read_all(a.conn, got, 10);
    assert_memory_equal(got, msg, 10);
    tm_conn_close(a.conn);
    tm_conn_close(b.conn);
}

/* Pins: the right one passes; a wrong one is refused by the initiator before message 3,
 * so the responder never completes; a responder's allow-list of one works the same. */
static void test_pinned_peers(void **unused)
{
    (void)unused;
    side a, b;
    identity other = new_identity();
    pair(&a, &b, other.pub, NULL);
    assert_int_equal(a.status, TM_ERR_REFUSED);
    assert_non_null(strstr(a.err, "not the pinned"));
    assert_int_not_equal(b.status, TM_OK);
    assert_non_null(strstr(b.err, "message 3"));

    pair(&a, &b, NULL, other.pub);
    assert_int_equal(b.status, TM_ERR_REFUSED);
    if (a.status == TM_OK) tm_conn_close(a.conn);
}

/* ---- a scripted peer over a socket pair: our side runs tm_noise_handshake ---- */

static void fd_send(int fd, const uint8_t *msg, size_t len)
{
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    assert_int_equal(write(fd, hdr, 2), 2);
    if (len) assert_int_equal(write(fd, msg, len), (ssize_t)len);
}

static bool fd_recv(int fd, uint8_t *msg, size_t cap, size_t *len)
{
    uint8_t hdr[2];
    if (read(fd, hdr, 2) != 2) return false;
    *len = (size_t)hdr[0] << 8 | hdr[1];
    assert_true(*len <= cap);
    for (size_t have = 0; have < *len;) {
        ssize_t n = read(fd, msg + have, *len - have);
        if (n <= 0) return false;
        have += (size_t)n;
    }
    return true;
}

/* How the scripted responder spoils message 2. */
typedef enum { GOOD, BAD_SIG, SECP_KEY, GARBAGE, EXTENSIONS, FLIP_STATIC_MAC } spoil;

static size_t spoiled_payload(spoil how, const identity *id, const uint8_t s_pub[32], uint8_t *out)
{
    size_t len = 0;
    assert_int_equal(tm_noise_payload_make(id->seed, s_pub, out, TM_NOISE_PAYLOAD_MAX, &len), TM_OK);
    Libp2p__Noise__NoiseHandshakePayload *p = libp2p__noise__noise_handshake_payload__unpack(NULL, len, out);
    assert_non_null(p);
    uint8_t secp[37] = {0x08, 0x02, 0x12, 0x21, 0x02};
    char *muxers[] = {"/yamux/1.0.0", "/mplex/6.7.0"};
    Libp2p__Noise__NoiseExtensions ext = LIBP2P__NOISE__NOISE_EXTENSIONS__INIT;
    uint8_t *own_key = NULL;
    switch (how) {
    case BAD_SIG: p->identity_sig.data[10] ^= 1; break;
    case SECP_KEY:
        own_key = p->identity_key.data;
        p->identity_key.data = secp;
        p->identity_key.len = sizeof(secp);
        break;
    case EXTENSIONS:
        ext.n_stream_muxers = 2;
        ext.stream_muxers = muxers;
        p->extensions = &ext;
        break;
    case GARBAGE:
        libp2p__noise__noise_handshake_payload__free_unpacked(p, NULL);
        memset(out, 0xff, 40);
        return 40;
    default: break;
    }
    len = libp2p__noise__noise_handshake_payload__pack(p, out);
    if (how == SECP_KEY) p->identity_key.data = own_key;
    p->extensions = NULL;
    libp2p__noise__noise_handshake_payload__free_unpacked(p, NULL);
    return len;
}

static void run_scripted_responder(spoil how, tm_status want, const char *why)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    side us = {.fd = fds[0], .initiator = true, .id = new_identity()};
    pthread_t t;
    pthread_create(&t, NULL, handshake_thread, &us);
    identity peer = new_identity();
    tm_noise_hs hs;
    random_hs(&hs, false);
    uint8_t msg[1024], got[1024], pl[TM_NOISE_PAYLOAD_MAX];
    size_t ml = 0, gl = 0;
    assert_true(fd_recv(fds[1], msg, sizeof(msg), &ml));
    assert_int_equal(tm_noise_hs_read(&hs, msg, ml, got, sizeof(got), &gl), TM_OK);
    size_t pll = spoiled_payload(how, &peer, hs.s_pub, pl);
    assert_int_equal(tm_noise_hs_write(&hs, pl, pll, msg, sizeof(msg), &ml), TM_OK);
    if (how == FLIP_STATIC_MAC) msg[32 + 40] ^= 0x80;
    fd_send(fds[1], msg, ml);
    if (want == TM_OK) {
        assert_true(fd_recv(fds[1], msg, sizeof(msg), &ml));
        assert_int_equal(tm_noise_hs_read(&hs, msg, ml, got, sizeof(got), &gl), TM_OK);
        uint8_t who[32];
        assert_int_equal(tm_noise_payload_verify(got, gl, hs.rs, who), TM_OK);
        assert_memory_equal(who, us.id.pub, 32);
    }
    pthread_join(t, NULL);
    if (us.status != want || (why && !strstr(us.err, why)))
        fail_msg("spoil %d: status %d (%s), wanted %d with '%s'", how, us.status, us.err, want, why);
    if (us.status == TM_OK) tm_conn_close(us.conn);
    close(fds[1]);
}

static void test_scripted_responders(void **unused)
{
    (void)unused;
    run_scripted_responder(GOOD, TM_OK, NULL);
    run_scripted_responder(EXTENSIONS, TM_OK, NULL); /* accepted and ignored */
    run_scripted_responder(BAD_SIG, TM_ERR_CRYPTO, "identity_sig does not verify");
    run_scripted_responder(SECP_KEY, TM_ERR_REFUSED, "only Ed25519 identities");
    run_scripted_responder(GARBAGE, TM_ERR_INVALID, "not a NoiseHandshakePayload");
    run_scripted_responder(FLIP_STATIC_MAC, TM_ERR_CRYPTO, "message 2: the encrypted static key: failed authentication");
}

/* ---- our responder fed fixed bytes (mem_conn: our writes are discarded) ---- */

static tm_status respond_to(const uint8_t *bytes, size_t len)
{
    mem_conn c = mem_conn_over(bytes, len, 7);
    snprintf(c.base.peer, sizeof(c.base.peer), "mem");
    static const uint8_t seed[32] = {5};
    tm_conn *out = NULL;
    uint8_t remote[32];
    return tm_noise_handshake(&c.base, seed, false, NULL, 1000, &out, remote);
}

static void test_malformed_handshake_messages(void **unused)
{
    (void)unused;
    uint8_t buf[64] = {0};
    /* A length above our bound, then the Noise maximum. */
    buf[0] = 0x20, buf[1] = 0x01;
    assert_int_equal(respond_to(buf, sizeof(buf)), TM_ERR_TOO_LARGE);
    assert_non_null(strstr(tm_err_msg(), "message 1: length 8193 above our 8192-byte bound"));
    buf[0] = 0xff, buf[1] = 0xff;
    assert_int_equal(respond_to(buf, sizeof(buf)), TM_ERR_TOO_LARGE);
    /* Too short for an ephemeral key. */
    buf[0] = 0, buf[1] = 20;
    assert_int_equal(respond_to(buf, 22), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "message 1: 20 bytes, shorter than the 32"));
    /* Truncated: the length says 32, the stream ends after 10. */
    buf[0] = 0, buf[1] = 32;
    assert_int_equal(respond_to(buf, 12), TM_ERR_EOF);
    assert_non_null(strstr(tm_err_msg(), "message 1"));
    /* Truncated inside the length. */
    assert_int_equal(respond_to(buf, 1), TM_ERR_EOF);
    /* The all-zero point as ephemeral key: an all-zero DH result. */
    assert_int_equal(respond_to(buf, 34), TM_ERR_CRYPTO);
    assert_non_null(strstr(tm_err_msg(), "all-zero DH"));
    /* A valid message 1 and then a message 3 that is too short, and one that fails its MAC. */
    uint8_t e[32];
    randombytes_buf(e, 32);
    uint8_t seq[2 + 32 + 2 + 200] = {0, 32};
    crypto_scalarmult_base(seq + 2, e);
    seq[35] = 40; /* message 3: 40 bytes */
    assert_int_equal(respond_to(seq, 2 + 32 + 2 + 40), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "message 3: 40 bytes, shorter than the 64"));
    seq[35] = 200;
    assert_int_equal(respond_to(seq, sizeof(seq)), TM_ERR_CRYPTO);
    assert_non_null(strstr(tm_err_msg(), "message 3: the encrypted static key: failed authentication"));
}

/* ---- transport frames with fixed ciphers ---- */

static size_t seal_frame(tm_noise_cipher *c, const uint8_t *data, size_t len, uint8_t *out)
{
    out[0] = (uint8_t)((len + 16) >> 8);
    out[1] = (uint8_t)(len + 16);
    assert_int_equal(tm_noise_encrypt(c, NULL, 0, data, len, out + 2), TM_OK);
    return 2 + len + 16;
}

static tm_status read_frames(const uint8_t *wire, size_t len, uint8_t *got, size_t want)
{
    tm_noise_cipher k = {.has_key = true}; /* the all-zero key, both ways */
    mem_conn c = mem_conn_over(wire, len, 5);
    tm_conn *conn = NULL;
    assert_int_equal(tm_noise_conn_wrap(&c.base, &k, &k, &conn), TM_OK);
    tm_status status = TM_OK;
    for (size_t have = 0; have < want && status == TM_OK;) {
        size_t n = 0;
        status = tm_conn_read(conn, got + have, want - have, &n);
        have += n;
    }
    tm_conn_close(conn);
    return status;
}

static void test_transport_frames(void **unused)
{
    (void)unused;
    tm_noise_cipher k = {.has_key = true};
    uint8_t wire[256], got[64];
    size_t n = seal_frame(&k, (const uint8_t *)"hello", 5, wire);
    n += seal_frame(&k, NULL, 0, wire + n); /* an empty frame is skipped */
    n += seal_frame(&k, (const uint8_t *)" world", 6, wire + n);
    assert_int_equal(read_frames(wire, n, got, 11), TM_OK);
    assert_memory_equal(got, "hello world", 11);
    /* Tampered ciphertext. */
    wire[2 + 3] ^= 1;
    assert_int_equal(read_frames(wire, n, got, 11), TM_ERR_CRYPTO);
    assert_non_null(strstr(tm_err_msg(), "noise frame: failed authentication"));
    wire[2 + 3] ^= 1;
    /* A replayed (reordered) frame fails: the nonce moved on. */
    uint8_t twice[64];
    memcpy(twice, wire, 23);
    memcpy(twice + 23, wire, 23);
    assert_int_equal(read_frames(twice, 46, got, 10), TM_ERR_CRYPTO);
    /* A frame shorter than its MAC. */
    uint8_t tiny[20] = {0, 15};
    assert_int_equal(read_frames(tiny, sizeof(tiny), got, 1), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "shorter than its 16-byte MAC"));
    /* Truncated: the length promises more than arrives. */
    assert_int_equal(read_frames(wire, 20, got, 5), TM_ERR_EOF);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cacophony_xx_vector),
        cmocka_unit_test(test_peer_id_vectors),
        cmocka_unit_test(test_peer_id_refusals),
        cmocka_unit_test(test_state_machines_in_memory),
        cmocka_unit_test(test_handshake_and_frames),
        cmocka_unit_test(test_pinned_peers),
        cmocka_unit_test(test_scripted_responders),
        cmocka_unit_test(test_malformed_handshake_messages),
        cmocka_unit_test(test_transport_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
