/* A TOML 1.0 parser producing a tree. Our own (Debian has no C TOML library); proven
 * against the toml-test suite by tools/toml-test-decoder. */
#ifndef TMKMS_TOML_H
#define TMKMS_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

typedef enum {
    TM_TOML_STRING,
    TM_TOML_INTEGER,
    TM_TOML_FLOAT,
    TM_TOML_BOOL,
    TM_TOML_DATETIME,       /* offset date-time */
    TM_TOML_DATETIME_LOCAL, /* local date-time */
    TM_TOML_DATE_LOCAL,
    TM_TOML_TIME_LOCAL,
    TM_TOML_ARRAY,
    TM_TOML_TABLE,
} tm_toml_type;

typedef struct tm_toml_value tm_toml_value;

struct tm_toml_value {
    tm_toml_type type;
    int line; /* 1-based line where the value (for tables: the header or first key) starts */
    union {
        struct {
            char *ptr; /* NUL-terminated; may contain NUL bytes before len (\u0000) */
            size_t len;
        } str;
        int64_t integer;
        double flt;
        bool boolean;
        /* Date/time kinds: the text normalized to RFC 3339 ("1979-05-27T07:32:00Z",
         * "T" separator, as written otherwise). */
        char *datetime;
        struct {
            tm_toml_value **items;
            size_t len;
        } array;
        struct {
            char **keys;             /* NUL-terminated key names, in document order */
            size_t *key_lens;        /* their lengths (a quoted key may contain NUL) */
            tm_toml_value **values;
            size_t len;
        } table;
    } u;
};

/* Parse a whole document. On error returns TM_ERR_CONFIG with "NAME:LINE: message" in
 * tm_err_msg(), NAME being `name` (a file path, or "<stdin>"). */
tm_status tm_toml_parse(const char *text, size_t len, const char *name, tm_toml_value **root);
void tm_toml_free(tm_toml_value *value);

/* Lookup of a direct child of a table; NULL when absent or `table` is not a table. */
const tm_toml_value *tm_toml_get(const tm_toml_value *table, const char *key);
const char *tm_toml_type_name(tm_toml_type type);

#endif
