/* A TOML 1.0 parser (https://toml.io/en/v1.0.0) producing a tree of tm_toml_value.
 *
 * Debian has no C TOML library, so this one is ours: a recursive-descent parser over the
 * whole document in memory, validated by the toml-test suite (tools/toml-test-decoder and
 * tests/integration/toml_conformance.sh). Every value is allocated as a `node`, whose
 * hidden fields carry what the table rules need: how a table came to exist (header,
 * implicitly by a header, by dotted keys, inline) and whether an array is an array of
 * tables. Errors are TM_ERR_CONFIG with "NAME:LINE: message". */
#include "tmkms/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/utf8.h"

#define MAX_DEPTH 128

enum {
    T_EXPLICIT = 1, /* defined by a [header] */
    T_IMPLICIT = 2, /* created as a parent by a [header] */
    T_DOTTED = 4,   /* created by a dotted key */
    T_FROZEN = 8,   /* inline table: immutable */
    A_TABLES = 16,  /* array created by [[header]] */
};

typedef struct {
    tm_toml_value v; /* first: a node is a value */
    unsigned flags;
    int depth; /* levels below the root: bounded so no consumer recurses too deep */
    size_t cap;
} node;

typedef struct {
    const char *p, *end;
    const char *name;
    int line;
    node *root;
    node *current; /* the table key/values go into */
} parser;

/* ---- errors ---- */

__attribute__((format(printf, 2, 3))) static void fail_msg(parser *ps, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tm_err_set(TM_ERR_CONFIG, "%s:%d: %s", ps->name, ps->line, msg);
}
/* Records the message; the value is TM_ERR_CONFIG, in sight of a static analyzer (which
 * does not follow calls into variadic functions). */
#define fail(ps, ...) (fail_msg((ps), __VA_ARGS__), TM_ERR_CONFIG)

/* ---- nodes ---- */

/* A node `depth` levels below the root; NULL (with the error recorded) when that is
 * deeper than MAX_DEPTH or memory runs out. */
