/* The shared clocks: the monotonic readings agree with each other and never go back, and a
 * realtime deadline is normalised and lies the asked distance ahead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "tmkms/clock.h"

static void test_monotonic(void **unused)
{
    (void)unused;
    uint64_t prev = tm_monotonic_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = tm_monotonic_ns();
        assert_true(now >= prev);
        prev = now;
    }
    uint64_t ns = tm_monotonic_ns();
    uint64_t us = tm_monotonic_us();
    uint64_t ms = tm_monotonic_ms();
    assert_true(us >= ns / 1000u);
    assert_true(ms >= ns / 1000000u);
    assert_true(ms <= us / 1000u);
    struct timespec nap = {0, 20 * 1000000L};
    nanosleep(&nap, NULL);
    assert_true(tm_monotonic_ns() - ns >= 20u * 1000000u);
}

static int64_t realtime_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void test_realtime_deadline(void **unused)
{
    (void)unused;
    const uint64_t dists[] = {0, 1, 999999, 1000000, 1500000, 2999999, 86400000000u};
    for (size_t i = 0; i < sizeof(dists) / sizeof(dists[0]); i++) {
        int64_t before = realtime_us();
        struct timespec d = tm_realtime_deadline_us(dists[i]);
        int64_t after = realtime_us();
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        int64_t at = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
        assert_true(at >= before + (int64_t)dists[i]);
        assert_true(at <= after + (int64_t)dists[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_realtime_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
