/* Logging: one line per event on stderr, "TIME LEVEL [module] message". Never pass key
 * material to these functions. */
#ifndef TMKMS_LOG_H
#define TMKMS_LOG_H

typedef enum { TM_LOG_ERROR = 0, TM_LOG_WARN, TM_LOG_INFO, TM_LOG_DEBUG } tm_log_level;

void tm_log_set_level(tm_log_level level);
tm_log_level tm_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int tm_log_parse_level(const char *name);
void tm_log(tm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An extra destination for every line that passes the level (the enclave forwards its
 * log to the helper over vsock). Called with the formatted line (no newline) outside the
 * stderr lock; it must not block and must not call tm_log. NULL removes it. */
typedef void (*tm_log_sink_fn)(tm_log_level level, const char *line, void *ctx);
void tm_log_set_sink(tm_log_sink_fn fn, void *ctx);

#define tm_log_error(mod, ...) tm_log(TM_LOG_ERROR, (mod), __VA_ARGS__)
#define tm_log_warn(mod, ...) tm_log(TM_LOG_WARN, (mod), __VA_ARGS__)
#define tm_log_info(mod, ...) tm_log(TM_LOG_INFO, (mod), __VA_ARGS__)
#define tm_log_debug(mod, ...) tm_log(TM_LOG_DEBUG, (mod), __VA_ARGS__)

#endif