static node *new_node(parser *ps, tm_toml_type type, int depth)
{
    if (depth > MAX_DEPTH) {
        fail_msg(ps, "nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    node *n = calloc(1, sizeof(*n));
    if (!n) {
        fail_msg(ps, "out of memory");
        return NULL;
    }
    n->v.type = type;
    n->v.line = ps->line;
    n->depth = depth;
    return n;
}

void tm_toml_free(tm_toml_value *v)
{
    if (!v) return;
    switch (v->type) {
    case TM_TOML_STRING: free(v->u.str.ptr); break;
    case TM_TOML_DATETIME:
    case TM_TOML_DATETIME_LOCAL:
    case TM_TOML_DATE_LOCAL:
    case TM_TOML_TIME_LOCAL: free(v->u.datetime); break;
    case TM_TOML_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++) tm_toml_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case TM_TOML_TABLE:
        for (size_t i = 0; i < v->u.table.len; i++) {
            free(v->u.table.keys[i]);
            tm_toml_free(v->u.table.values[i]);
        }
        free(v->u.table.keys);
        free(v->u.table.key_lens);
        free(v->u.table.values);
        break;
    default: break;
    }
    free(v);
}

static tm_status grow(parser *ps, node *n, size_t len)
{
    if (len < n->cap) return TM_OK;
    size_t cap = n->cap ? n->cap * 2 : 4;
    if (n->v.type == TM_TOML_ARRAY) {
        tm_toml_value **items = realloc(n->v.u.array.items, cap * sizeof(tm_toml_value *));
        if (!items) return fail(ps, "out of memory");
        n->v.u.array.items = items;
    } else {
        char **keys = realloc(n->v.u.table.keys, cap * sizeof(*keys));
        if (!keys) return fail(ps, "out of memory");
        n->v.u.table.keys = keys;
        tm_toml_value **values = realloc(n->v.u.table.values, cap * sizeof(tm_toml_value *));
        if (!values) return fail(ps, "out of memory");
        n->v.u.table.values = values;
        size_t *lens = realloc(n->v.u.table.key_lens, cap * sizeof(*lens));
        if (!lens) return fail(ps, "out of memory");
        n->v.u.table.key_lens = lens;
    }
    n->cap = cap;
    return TM_OK;
}

static node *table_find(const node *t, const char *key, size_t key_len)
{
    for (size_t i = 0; i < t->v.u.table.len; i++)
        if (t->v.u.table.key_lens[i] == key_len && memcmp(t->v.u.table.keys[i], key, key_len) == 0)
            return (node *)t->v.u.table.values[i];
    return NULL;
}

/* Takes ownership of value (freed on failure). */
static tm_status table_add(parser *ps, node *t, const char *key, size_t key_len, node *value)
{
    tm_status st = grow(ps, t, t->v.u.table.len);
    char *k = st == TM_OK ? malloc(key_len + 1) : NULL;
    if (!k) {
        tm_toml_free(&value->v);
        return st == TM_OK ? fail(ps, "out of memory") : st;
    }
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    t->v.u.table.keys[t->v.u.table.len] = k;
    t->v.u.table.key_lens[t->v.u.table.len] = key_len;
    t->v.u.table.values[t->v.u.table.len++] = &value->v;
    return TM_OK;
}

static tm_status array_add(parser *ps, node *a, node *value)
{
    tm_status st = grow(ps, a, a->v.u.array.len);
    if (st != TM_OK) {
        tm_toml_free(&value->v);
        return st;
    }
    a->v.u.array.items[a->v.u.array.len++] = &value->v;
    return TM_OK;
}

/* ---- characters ---- */

static int peek(const parser *ps, size_t off)
{
    return ps->p + off < ps->end ? (unsigned char)ps->p[off] : -1;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
}

static bool at_newline(const parser *ps)
{
    return peek(ps, 0) == '\n' || (peek(ps, 0) == '\r' && peek(ps, 1) == '\n');
}

static void eat_newline(parser *ps)
{
    ps->p += *ps->p == '\r' ? 2 : 1;
    ps->line++;
}

/* A comment runs to the end of the line; control characters other than tab are invalid. */
static tm_status skip_comment(parser *ps)
{
    if (peek(ps, 0) != '#') return TM_OK;
    for (ps->p++; ps->p < ps->end && !at_newline(ps); ps->p++) {
        unsigned char c = (unsigned char)*ps->p;
        if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(ps, "control character U+%04X in a comment", c);
    }
    return TM_OK;
}

/* After a key/value or header: whitespace, a comment, then a newline or the end. */
static tm_status end_of_line(parser *ps)
{
    skip_ws(ps);
    TM_TRY(skip_comment(ps));
    if (ps->p == ps->end) return TM_OK;
    if (!at_newline(ps)) return fail(ps, "unexpected '%c' after a value (expected a newline)", *ps->p);
    eat_newline(ps);
    return TM_OK;
}

/* Whitespace, newlines and comments (inside arrays). */
static tm_status skip_ws_nl(parser *ps)
{
    for (;;) {
        skip_ws(ps);
        TM_TRY(skip_comment(ps));
        if (ps->p < ps->end && at_newline(ps))
            eat_newline(ps);
        else
            return TM_OK;
    }
}

/* ---- strings ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static tm_status sb_put(parser *ps, strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) return fail(ps, "out of memory");
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return TM_OK;
}

static tm_status sb_codepoint(parser *ps, strbuf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    return sb_put(ps, b, u, n);
}

static tm_status parse_escape(parser *ps, strbuf *b)
{
    int c = peek(ps, 1);
    const char *simple = "b\bt\tn\nf\fr\r\"\"\\\\";
    for (const char *s = simple; *s; s += 2)
        if (c == *s) {
            ps->p += 2;
            return sb_put(ps, b, s + 1, 1);
        }
    if (c != 'u' && c != 'U') return fail(ps, "invalid escape sequence '\\%c'", c > 0x20 && c < 0x7f ? c : '?');
    size_t digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (size_t i = 0; i < digits; i++) {
        int h = peek(ps, 2 + i);
        int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (v < 0) return fail(ps, "\\%c escape needs %zu hex digits", c, digits);
        cp = cp << 4 | (uint32_t)v;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return fail(ps, "escape \\%c names no Unicode scalar value", c);
    ps->p += 2 + digits;
    return sb_codepoint(ps, b, cp);
}

/* One source character of a string body: UTF-8 checked, control characters refused. */
static tm_status string_char(parser *ps, strbuf *b, bool multiline)
{
    uint32_t cp;
    size_t n = tm_utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &cp);
    if (n == 0) return fail(ps, "invalid UTF-8 in a string");
    if ((cp < 0x20 && cp != '\t' && !(multiline && cp == '\n')) || cp == 0x7f)
        return fail(ps, "control character U+%04X in a string", cp);
    if (cp == '\n') ps->line++;
    TM_TRY(sb_put(ps, b, ps->p, n));
    ps->p += n;
    return TM_OK;
}

