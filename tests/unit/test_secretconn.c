/* Secret Connection key schedule against CometBFT's golden vectors
 * (shared/vectors/secret-connection-hkdf.csv: DH secret, loc_is_least, receive key, send key). */
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

#include "tmkms/secretconn.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        char *end = NULL;
        unsigned long v = strtoul(byte, &end, 16);
        assert_true(end == byte + 2 && v <= 0xff);
        out[i] = (uint8_t)v;
    }
}

static void test_hkdf_golden_vectors(void **unused)
{
    (void)unused;
    char path[1024], line[1024];
    snprintf(path, sizeof(path), "%s/vectors/secret-connection-hkdf.csv", getenv("TMKMS_SHARED_DIR"));
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    size_t rows = 0;
    while (fgets(line, sizeof(line), f)) {
        char *fields[5] = {0};
        size_t n = 0;
        for (char *tok = strtok(line, ",\n"); tok && n < 5; tok = strtok(NULL, ",\n")) fields[n++] = tok;
        if (n < 4) continue;
        uint8_t dh[32], want_recv[32], want_send[32], recv[32], send[32];
        unhex(fields[0], dh, 32);
        unhex(fields[2], want_recv, 32);
        unhex(fields[3], want_send, 32);
        bool least = strcmp(fields[1], "true") == 0;
        assert_int_equal(tm_sc_derive_keys(dh, least, recv, send), TM_OK);
        assert_memory_equal(recv, want_recv, 32);
        assert_memory_equal(send, want_send, 32);
        rows++;
    }
    assert_int_equal(fclose(f), 0);
    assert_true(rows >= 30);
}

/* ---- handshake and frames between two of our own endpoints ---- */

typedef struct {
    int fd;
    uint8_t seed[32];
    tm_status status;
    tm_conn *conn;
    uint8_t remote[32];
} side;

static void *handshake_thread(void *arg)
{
    side *s = arg;
    tm_conn *raw = NULL;
    assert_int_equal(tm_conn_from_fd(s->fd, "test", 5000, &raw), TM_OK);
    s->status = tm_sc_handshake(raw, s->seed, 5000, &s->conn, s->remote);
    return NULL;
}

static void pair(side *a, side *b)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    memset(a, 0, sizeof(*a));
    memset(b, 0, sizeof(*b));
    a->fd = fds[0];
    b->fd = fds[1];
    randombytes_buf(a->seed, 32);
    randombytes_buf(b->seed, 32);
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

static void test_handshake_and_frames(void **unused)
{
    (void)unused;
    side a, b;
    pair(&a, &b);
    assert_int_equal(a.status, TM_OK);
    assert_int_equal(b.status, TM_OK);
    uint8_t pub_a[32], pub_b[32], sk[64];
    crypto_sign_seed_keypair(pub_a, sk, a.seed);
    crypto_sign_seed_keypair(pub_b, sk, b.seed);
    assert_memory_equal(a.remote, pub_b, 32); /* each side authenticated the other */
    assert_memory_equal(b.remote, pub_a, 32);
    static uint8_t msg[5000], got[5000]; /* several frames, the last one partial */
    randombytes_buf(msg, sizeof(msg));
    assert_int_equal(tm_conn_write_all(a.conn, msg, sizeof(msg)), TM_OK);
    read_all(b.conn, got, sizeof(got));
    assert_memory_equal(got, msg, sizeof(msg));
    assert_int_equal(tm_conn_write_all(b.conn, msg, 10), TM_OK);
    read_all(a.conn, got, 10);
    assert_memory_equal(got, msg, 10);
    tm_conn_close(a.conn);
    tm_conn_close(b.conn);
}

/* A peer whose ephemeral key is a low-order point (here: zero) is refused. */
static void test_low_order_key_refused(void **unused)
{
    (void)unused;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    uint8_t evil[35] = {34, 0x0a, 32}; /* the all-zero point */
    assert_int_equal(write(fds[1], evil, sizeof(evil)), (ssize_t)sizeof(evil));
    tm_conn *raw = NULL, *conn = NULL;
    uint8_t seed[32] = {1}, remote[32];
    assert_int_equal(tm_conn_from_fd(fds[0], "test", 5000, &raw), TM_OK);
    assert_int_equal(tm_sc_handshake(raw, seed, 5000, &conn, remote), TM_ERR_CRYPTO);
    assert_non_null(strstr(tm_err_msg(), "low order"));
    close(fds[1]);
}

/* A frame altered in transit fails authentication. */
static void test_tampered_frame_refused(void **unused)
{
    (void)unused;
    side a, b;
    pair(&a, &b);
    assert_int_equal(a.status, TM_OK);
    assert_int_equal(tm_conn_write_all(a.conn, (const uint8_t *)"hello", 5), TM_OK);
    /* take the sealed frame off b's socket, flip one bit, and make b read it from a new one */
    uint8_t sealed[1044];
    ssize_t n = read(b.fd, sealed, sizeof(sealed));
    assert_int_equal(n, (ssize_t)sizeof(sealed));
    sealed[100] ^= 1;
    int p2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
    assert_int_equal(write(p2[1], sealed, sizeof(sealed)), (ssize_t)sizeof(sealed));
    assert_int_equal(dup2(p2[0], b.fd), b.fd); /* b now reads the tampered frame */
    uint8_t out[8];
    size_t got = 0;
    assert_int_equal(tm_conn_read(b.conn, out, sizeof(out), &got), TM_ERR_CRYPTO);
    close(p2[0]);
    close(p2[1]);
    tm_conn_close(a.conn);
    tm_conn_close(b.conn);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf_golden_vectors),
        cmocka_unit_test(test_handshake_and_frames),
        cmocka_unit_test(test_low_order_key_refused),
        cmocka_unit_test(test_tampered_frame_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
