/* The plain fd connection: per-read timeouts, the whole-handshake deadline, connect that
 * gives up. Loopback and socketpairs only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tmkms/conn.h"
#include "tmkms/secretconn.h"

static tm_conn *wrap(int fd, int timeout_ms)
{
    tm_conn *c = NULL;
    assert_int_equal(tm_conn_from_fd(fd, "test-peer", timeout_ms, &c), TM_OK);
    return c;
}

static void test_read_timeout(void **unused)
{
    (void)unused;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tm_conn *c = wrap(sv[0], 50);
    uint8_t b;
    size_t got = 0;
    assert_int_equal(tm_conn_read(c, &b, 1, &got), TM_ERR_TIMEOUT);
    assert_non_null(strstr(tm_err_msg(), "test-peer"));
    /* Data that arrives is read; EOF is its own status. */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(tm_conn_read(c, &b, 1, &got), TM_OK);
    assert_int_equal(got, 1);
    close(sv[1]);
    assert_int_equal(tm_conn_read(c, &b, 1, &got), TM_ERR_EOF);
    tm_conn_close(c);
}

typedef struct {
    int fd;
    atomic_int stop; /* set by the test thread, read by the trickler */
} trickler;

/* Sends one plausible byte every 20 ms: each read makes progress, the handshake never ends. */
static void *trickle(void *arg)
{
    trickler *t = arg;
    const uint8_t msg[3] = {34, 0x0a, 32};
    for (unsigned i = 0; !atomic_load(&t->stop); i++) {
        uint8_t b = i < 3 ? msg[i] : (uint8_t)i;
        if (send(t->fd, &b, 1, MSG_NOSIGNAL) != 1) break;
        usleep(20000);
    }
    return NULL;
}

static void test_handshake_deadline_beats_trickling_peer(void **unused)
{
    (void)unused;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    trickler t = {.fd = sv[1]};
    pthread_t tid;
    pthread_create(&tid, NULL, trickle, &t);
    uint8_t seed[32] = {1}, remote[32];
    tm_conn *secured = NULL;
    /* A per-read timeout of 1 s is never reached; the 300 ms deadline is. */
    assert_int_equal(tm_sc_handshake(wrap(sv[0], 1000), seed, 300, &secured, remote), TM_ERR_TIMEOUT);
    assert_non_null(strstr(tm_err_msg(), "deadline"));
    assert_null(secured);
    atomic_store(&t.stop, 1);
    pthread_join(tid, NULL);
    close(sv[1]);
}

/* A listener whose accept queue is full drops further SYNs, as a black-holed host would:
 * the dial must give up by itself. */
static void test_connect_gives_up(void **unused)
{
    (void)unused;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 0), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &len), 0);
    char port[16];
    snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
    tm_conn *held[8] = {0};
    tm_status status = TM_OK;
    size_t n = 0;
    while (n < 8 && (status = tm_conn_dial_tcp("127.0.0.1", port, 200, &held[n])) == TM_OK) n++;
    assert_int_not_equal(status, TM_OK);
    assert_non_null(strstr(tm_err_msg(), "timed out"));
    for (size_t i = 0; i < n; i++) tm_conn_close(held[i]);
    close(ls);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_handshake_deadline_beats_trickling_peer),
        cmocka_unit_test(test_connect_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