static tm_status parse_string(parser *ps, char **out, size_t *out_len, bool allow_multiline)
{
    char q = *ps->p;
    bool literal = q == '\'';
    bool multi = allow_multiline && peek(ps, 1) == q && peek(ps, 2) == q;
    strbuf b = {0};
    tm_status st = sb_put(ps, &b, "", 0);
    ps->p += multi ? 3 : 1;
    if (multi && at_newline(ps)) eat_newline(ps); /* a newline right after the opening is trimmed */
    while (st == TM_OK) {
        if (ps->p >= ps->end) {
            st = fail(ps, "unterminated string");
            break;
        }
        if (*ps->p == q) {
            if (!multi) {
                ps->p++;
                break;
            }
            if (peek(ps, 1) == q && peek(ps, 2) == q) {
                /* up to two quotes may end the content: """a""""" */
                size_t extra = 0;
                while (extra < 2 && peek(ps, 3 + extra) == q) extra++;
                st = sb_put(ps, &b, ps->p, extra);
                ps->p += 3 + extra;
                break;
            }
            st = sb_put(ps, &b, ps->p++, 1);
        } else if (multi && *ps->p == '\r') {
            if (peek(ps, 1) != '\n') st = fail(ps, "carriage return without newline in a string");
            else ps->p++; /* CRLF is stored as LF */
        } else if (!literal && *ps->p == '\\') {
            if (multi && (peek(ps, 1) == ' ' || peek(ps, 1) == '\t' || peek(ps, 1) == '\n' || peek(ps, 1) == '\r')) {
                /* line-ending backslash: must be followed by only whitespace to the newline */
                const char *s = ps->p + 1;
                while (s < ps->end && (*s == ' ' || *s == '\t')) s++;
                if (s >= ps->end || !(*s == '\n' || (*s == '\r' && s + 1 < ps->end && s[1] == '\n'))) {
                    st = fail(ps, "a line-ending backslash must be last on its line");
                    break;
                }
                ps->p = s;
                while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || at_newline(ps))) {
                    if (at_newline(ps)) eat_newline(ps);
                    else ps->p++;
                }
            } else {
                st = parse_escape(ps, &b);
            }
        } else if (!multi && (*ps->p == '\n' || *ps->p == '\r')) {
            st = fail(ps, "newline in a single-line string");
        } else {
            st = string_char(ps, &b, multi);
        }
    }
    if (st != TM_OK) {
        free(b.buf);
        return st;
    }
    *out = b.buf;
    *out_len = b.len;
    return TM_OK;
}

/* ---- keys ---- */

static bool is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

typedef struct {
    char *parts[MAX_DEPTH];
    size_t lens[MAX_DEPTH];
    size_t n;
} key_path;

static void key_free(key_path *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->parts[i]);
    k->n = 0;
}

