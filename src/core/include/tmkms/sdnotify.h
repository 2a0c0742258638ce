/* systemd service notifications (sd_notify(3)) for Type=notify units: READY=1 once the
 * program serves, STATUS= lines for `systemctl status`, WATCHDOG=1 keep-alives and
 * STOPPING=1 on a termination signal. Every function is a no-op when NOTIFY_SOCKET is
 * unset (not started by systemd, or by a test's receiver), and libsystemd is loaded only
 * when it is set (sdnotify.c). Nothing secret goes into a
 * notification: chain IDs, counts and CIDs only. Thread-safe. */
#ifndef TMKMS_SDNOTIFY_H
#define TMKMS_SDNOTIFY_H

#include <stdint.h>

/* READY=1 (with the STATUS= given last, if any). */
void tm_sd_ready(void);
/* STATUS=<text>, one line (newlines are replaced by spaces). */
void tm_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1. */
void tm_sd_stopping(void);
/* The watchdog interval systemd expects pings within (WATCHDOG_USEC, when WATCHDOG_PID is
 * unset or this process), in microseconds; 0: no watchdog. Ping at half of it at most. */
uint64_t tm_sd_watchdog_interval_us(void);
/* WATCHDOG=1. Only call it when the program is known to be healthy. */
void tm_sd_watchdog_ping(void);

/* How many validator connections (tm_link sessions) are up right now, for STATUS=.
 * Defined in link.c, which keeps the count, not in sdnotify.c: programs that never
 * notify (the enclave) then do not carry the notification code. */
unsigned tm_link_connected(void);

#endif
