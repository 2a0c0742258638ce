#include "tmkms/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tmkms/utf8.h"

/* Per-module levels: few modules exist ("conn", "sign", "chain", ...), a small table. */
#define MAX_MODULES 32
#define MAX_MODULE_NAME 32

typedef struct {
    char name[MAX_MODULE_NAME];
    tm_log_level level;
} module_level;

static tm_log_level current_level = TM_LOG_INFO;
static module_level modules[MAX_MODULES];
static size_t n_modules;
static tm_log_format current_format = TM_LOG_FORMAT_HUMAN;
static FILE *out_stream;
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

void tm_log_set_stream(FILE *stream)
{
    pthread_mutex_lock(&log_lock);
    out_stream = stream;
    pthread_mutex_unlock(&log_lock);
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const level_words[] = {"error", "warn", "info", "debug"};

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
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_words[i]) == 0) return i;
    return -1;
}

static int parse_level_n(const char *s, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (strlen(level_words[i]) == len && strncmp(s, level_words[i], len) == 0) return i;
    return -1;
}

static bool module_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

int tm_log_set_spec(const char *spec, char *why, size_t why_len)
{
    module_level parsed[MAX_MODULES];
    size_t n = 0;
    int def = (int)current_level;
    bool def_given = false;
    const char *p = spec;
    if (!*p) {
        snprintf(why, why_len, "empty (expected LEVEL[,module=LEVEL...])");
        return -1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            int level = parse_level_n(p, len);
            if (level < 0 || def_given) {
                snprintf(why, why_len, "'%.*s' is not error, warn, info or debug%s", (int)len, p,
                         def_given && level >= 0 ? " (the default level is given twice)" : "");
                return -1;
            }
            def = level;
            def_given = true;
        } else {
            size_t name_len = (size_t)(eq - p);
            int level = parse_level_n(eq + 1, len - name_len - 1);
            bool name_ok = name_len > 0 && name_len < MAX_MODULE_NAME;
            for (size_t i = 0; name_ok && i < name_len; i++)
                name_ok = module_char(p[i]);
            if (!name_ok || level < 0) {
                snprintf(why, why_len, "'%.*s' is not module=LEVEL (LEVEL: error, warn, info or debug)",
                         (int)len, p);
                return -1;
            }
            size_t slot = 0;
            while (slot < n &&
                   (strlen(parsed[slot].name) != name_len || strncmp(parsed[slot].name, p, name_len) != 0))
                slot++;
            if (slot == n) {
                if (n == MAX_MODULES) {
                    snprintf(why, why_len, "more than %d modules", MAX_MODULES);
                    return -1;
                }
                memcpy(parsed[n].name, p, name_len);
                parsed[n].name[name_len] = '\0';
                n++;
            }
            parsed[slot].level = (tm_log_level)level;
        }
        if (!end) break;
        p = end + 1;
    }
    current_level = (tm_log_level)def;
    memcpy(modules, parsed, n * sizeof(parsed[0]));
    n_modules = n;
    return 0;
}

tm_log_level tm_log_module_level(const char *module)
{
    for (size_t i = 0; i < n_modules; i++)
        if (strcmp(modules[i].name, module) == 0) return modules[i].level;
    return current_level;
}

void tm_log_set_format(tm_log_format format)
{
    current_format = format;
}

int tm_log_parse_format(const char *name)
{
    if (strcmp(name, "human") == 0) return TM_LOG_FORMAT_HUMAN;
    if (strcmp(name, "json") == 0) return TM_LOG_FORMAT_JSON;
    return -1;
}

/* {"ts","level","module"[,"chain"],"msg"} on one line (malloc'd; NULL when out of
 * memory); the message is modified (made UTF-8). */
typedef struct {
    const char *source;    /* "enclave" for a forwarded line, else NULL */
    const char *source_ts; /* the time stamp the source wrote, or NULL */
} json_extra;