static tm_status parse_key(parser *ps, key_path *k)
{
    k->n = 0;
    for (;;) {
        skip_ws(ps);
        if (k->n == MAX_DEPTH) return fail(ps, "key has more than %d parts", MAX_DEPTH);
        int c = peek(ps, 0);
        if (c == '"' || c == '\'') {
            TM_TRY(parse_string(ps, &k->parts[k->n], &k->lens[k->n], false));
            k->n++;
        } else if (is_bare(c)) {
            const char *s = ps->p;
            while (ps->p < ps->end && is_bare(*ps->p)) ps->p++;
            size_t n = (size_t)(ps->p - s);
            char *part = malloc(n + 1);
            if (!part) return fail(ps, "out of memory");
            memcpy(part, s, n);
            part[n] = '\0';
            k->parts[k->n] = part;
            k->lens[k->n++] = n;
        } else {
            return fail(ps, c < 0 ? "expected a key, found the end" : "expected a key, found '%c'", c);
        }
        skip_ws(ps);
        if (peek(ps, 0) != '.') return TM_OK;
        ps->p++;
    }
}

/* ---- scalars ---- */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The token of a non-string scalar: up to a delimiter. Spaces are allowed once, for
 * "1979-05-27 07:32:00" (handled by the date-time parser). */
static size_t token_len(const parser *ps)
{
    size_t n = 0;
    while (ps->p + n < ps->end) {
        char c = ps->p[n];
        if (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#') break;
        n++;
    }
    return n;
}

/* Copy a number token without underscores, checking each underscore sits between digits. */
static tm_status strip_underscores(parser *ps, const char *s, size_t n, char *out, size_t cap, bool hex)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            bool ok_before = i > 0 && (is_digit(s[i - 1]) || (hex && strchr("abcdefABCDEF", s[i - 1])));
            bool ok_after = i + 1 < n && (is_digit(s[i + 1]) || (hex && strchr("abcdefABCDEF", s[i + 1])));
            if (!ok_before || !ok_after) return fail(ps, "'_' must sit between digits");
            continue;
        }
        if (j + 1 >= cap) return fail(ps, "number too long");
        out[j++] = s[i];
    }
    out[j] = '\0';
    return TM_OK;
}

static tm_status parse_integer(parser *ps, const char *s, size_t n, node *v)
{
    char buf[128];
    int base = 10;
    const char *digits = s;
    size_t dn = n;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        digits = s + 2;
        dn = n - 2;
        if (digits[0] == '_') return fail(ps, "'_' must sit between digits");
    }
    TM_TRY(strip_underscores(ps, digits, dn, buf, sizeof(buf), base == 16));
    const char *d = buf + (base == 10 && (buf[0] == '+' || buf[0] == '-'));
    if (*d == '\0') return fail(ps, "invalid integer");
    for (const char *c = d; *c; c++) {
        int ok = base == 16 ? (is_digit(*c) || strchr("abcdefABCDEF", *c) != NULL)
                 : base == 8 ? (*c >= '0' && *c <= '7')
                 : base == 2 ? (*c == '0' || *c == '1')
                             : is_digit(*c);
        if (!ok) return fail(ps, "invalid digit '%c' in an integer", *c);
    }
    if (base == 10 && d[0] == '0' && d[1] != '\0') return fail(ps, "leading zero in an integer");
    errno = 0;
    char *end = NULL;
    if (base == 10) {
        long long x = strtoll(buf, &end, 10);
        if (errno == ERANGE) return fail(ps, "integer out of 64-bit range");
        v->v.u.integer = x;
    } else {
        unsigned long long x = strtoull(buf, &end, base);
        if (errno == ERANGE || x > (unsigned long long)INT64_MAX) return fail(ps, "integer out of 64-bit range");
        v->v.u.integer = (int64_t)x;
    }
    return TM_OK;
}

