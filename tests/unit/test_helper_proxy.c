/* The node relay's state as `tmkms-nitro-helper status` shows it (proxy_stats in
 * src/nitro-helper/proxy.h), with a real proxy_serve between Unix sockets: a destination
 * that is not there leaves last_error naming it and the relay down, never up
 * (state_seconds null); a relaying connection makes it connected, counts a session, sets
 * since and clears last_error; its end makes it down again. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy.h"

typedef struct {
    char dir[64], listen_path[96];
    int listen_fd, target_fd, stop[2];
    proxy_opts opts;
    proxy_stats stats;
    pthread_t thread;
} fixture;

static int unix_socket(const char *path, bool listening)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (listening) {
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
    } else {
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    return fd;
}

static void *serve(void *arg)
{
    fixture *f = arg;
    assert_int_equal(proxy_serve(&f->opts), TM_OK);
    return NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/tmkms-proxy-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->listen_path, sizeof(f->listen_path), "%s/relay.sock", f->dir);
    f->listen_fd = unix_socket(f->listen_path, true);
    f->target_fd = -1;
    assert_int_equal(pipe(f->stop), 0);
    proxy_stats_init(&f->stats);
    f->opts = (proxy_opts){.listen_fd = f->listen_fd,
                           .max_conns = 4,
                           .stop_fd = f->stop[0],
                           .idle_seconds = -1,
                           .log_name = "test-relay",
                           .stats = &f->stats};
    snprintf(f->opts.unix_path, sizeof(f->opts.unix_path), "%s/node.sock", f->dir);
    assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_int_equal(write(f->stop[1], "x", 1), 1);
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    if (f->target_fd >= 0) close(f->target_fd);
    close(f->stop[0]);
    close(f->stop[1]);
    unlink(f->listen_path);
    unlink(f->opts.unix_path);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->stats.link.lock);
    free(f);
    return 0;
}

static void last_error(fixture *f, char *out, size_t cap)
{
    tm_link_stats_error(&f->stats.link, out, cap);
}

/* Waits up to 5 s for the relay's connected flag to become `want`. */
static void wait_connected(fixture *f, int want)
{
    for (int i = 0; i < 500 && atomic_load(&f->stats.link.connected) != want; i++) {
        struct timespec nap = {0, 10 * 1000000L};
        nanosleep(&nap, NULL);
    }
    assert_int_equal(atomic_load(&f->stats.link.connected), want);
}

/* A client connection the proxy closes once it gave up on the destination. */
static void connect_and_see_closed(fixture *f)
{
    int c = unix_socket(f->listen_path, false);
    struct pollfd p = {c, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    char b;
    assert_int_equal(recv(c, &b, 1, 0), 0);
    close(c);
}

static void test_destination_missing(void **state)
{
    fixture *f = *state;
    connect_and_see_closed(f);
    char err[256];
    last_error(f, err, sizeof(err));
    char want[256];
    snprintf(want, sizeof(want), "cannot connect to unix://%s: %s", f->opts.unix_path, strerror(ENOENT));
    assert_string_equal(err, want);
    assert_int_equal(atomic_load(&f->stats.link.connected), 0);
    assert_int_equal(atomic_load(&f->stats.link.sessions), 0);
    assert_int_equal(atomic_load(&f->stats.link.since), 0); /* never up: state_seconds null */
}

static void test_relaying_then_closed(void **state)
{
    fixture *f = *state;
    connect_and_see_closed(f); /* a failure first: relaying clears it */
    f->target_fd = unix_socket(f->opts.unix_path, true);
    int64_t before = (int64_t)time(NULL);
    int c = unix_socket(f->listen_path, false);
    int node = accept(f->target_fd, NULL, NULL);
    assert_true(node >= 0);
    wait_connected(f, 1);
    assert_int_equal(atomic_load(&f->stats.link.sessions), 1);
    assert_int_equal(atomic_load(&f->stats.relaying), 1);
    int64_t up_since = (int64_t)atomic_load(&f->stats.link.since);
    assert_true(up_since >= before && up_since <= (int64_t)time(NULL));
    char err[256];
    last_error(f, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(send(c, "ping", 4, 0), 4); /* the bytes go through */
    char buf[4];
    assert_int_equal(recv(node, buf, sizeof(buf), MSG_WAITALL), 4);
    assert_memory_equal(buf, "ping", 4);
    close(c);
    close(node);
    wait_connected(f, 0);
    assert_int_equal(atomic_load(&f->stats.relaying), 0);
    assert_true((int64_t)atomic_load(&f->stats.link.since) >= up_since);
    assert_int_equal(atomic_load(&f->stats.link.sessions), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_destination_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relaying_then_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