static char *format_json(const char *ts, tm_log_level level, const char *module, char *msg,
                         const json_extra *x)
{
    char chain[128] = "";
    const char *text = msg;
    if (msg[0] == '[') {
        const char *close = strstr(msg, "] ");
        size_t len = close ? (size_t)(close - msg - 1) : 0;
        if (len > 0 && len < sizeof(chain) && !memchr(msg + 1, '[', len)) {
            memcpy(chain, msg + 1, len);
            chain[len] = '\0';
            text = close + 2;
        }
    }
    char mod[MAX_MODULE_NAME * 2];
    snprintf(mod, sizeof(mod), "%s", module);
    tm_utf8_sanitize(mod);
    tm_utf8_sanitize(msg); /* text points into msg */
    tm_utf8_sanitize(chain);
    json_t *obj = json_object();
    if (!obj) return NULL;
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(level_words[level]));
    json_object_set_new(obj, "module", json_string(mod));
    if (x && x->source) json_object_set_new(obj, "source", json_string(x->source));
    if (x && x->source_ts) json_object_set_new(obj, "source_ts", json_string(x->source_ts));
    if (chain[0]) json_object_set_new(obj, "chain", json_string(chain));
    json_object_set_new(obj, "msg", json_string(text));
    /* JSON_PRESERVE_ORDER: the fields in the order above, for people reading the lines. */
    char *dumped = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return dumped;
}

static void time_stamp(char *stamp, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0) snprintf(when, sizeof(when), "?");
    snprintf(stamp, cap, "%s.%06ldZ", when, ts.tv_nsec / 1000);
}

/* Writes one line under the lock: `human` (after "SOURCE| " for a forwarded one) in the
 * human format; `json` in the JSON format, or a line saying it could not be made. The
 * sink as it is under that lock goes to *fn and *ctx when fn is not NULL. */
static void emit(tm_log_level level, const char *stamp, const char *source, const char *human,
                 const char *json, tm_log_sink_fn *fn, void **ctx)
{
    pthread_mutex_lock(&log_lock);
    FILE *out = out_stream ? out_stream : stderr;
    if (current_format != TM_LOG_FORMAT_JSON)
        fprintf(out, "%s%s%s\n", source ? source : "", source ? "| " : "", human);
    else if (json)
        fprintf(out, "%s\n", json);
    else
        fprintf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(out of memory)\"}\n", stamp,
                level_words[level]);
    if (fn) {
        *fn = sink_fn;
        *ctx = sink_ctx;
    }
    pthread_mutex_unlock(&log_lock);
}

void tm_log(tm_log_level level, const char *module, const char *fmt, ...)
{
    if (level > tm_log_module_level(module)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char stamp[64];
    time_stamp(stamp, sizeof(stamp));

    char line[1200];
    snprintf(line, sizeof(line), "%s %-5s [%s] %s", stamp, level_names[level], module, msg);
    char *json = current_format == TM_LOG_FORMAT_JSON ? format_json(stamp, level, module, msg, NULL) : NULL;
    tm_log_sink_fn fn = NULL;
    void *ctx = NULL;
    emit(level, stamp, NULL, line, json, &fn, &ctx);
    free(json);
    if (fn) fn(level, line, ctx);
}

/* Splits "TS LEVEL [module] msg" (the human format) in place; false when line is not one. */
static bool split_human(char *line, char **ts, char **module, char **msg)
{
    char *sp = strchr(line, ' ');
    if (!sp || sp == line) return false;
    *sp = '\0';
    char *p = sp + 1;
    while (*p && *p != ' ')
        p++; /* the level word */
    while (*p == ' ')
        p++;
    char *close = *p == '[' ? strstr(p, "] ") : NULL;
    if (!close || close == p + 1) {
        *sp = ' ';
        return false;
    }
    *close = '\0';
    *ts = line;
    *module = p + 1;
    *msg = close + 2;
    return true;
}

void tm_log_forwarded(tm_log_level level, const char *source, const char *line)
{
    if ((unsigned)level > TM_LOG_DEBUG) level = TM_LOG_DEBUG;
    char copy[1200], stamp[64];
    snprintf(copy, sizeof(copy), "%s", line);
    time_stamp(stamp, sizeof(stamp));
    char *json = NULL;
    if (current_format == TM_LOG_FORMAT_JSON) {
        char *src_ts = NULL, *module = NULL, *msg = NULL;
        bool split = split_human(copy, &src_ts, &module, &msg);
        if (split) tm_utf8_sanitize(src_ts);
        json_extra x = {source, split ? src_ts : NULL};
        json = format_json(stamp, level, split ? module : source, split ? msg : copy, &x);
    }
    emit(level, stamp, source, line, json, NULL, NULL);
    free(json);
}