static tm_status parse_float(parser *ps, const char *s, size_t n, node *v)
{
    char buf[128];
    const char *body = s + (s[0] == '+' || s[0] == '-');
    size_t bn = n - (size_t)(body - s);
    if ((bn == 3 && memcmp(body, "inf", 3) == 0) || (bn == 3 && memcmp(body, "nan", 3) == 0)) {
        double x = body[0] == 'i' ? INFINITY : NAN;
        v->v.u.flt = s[0] == '-' ? -x : x;
        return TM_OK;
    }
    TM_TRY(strip_underscores(ps, s, n, buf, sizeof(buf), false));
    /* Shape: [+-] int ( . digits )? ( [eE] [+-]? digits )?, int without leading zeros. */
    const char *c = buf + (buf[0] == '+' || buf[0] == '-');
    if (!is_digit(*c)) return fail(ps, "invalid float");
    if (c[0] == '0' && is_digit(c[1])) return fail(ps, "leading zero in a float");
    while (is_digit(*c)) c++;
    if (*c == '.') {
        c++;
        if (!is_digit(*c)) return fail(ps, "a float needs digits after '.'");
        while (is_digit(*c)) c++;
    }
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-') c++;
        if (!is_digit(*c)) return fail(ps, "a float needs digits in its exponent");
        while (is_digit(*c)) c++;
    }
    if (*c != '\0') return fail(ps, "invalid float");
    v->v.u.flt = strtod(buf, NULL);
    return TM_OK;
}

static bool digits_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

static bool valid_date(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* HH:MM:SS(.frac)? at s; returns its length or 0. */
static size_t time_len(const char *s, size_t n)
{
    if (n < 8 || !digits_at(s, 2) || s[2] != ':' || !digits_at(s + 3, 2) || s[5] != ':' || !digits_at(s + 6, 2))
        return 0;
    if (num(s, 2) > 23 || num(s + 3, 2) > 59 || num(s + 6, 2) > 60) return 0;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && is_digit(s[i])) i++;
        if (i == f) return 0;
    }
    return i;
}

/* HH:MM:SS.fffffffff: the longest time kept. TOML lets a parser truncate what it cannot
 * hold ("must be truncated, not rounded"); the fraction can be arbitrarily long in the
 * input, and `out` below is bounded. Found by the toml fuzz target. */
#define TIME_KEPT_MAX 18

static size_t kept(size_t time_len)
{
    return time_len < TIME_KEPT_MAX ? time_len : TIME_KEPT_MAX;
}

/* Dates and times. The token may continue past a space ("1979-05-27 07:32:00Z"). */
static tm_status parse_datetime(parser *ps, node *v)
{
    const char *s = ps->p;
    size_t avail = (size_t)(ps->end - ps->p);
    char out[96];
    size_t used = 0, len = 0;
    if (avail >= 10 && digits_at(s, 4) && s[4] == '-' && digits_at(s + 5, 2) && s[7] == '-' && digits_at(s + 8, 2)) {
        if (!valid_date(num(s, 4), num(s + 5, 2), num(s + 8, 2))) return fail(ps, "invalid date");
        memcpy(out, s, 10);
        used = len = 10;
        v->v.type = TM_TOML_DATE_LOCAL;
        bool sep = avail > 10 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ');
        size_t t = sep ? time_len(s + 11, avail - 11) : 0;
        if (sep && t == 0 && s[10] != ' ') return fail(ps, "invalid time after the date");
        if (t > 0) {
            out[len++] = 'T';
            memcpy(out + len, s + 11, kept(t));
            len += kept(t);
            used = 11 + t;
            v->v.type = TM_TOML_DATETIME_LOCAL;
            if (used < avail && (s[used] == 'Z' || s[used] == 'z')) {
                out[len++] = 'Z';
                used++;
                v->v.type = TM_TOML_DATETIME;
            } else if (used + 6 <= avail && (s[used] == '+' || s[used] == '-') && digits_at(s + used + 1, 2) &&
                       s[used + 3] == ':' && digits_at(s + used + 4, 2)) {
                if (num(s + used + 1, 2) > 23 || num(s + used + 4, 2) > 59) return fail(ps, "invalid time offset");
                memcpy(out + len, s + used, 6);
                len += 6;
                used += 6;
                v->v.type = TM_TOML_DATETIME;
            }
        }
    } else {
        size_t t = time_len(s, avail);
        if (t == 0) return fail(ps, "invalid value");
        memcpy(out, s, kept(t));
        len = kept(t);
        used = t;
        v->v.type = TM_TOML_TIME_LOCAL;
    }
    if (used < avail && !strchr(",]} \t\r\n#", s[used])) return fail(ps, "invalid date or time");
    out[len] = '\0';
    v->v.u.datetime = strdup(out);
    if (!v->v.u.datetime) return fail(ps, "out of memory");
    ps->p += used;
    return TM_OK;
}

