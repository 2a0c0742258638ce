#include "tmkms/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static tm_log_level current_level = TM_LOG_INFO;
/* One lock so lines from several connection threads never interleave. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static tm_log_sink_fn sink_fn;
static void *sink_ctx;

void tm_log_set_sink(tm_log_sink_fn fn, void *ctx)
{
    pthread_mutex_lock(&log_lock);
    sink_fn = fn;
    sink_ctx = ctx;
    pthread_mutex_unlock(&log_lock);
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void tm_log_set_level(tm_log_level level)
{
    current_level = level;
}

tm_log_level tm_log_get_level(void)
{
    return current_level;
}

int tm_log_parse_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

void tm_log(tm_log_level level, const char *module, const char *fmt, ...)
{
    if (level > current_level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0) snprintf(when, sizeof(when), "?");

    char line[1200];
    snprintf(line, sizeof(line), "%s.%06ldZ %-5s [%s] %s", when, ts.tv_nsec / 1000, level_names[level], module, msg);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s\n", line);
    tm_log_sink_fn fn = sink_fn;
    void *ctx = sink_ctx;
    pthread_mutex_unlock(&log_lock);
    if (fn) fn(level, line, ctx);
}
