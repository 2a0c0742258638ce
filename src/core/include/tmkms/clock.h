/* The clocks, read in one place. Durations and our own deadlines use CLOCK_MONOTONIC (a
 * wall-clock step must not stretch or cut a timeout); CLOCK_REALTIME appears only where an
 * API takes it: the absolute deadline of a pthread timed wait with default attributes. */
#ifndef TMKMS_CLOCK_H
#define TMKMS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC (an arbitrary origin: compare, never print). */
uint64_t tm_monotonic_ns(void);

static inline uint64_t tm_monotonic_us(void)
{
    return tm_monotonic_ns() / 1000u;
}

static inline uint64_t tm_monotonic_ms(void)
{
    return tm_monotonic_ns() / 1000000u;
}

/* CLOCK_REALTIME plus `us` microseconds, normalised (tv_nsec < 1e9): the deadline
 * pthread_mutex_timedlock and pthread_cond_timedwait take. */
struct timespec tm_realtime_deadline_us(uint64_t us);

#endif