static tm_status parse_value(parser *ps, int depth, node **out);

static tm_status parse_array(parser *ps, node *a)
{
    ps->p++;
    for (;;) {
        TM_TRY(skip_ws_nl(ps));
        if (peek(ps, 0) == ']') {
            ps->p++;
            return TM_OK;
        }
        node *item = NULL;
        TM_TRY(parse_value(ps, a->depth + 1, &item));
        TM_TRY(array_add(ps, a, item));
        TM_TRY(skip_ws_nl(ps));
        if (peek(ps, 0) == ',') {
            ps->p++;
        } else if (peek(ps, 0) == ']') {
            ps->p++;
            return TM_OK;
        } else {
            return fail(ps, "expected ',' or ']' in an array");
        }
    }
}

static tm_status assign(parser *ps, node *table, key_path *k, node *value);

/* key = value, into `table` (the current table, or an inline table being read). */
static tm_status parse_keyval(parser *ps, node *table)
{
    key_path k;
    tm_status st = parse_key(ps, &k);
    if (st == TM_OK && peek(ps, 0) != '=') st = fail(ps, "expected '=' after a key");
    node *value = NULL;
    if (st == TM_OK) {
        ps->p++;
        skip_ws(ps);
        st = parse_value(ps, table->depth + (int)k.n, &value);
    }
    if (st == TM_OK) st = assign(ps, table, &k, value);
    key_free(&k);
    return st;
}

static tm_status parse_inline_table(parser *ps, node *t)
{
    ps->p++;
    skip_ws(ps);
    if (peek(ps, 0) == '}') {
        ps->p++;
        t->flags |= T_FROZEN;
        return TM_OK;
    }
    for (;;) {
        TM_TRY(parse_keyval(ps, t));
        skip_ws(ps);
        if (peek(ps, 0) == ',') {
            ps->p++;
            skip_ws(ps);
            if (peek(ps, 0) == '}') return fail(ps, "trailing ',' in an inline table");
        } else if (peek(ps, 0) == '}') {
            ps->p++;
            t->flags |= T_FROZEN;
            return TM_OK;
        } else {
            return fail(ps, "expected ',' or '}' in an inline table");
        }
    }
}

static void freeze(node *n)
{
    if (n->v.type == TM_TOML_TABLE) {
        n->flags |= T_FROZEN;
        for (size_t i = 0; i < n->v.u.table.len; i++) freeze((node *)n->v.u.table.values[i]);
    }
}

static tm_status parse_value(parser *ps, int depth, node **out)
{
    tm_status st = TM_OK;
    int c = peek(ps, 0);
    node *v = NULL;
    if (c == '"' || c == '\'') {
        v = new_node(ps, TM_TOML_STRING, depth);
        st = v ? parse_string(ps, &v->v.u.str.ptr, &v->v.u.str.len, true) : TM_ERR_CONFIG;
    } else if (c == '[') {
        v = new_node(ps, TM_TOML_ARRAY, depth);
        st = v ? parse_array(ps, v) : TM_ERR_CONFIG;
    } else if (c == '{') {
        v = new_node(ps, TM_TOML_TABLE, depth);
        st = v ? parse_inline_table(ps, v) : TM_ERR_CONFIG;
        if (st == TM_OK) freeze(v);
    } else if (c < 0 || c == '\n' || c == '\r' || c == '#') {
        st = fail(ps, "missing value");
    } else {
        size_t n = token_len(ps);
        v = new_node(ps, TM_TOML_INTEGER, depth);
        if (!v) {
            st = TM_ERR_CONFIG;
        } else if (n == 4 && memcmp(ps->p, "true", 4) == 0) {
            v->v.type = TM_TOML_BOOL;
            v->v.u.boolean = true;
            ps->p += n;
        } else if (n == 5 && memcmp(ps->p, "false", 5) == 0) {
            v->v.type = TM_TOML_BOOL;
            ps->p += n;
        } else if ((n >= 8 && ps->p[2] == ':') || (n >= 10 && ps->p[4] == '-' && is_digit(c))) {
            st = parse_datetime(ps, v);
        } else {
            bool is_float = false;
            bool prefixed = n > 2 && ps->p[0] == '0' && (ps->p[1] == 'x' || ps->p[1] == 'o' || ps->p[1] == 'b');
            for (size_t i = 0; i < n && !prefixed; i++)
                is_float |= ps->p[i] == '.' || ps->p[i] == 'e' || ps->p[i] == 'E' || ps->p[i] == 'i' || ps->p[i] == 'n';
            if (n == 0) {
                st = fail(ps, "invalid value");
            } else if (is_float) {
                v->v.type = TM_TOML_FLOAT;
                st = parse_float(ps, ps->p, n, v);
            } else {
                st = parse_integer(ps, ps->p, n, v);
            }
            if (st == TM_OK) ps->p += n;
        }
    }
    if (st != TM_OK) {
        if (v) tm_toml_free(&v->v);
        return st;
    }
    *out = v;
    return TM_OK;
}

