/* Logging: one line per event on stderr. Never pass key material to these functions.
 *
 * Formats: human (the default), "TIME LEVEL [module] message"; or JSON, one object per
 * line: {"ts":"...","level":"info","module":"conn","chain":"...","msg":"..."}, where
 * "chain" is there when the message starts with "[chain-id] " (the prefix is then not
 * repeated in "msg"). Strings are escaped by jansson; bytes that are not UTF-8 become '?'.
 *
 * Levels: a default level and, optionally, one per module ("info,sign=warn,conn=debug").
 * Configure before starting threads: the settings are read without a lock. */
#ifndef TMKMS_LOG_H
#define TMKMS_LOG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { TM_LOG_ERROR = 0, TM_LOG_WARN, TM_LOG_INFO, TM_LOG_DEBUG } tm_log_level;
typedef enum { TM_LOG_FORMAT_HUMAN = 0, TM_LOG_FORMAT_JSON } tm_log_format;

/* The default level (modules with their own level keep it). */
void tm_log_set_level(tm_log_level level);
tm_log_level tm_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int tm_log_parse_level(const char *name);

/* "LEVEL" or "LEVEL,module=LEVEL,..." (the default level first and optional: "conn=debug"
 * alone keeps the default): sets the default and replaces every per-module level. Returns
 * 0, or -1 with nothing changed and the reason in why. */
int tm_log_set_spec(const char *spec, char *why, size_t why_len);
/* The level that applies to a module (its own, else the default). */
tm_log_level tm_log_module_level(const char *module);

void tm_log_set_format(tm_log_format format);
/* Parses "human", "json"; returns -1 for anything else. */
int tm_log_parse_format(const char *name);

void tm_log(tm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An extra destination for every line that passes the level (the enclave forwards its
 * log to the helper over vsock). Called with the line in the human format (no newline)
 * outside the stderr lock; it must not block and must not call tm_log. NULL removes it. */
typedef void (*tm_log_sink_fn)(tm_log_level level, const char *line, void *ctx);
void tm_log_set_sink(tm_log_sink_fn fn, void *ctx);

/* A line another process logged (the enclave's, received by the helper), in the human
 * format "TS LEVEL [module] msg", at that process's level. Human: "SOURCE| line" as it
 * came. JSON: {"ts" (now),"level","module","source":SOURCE,"source_ts","chain","msg"},
 * the fields taken from the line ("module" SOURCE and no "source_ts" when it is not in
 * that format). Not filtered by level (the other process did), not passed to the sink. */
void tm_log_forwarded(tm_log_level level, const char *source, const char *line);

/* Where lines go instead of stderr (tests); NULL: stderr. */
void tm_log_set_stream(FILE *stream);

#define tm_log_error(mod, ...) tm_log(TM_LOG_ERROR, (mod), __VA_ARGS__)
#define tm_log_warn(mod, ...) tm_log(TM_LOG_WARN, (mod), __VA_ARGS__)
#define tm_log_info(mod, ...) tm_log(TM_LOG_INFO, (mod), __VA_ARGS__)
#define tm_log_debug(mod, ...) tm_log(TM_LOG_DEBUG, (mod), __VA_ARGS__)

#endif
