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

#define tm_log_error(mod, ...) tm_log(TM_LOG_ERROR, (mod), __VA_ARGS__)
#define tm_log_warn(mod, ...) tm_log(TM_LOG_WARN, (mod), __VA_ARGS__)
#define tm_log_info(mod, ...) tm_log(TM_LOG_INFO, (mod), __VA_ARGS__)
#define tm_log_debug(mod, ...) tm_log(TM_LOG_DEBUG, (mod), __VA_ARGS__)

#endif
