/* See sdnotify.h. sd_notify(3) and sd_watchdog_enabled(3) of libsystemd, which is opened
 * (dlopen) the first time a notification is due with NOTIFY_SOCKET set, never otherwise.
 * Why not linked: libsystemd.so.0 brings six more libraries (libcap, libgcrypt,
 * libgpg-error, liblz4, liblzma, libzstd), resident in every process of a program that
 * links it, notifying or not. Measured in `make bench`'s unix row (tmkms without [ha] and
 * [metrics], NOTIFY_SOCKET unset): peak RSS 4.51 MiB with libsystemd linked, 3.62 MiB
 * without, a fifth of the whole. Where libsystemd.so.0 is missing (no systemd on the
 * machine, so nobody listens), notifications are skipped without a word: a debug line
 * only. */
#include "tmkms/sdnotify.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmkms/log.h"

/* The prototypes of sd-daemon.h (stable ABI of libsystemd.so.0). */
typedef int (*sd_notify_fn)(int unset_environment, const char *state);
typedef int (*sd_watchdog_enabled_fn)(int unset_environment, uint64_t *usec);

static struct {
    sd_notify_fn notify;
    sd_watchdog_enabled_fn watchdog_enabled;
} sd;
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

/* Once: libsystemd and its two functions; it stays loaded until exit. */
static void sd_open(void)
{
    void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *why = dlerror();
        tm_log_debug("systemd", "no notifications: %s", why ? why : "libsystemd.so.0 not found");
        return;
    }
    sd_notify_fn notify_fn = (sd_notify_fn)dlsym(lib, "sd_notify");
    sd_watchdog_enabled_fn watchdog_fn = (sd_watchdog_enabled_fn)dlsym(lib, "sd_watchdog_enabled");
    if (notify_fn == NULL || watchdog_fn == NULL) {
        tm_log_debug("systemd", "no notifications: libsystemd.so.0 lacks sd_notify or sd_watchdog_enabled");
        dlclose(lib);
        return;
    }
    sd.notify = notify_fn;
    sd.watchdog_enabled = watchdog_fn;
}

/* NOTIFY_SOCKET is set and libsystemd is there (opened on the first call that needs it). */
static int notifying(void)
{
    const char *socket = getenv("NOTIFY_SOCKET");
    if (socket == NULL || socket[0] == '\0') return 0;
    (void)pthread_once(&sd_once, sd_open);
    return sd.notify != NULL;
}

static void notify(const char *message)
{
    int r = sd.notify(0, message);
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
    return sd.watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void tm_sd_watchdog_ping(void)
{
    if (notifying()) notify("WATCHDOG=1");
}
