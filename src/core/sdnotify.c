/* See sdnotify.h. A thin layer over libsystemd's sd_notify(3), which already does nothing
 * without NOTIFY_SOCKET; the check here only saves formatting the message. */
#include "tmkms/sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "tmkms/log.h"

static int notifying(void)
{
    const char *socket = getenv("NOTIFY_SOCKET");
    return socket != NULL && socket[0] != '\0';
}

static void notify(const char *message)
{
    int r = sd_notify(0, message);
    if (r < 0) tm_log_debug("systemd", "sd_notify: error %d", -r);
}

void tm_sd_ready(void)
{
    if (notifying()) notify("READY=1");
}

void tm_sd_status(const char *fmt, ...)
{
    if (!notifying()) return;
    char message[512];
    int prefix = snprintf(message, sizeof(message), "STATUS=");
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(message + prefix, sizeof(message) - (size_t)prefix, fmt, ap);
    va_end(ap);
    /* One assignment per line in the datagram: a newline would end STATUS= early. */
    for (char *c = message; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    notify(message);
}

void tm_sd_stopping(void)
{
    if (notifying()) notify("STOPPING=1");
}

uint64_t tm_sd_watchdog_interval_us(void)
{
    if (!notifying()) return 0;
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void tm_sd_watchdog_ping(void)
{
    if (notifying()) notify("WATCHDOG=1");
}