/* ---- tables ---- */

/* Walk (creating) the dotted-key parents of k below `table`, then add the last part. */
static tm_status assign(parser *ps, node *table, key_path *k, node *value)
{
    node *t = table;
    for (size_t i = 0; i + 1 < k->n; i++) {
        node *next = table_find(t, k->parts[i], k->lens[i]);
        if (!next) {
            next = new_node(ps, TM_TOML_TABLE, t->depth + 1);
            if (!next) {
                tm_toml_free(&value->v);
                return TM_ERR_CONFIG;
            }
            next->flags = T_DOTTED;
            tm_status st = table_add(ps, t, k->parts[i], k->lens[i], next);
            if (st != TM_OK) {
                tm_toml_free(&value->v);
                return st;
            }
        } else if (next->v.type != TM_TOML_TABLE || !(next->flags & T_DOTTED) || (next->flags & T_FROZEN)) {
            tm_toml_free(&value->v);
            return fail(ps, "key '%s' is already defined and cannot be extended with dotted keys", k->parts[i]);
        }
        t = next;
    }
    if (t->flags & T_FROZEN && t != table) {
        tm_toml_free(&value->v);
        return fail(ps, "inline table cannot be extended");
    }
    if (table_find(t, k->parts[k->n - 1], k->lens[k->n - 1])) {
        tm_toml_free(&value->v);
        return fail(ps, "duplicate key '%s'", k->parts[k->n - 1]);
    }
    return table_add(ps, t, k->parts[k->n - 1], k->lens[k->n - 1], value);
}

/* For a header: step into part i of the path, creating an implicit table if absent. */
static tm_status header_step(parser *ps, node **t, const char *part, size_t len)
{
    node *next = table_find(*t, part, len);
    if (!next) {
        next = new_node(ps, TM_TOML_TABLE, (*t)->depth + 1);
        if (!next) return TM_ERR_CONFIG;
        next->flags = T_IMPLICIT;
        TM_TRY(table_add(ps, *t, part, len, next));
    } else if (next->v.type == TM_TOML_ARRAY && (next->flags & A_TABLES)) {
        next = (node *)next->v.u.array.items[next->v.u.array.len - 1];
    } else if (next->v.type != TM_TOML_TABLE || (next->flags & T_FROZEN)) {
        return fail(ps, "key '%s' is not a table that can be extended", part);
    }
    *t = next;
    return TM_OK;
}

