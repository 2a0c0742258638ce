/* toml-test-decoder: the toml-test suite's decoder interface over our TOML parser.
 * TOML on stdin; tagged JSON on stdout and exit 0, or a message on stderr and exit 1. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmkms/toml.h"

#define MAX_INPUT (16u << 20)

static json_t *tagged(const char *type, const char *value)
{
    return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static json_t *to_json(const tm_toml_value *v)
{
    char buf[64];
    switch (v->type) {
    case TM_TOML_STRING: {
        json_t *s = json_stringn(v->u.str.ptr, v->u.str.len);
        json_t *o = json_pack("{s:s, s:o}", "type", "string", "value", s);
        return o;
    }
    case TM_TOML_INTEGER:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->u.integer);
        return tagged("integer", buf);
    case TM_TOML_FLOAT:
        if (isnan(v->u.flt)) snprintf(buf, sizeof(buf), "nan");
        else if (isinf(v->u.flt)) snprintf(buf, sizeof(buf), "%sinf", v->u.flt < 0 ? "-" : "");
        else snprintf(buf, sizeof(buf), "%.17g", v->u.flt);
        return tagged("float", buf);
    case TM_TOML_BOOL: return tagged("bool", v->u.boolean ? "true" : "false");
    case TM_TOML_DATETIME: return tagged("datetime", v->u.datetime);
    case TM_TOML_DATETIME_LOCAL: return tagged("datetime-local", v->u.datetime);
    case TM_TOML_DATE_LOCAL: return tagged("date-local", v->u.datetime);
    case TM_TOML_TIME_LOCAL: return tagged("time-local", v->u.datetime);
    case TM_TOML_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->u.array.len; i++) json_array_append_new(a, to_json(v->u.array.items[i]));
        return a;
    }
    case TM_TOML_TABLE: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->u.table.len; i++) json_object_setn_new(o, v->u.table.keys[i], v->u.table.key_lens[i], to_json(v->u.table.values[i]));
        return o;
    }
    }
    return json_null();
}

int main(void)
{
    char *text = malloc(MAX_INPUT);
    if (!text) return 1;
    size_t len = fread(text, 1, MAX_INPUT, stdin);
    if (len == MAX_INPUT) {
        fprintf(stderr, "input larger than %u bytes\n", MAX_INPUT);
        free(text);
        return 1;
    }
    tm_toml_value *root = NULL;
    if (tm_toml_parse(text, len, "<stdin>", &root) != TM_OK) {
        fprintf(stderr, "%s\n", tm_err_msg());
        free(text);
        return 1;
    }
    json_t *out = to_json(root);
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(out);
    tm_toml_free(root);
    free(text);
    return 0;
}
