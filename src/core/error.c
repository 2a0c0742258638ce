#include "tmkms/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char tm_err_buf[TM_ERR_MSG_MAX];

tm_status tm_err_set(tm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tm_err_buf, sizeof(tm_err_buf), fmt, ap);
    va_end(ap);
    return status;
}

tm_status tm_err_prefix(tm_status status, const char *fmt, ...)
{
    char old[sizeof(tm_err_buf)];
    memcpy(old, tm_err_buf, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tm_err_buf, sizeof(tm_err_buf), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof(tm_err_buf) ? (size_t)n : sizeof(tm_err_buf) - 1;
    size_t room = sizeof(tm_err_buf) - 1 - used;
    size_t old_len = strnlen(old, sizeof(old) - 1);
    size_t take = old_len < room ? old_len : room;
    memcpy(tm_err_buf + used, old, take);
    tm_err_buf[used + take] = '\0';
    return status;
}

const char *tm_err_msg(void)
{
    return tm_err_buf[0] ? tm_err_buf : "no error message recorded";
}

void tm_err_clear(void)
{
    tm_err_buf[0] = '\0';
}

void tm_err_save(tm_err_saved *saved)
{
    size_t n = strnlen(tm_err_buf, sizeof(tm_err_buf) - 1);
    memcpy(saved->msg, tm_err_buf, n);
    saved->msg[n] = '\0';
}

void tm_err_restore(const tm_err_saved *saved)
{
    size_t n = strnlen(saved->msg, sizeof(saved->msg) - 1);
    memcpy(tm_err_buf, saved->msg, n);
    tm_err_buf[n] = '\0';
}

const char *tm_status_name(tm_status status)
{
    switch (status) {
    case TM_OK: return "ok";
    case TM_ERR_INVALID: return "invalid input";
    case TM_ERR_IO: return "i/o error";
    case TM_ERR_EOF: return "end of stream";
    case TM_ERR_NOMEM: return "out of memory";
    case TM_ERR_TOO_LARGE: return "too large";
    case TM_ERR_CRYPTO: return "cryptographic failure";
    case TM_ERR_CORRUPT: return "corrupt data";
    case TM_ERR_NOT_FOUND: return "not found";
    case TM_ERR_EXISTS: return "already exists";
    case TM_ERR_PERMISSION: return "unsafe permissions";
    case TM_ERR_DOUBLE_SIGN: return "double sign refused";
    case TM_ERR_REFUSED: return "refused";
    case TM_ERR_TIMEOUT: return "timed out";
    case TM_ERR_CONFIG: return "configuration error";
    case TM_ERR_UNAVAILABLE: return "unavailable";
    }
    return "unknown status";
}
