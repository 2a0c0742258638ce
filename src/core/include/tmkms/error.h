/* Status codes and the error-propagation macros every module uses.
 *
 * A function that can fail returns tm_status. On failure it also records a message in a
 * thread-local buffer (tm_err_set) naming what was wrong: the field, the file:line, the
 * path. Callers propagate with TM_TRY and read the message once, where it is reported
 * (a log line, a RemoteSignerError, a CLI error). One cleanup path per function: jump to
 * `out` with TM_TRY_GOTO / TM_ENSURE_GOTO and set `status`. */
#ifndef TMKMS_ERROR_H
#define TMKMS_ERROR_H

#include <stddef.h>

typedef enum {
    TM_OK = 0,
    TM_ERR_INVALID,     /* malformed input: a field, a frame, a config value */
    TM_ERR_IO,          /* read/write/fsync/open failed */
    TM_ERR_EOF,         /* peer closed the stream */
    TM_ERR_NOMEM,       /* allocation failed */
    TM_ERR_TOO_LARGE,   /* a length above its bound */
    TM_ERR_CRYPTO,      /* a cryptographic operation failed or a check did not hold */
    TM_ERR_CORRUPT,     /* stored data failed its checksum or format checks */
    TM_ERR_NOT_FOUND,   /* a file, chain or key that should exist does not */
    TM_ERR_EXISTS,      /* refused to overwrite */
    TM_ERR_PERMISSION,  /* file permissions are unsafe */
    TM_ERR_DOUBLE_SIGN, /* the guard refused: conflicting or regressing request */
    TM_ERR_REFUSED,     /* a policy refused the request (chain id, max height, ...) */
    TM_ERR_TIMEOUT,
    TM_ERR_CONFIG,      /* configuration error, message has file:line */
    TM_ERR_UNAVAILABLE, /* a service we depend on (etcd) did not answer: try again later */
} tm_status;

/* Record a printf-style message for the current thread. Returns `status` so it can be
 * used as `return tm_err_set(TM_ERR_INVALID, "vote.height: %lld < 0", h);`. */
tm_status tm_err_set(tm_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context ("state file x: " + previous message). */
tm_status tm_err_prefix(tm_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tm_err_msg(void);
void tm_err_clear(void);

/* The current message kept aside, for a best-effort step on an error path (counting the
 * failure in a metric) that must not replace the error being reported. */
#define TM_ERR_MSG_MAX 512
typedef struct {
    char msg[TM_ERR_MSG_MAX];
} tm_err_saved;
void tm_err_save(tm_err_saved *saved);
void tm_err_restore(const tm_err_saved *saved);
const char *tm_status_name(tm_status status);

#define TM_TRY(expr)                                                                       \
    do {                                                                                   \
        tm_status tm_try_status_ = (expr);                                                 \
        if (tm_try_status_ != TM_OK) return tm_try_status_;                                \
    } while (0)

/* The ENSURE macros return the status itself rather than tm_err_set's result (the same
 * value), so that a static analyzer, which cannot see into tm_err_set, knows it is not TM_OK. */
#define TM_ENSURE(cond, status, ...)                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            tm_status tm_ensure_status_ = (status);                                        \
            tm_err_set(tm_ensure_status_, __VA_ARGS__);                                    \
            return tm_ensure_status_;                                                      \
        }                                                                                  \
    } while (0)

/* Variants for functions with a cleanup path: they need `tm_status status` and `out:`. */
#define TM_TRY_GOTO(expr)                                                                  \
    do {                                                                                   \
        status = (expr);                                                                   \
        if (status != TM_OK) goto out;                                                     \
    } while (0)

#define TM_ENSURE_GOTO(cond, st, ...)                                                      \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            status = (st);                                                                 \
            tm_err_set(status, __VA_ARGS__);                                               \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)

#endif