static tm_status parse_header(parser *ps)
{
    bool array = peek(ps, 1) == '[';
    int line = ps->line;
    ps->p += array ? 2 : 1;
    key_path k;
    tm_status st = parse_key(ps, &k);
    if (st == TM_OK && !(peek(ps, 0) == ']' && (!array || peek(ps, 1) == ']')))
        st = fail(ps, "expected '%s' to close the table header", array ? "]]" : "]");
    if (st == TM_OK) ps->p += array ? 2 : 1;
    node *t = ps->root;
    for (size_t i = 0; st == TM_OK && i + 1 < k.n; i++) st = header_step(ps, &t, k.parts[i], k.lens[i]);
    if (st != TM_OK) goto out;
    const char *last = k.parts[k.n - 1];
    size_t last_len = k.lens[k.n - 1];
    node *found = table_find(t, last, last_len);
    if (array) {
        if (!found) {
            found = new_node(ps, TM_TOML_ARRAY, t->depth + 1);
            if (!found) {
                st = TM_ERR_CONFIG;
                goto out;
            }
            found->flags = A_TABLES;
            st = table_add(ps, t, last, last_len, found);
            if (st != TM_OK) goto out;
        } else if (found->v.type != TM_TOML_ARRAY || !(found->flags & A_TABLES)) {
            st = fail(ps, "'%s' is not an array of tables", last);
            goto out;
        }
        node *elem = new_node(ps, TM_TOML_TABLE, found->depth + 1);
        if (!elem) {
            st = TM_ERR_CONFIG;
            goto out;
        }
        elem->flags = T_EXPLICIT;
        elem->v.line = line;
        st = array_add(ps, found, elem);
        if (st != TM_OK) goto out;
        ps->current = elem;
    } else {
        if (!found) {
            found = new_node(ps, TM_TOML_TABLE, t->depth + 1);
            if (!found) {
                st = TM_ERR_CONFIG;
                goto out;
            }
            st = table_add(ps, t, last, last_len, found);
            if (st != TM_OK) goto out;
        } else if (found->v.type != TM_TOML_TABLE || !(found->flags & T_IMPLICIT)) {
            st = fail(ps, "table '%s' is already defined", last);
            goto out;
        }
        found->flags = T_EXPLICIT;
        found->v.line = line;
        ps->current = found;
    }
out:
    key_free(&k);
    return st;
}

static tm_status check_utf8(parser *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t n = (size_t)(ps->end - ps->p);
    int line = 1;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tm_utf8_len(s + i, n - i, &cp);
        if (l == 0) {
            ps->line = line;
            return fail(ps, "invalid UTF-8");
        }
        if (cp == '\n') line++;
        i += l;
    }
    return TM_OK;
}

tm_status tm_toml_parse(const char *text, size_t len, const char *name, tm_toml_value **root)
{
    parser ps = {text, text + len, name ? name : "<input>", 1, NULL, NULL};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ps.p += 3;
    TM_TRY(check_utf8(&ps));
    ps.root = new_node(&ps, TM_TOML_TABLE, 0);
    if (!ps.root) return TM_ERR_CONFIG;
    ps.root->flags = T_EXPLICIT;
    ps.current = ps.root;
    tm_status st = TM_OK;
    while (st == TM_OK) {
        skip_ws(&ps);
        if (ps.p >= ps.end) break;
        if (at_newline(&ps)) {
            eat_newline(&ps);
            continue;
        }
        if (*ps.p == '#') {
            st = end_of_line(&ps);
            continue;
        }
        st = *ps.p == '[' ? parse_header(&ps) : parse_keyval(&ps, ps.current);
        if (st == TM_OK) st = end_of_line(&ps);
    }
    if (st != TM_OK) {
        tm_toml_free(&ps.root->v);
        return st;
    }
    *root = &ps.root->v;
    return TM_OK;
}

const tm_toml_value *tm_toml_get(const tm_toml_value *table, const char *key)
{
    if (!table || table->type != TM_TOML_TABLE) return NULL;
    for (size_t i = 0; i < table->u.table.len; i++)
        if (table->u.table.key_lens[i] == strlen(key) && strcmp(table->u.table.keys[i], key) == 0)
            return table->u.table.values[i];
    return NULL;
}

const char *tm_toml_type_name(tm_toml_type type)
{
    static const char *const names[] = {"string",     "integer", "float", "bool",  "datetime", "datetime-local",
                                        "date-local", "time-local", "array", "table"};
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}
