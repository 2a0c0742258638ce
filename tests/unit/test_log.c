/* The log module: per-module levels (--log-level info,sign=warn,conn=debug), the JSON
 * format (one object per line, parsed back with jansson) and its escaping of hostile
 * messages; the human format stays as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tmkms/log.h"

static FILE *out;

static int setup(void **unused)
{
    (void)unused;
    out = tmpfile();
    if (!out) return -1;
    tm_log_set_stream(out);
    tm_log_set_format(TM_LOG_FORMAT_HUMAN);
    char why[128];
    return tm_log_set_spec("info", why, sizeof(why));
}

static int teardown(void **unused)
{
    (void)unused;
    tm_log_set_stream(NULL);
    (void)fclose(out);
    return 0;
}

/* Everything logged since the last call, as one string (caller frees). */
static char *take(void)
{
    long end = ftell(out);
    char *text = calloc(1, (size_t)end + 1);
    assert_non_null(text);
    rewind(out);
    if (end > 0) assert_int_equal(fread(text, 1, (size_t)end, out), (size_t)end);
    rewind(out);
    assert_int_equal(ftruncate(fileno(out), 0), 0);
    return text;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void test_spec_parsing(void **unused)
{
    (void)unused;
    char why[128];
    assert_int_equal(tm_log_set_spec("info,sign=warn,conn=debug", why, sizeof(why)), 0);
    assert_int_equal(tm_log_get_level(), TM_LOG_INFO);
    assert_int_equal(tm_log_module_level("sign"), TM_LOG_WARN);
    assert_int_equal(tm_log_module_level("conn"), TM_LOG_DEBUG);
    assert_int_equal(tm_log_module_level("chain"), TM_LOG_INFO);
    assert_int_equal(tm_log_module_level("con"), TM_LOG_INFO); /* whole names only */

    /* A plain LEVEL, as before: the default, and the per-module levels are gone. */
    assert_int_equal(tm_log_set_spec("error", why, sizeof(why)), 0);
    assert_int_equal(tm_log_get_level(), TM_LOG_ERROR);
    assert_int_equal(tm_log_module_level("conn"), TM_LOG_ERROR);

    /* Modules alone keep the default; a repeated module takes its last level. */
    assert_int_equal(tm_log_set_spec("conn=info,conn=warn", why, sizeof(why)), 0);
    assert_int_equal(tm_log_get_level(), TM_LOG_ERROR);
    assert_int_equal(tm_log_module_level("conn"), TM_LOG_WARN);

    /* Refusals change nothing and say why. */
    static const char *const bad[] = {"",        "loud",        "info,conn=loud", "info,=debug", "info,debug",
                                      "info,,x", "conn=debug=", "a b=debug",      "info,sign"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (tm_log_set_spec(bad[i], why, sizeof(why)) == 0) fail_msg("'%s' accepted", bad[i]);
        if (!why[0]) fail_msg("'%s': no reason", bad[i]);
        assert_int_equal(tm_log_get_level(), TM_LOG_ERROR);
        assert_int_equal(tm_log_module_level("conn"), TM_LOG_WARN);
    }
    char many[2048] = "info";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ",m%d=debug", i);
    assert_int_not_equal(tm_log_set_spec(many, why, sizeof(why)), 0);

    assert_int_equal(tm_log_parse_format("json"), TM_LOG_FORMAT_JSON);
    assert_int_equal(tm_log_parse_format("human"), TM_LOG_FORMAT_HUMAN);
    assert_int_equal(tm_log_parse_format("JSON"), -1);
    assert_int_equal(tm_log_parse_level("warn"), TM_LOG_WARN);
    assert_int_equal(tm_log_parse_level("warning"), -1);
}

static void test_module_filtering(void **unused)
{
    (void)unused;
    char why[128];
    assert_int_equal(tm_log_set_spec("info,sign=warn,conn=debug", why, sizeof(why)), 0);
    tm_log_info("sign", "hidden: sign is at warn");
    tm_log_warn("sign", "shown 1");
    tm_log_debug("conn", "shown 2");
    tm_log_debug("chain", "hidden: the default is info");
    tm_log_info("chain", "shown 3");
    tm_log_error("sign", "shown 4");
    char *text = take();
    assert_int_equal(count_lines(text), 4);
    assert_null(strstr(text, "hidden"));
    for (int i = 1; i <= 4; i++) {
        char want[16];
        snprintf(want, sizeof(want), "shown %d", i);
        if (!strstr(text, want)) fail_msg("no '%s' in:\n%s", want, text);
    }
    /* The human format as it always was: TIME LEVEL [module] message. */
    assert_non_null(strstr(text, " WARN  [sign] shown 1\n"));
    assert_non_null(strstr(text, " DEBUG [conn] shown 2\n"));
    free(text);

    /* -v after a spec: the default goes to debug, the modules keep theirs. */
    tm_log_set_level(TM_LOG_DEBUG);
    tm_log_debug("chain", "now shown");
    tm_log_info("sign", "still hidden");
    text = take();
    assert_non_null(strstr(text, "now shown"));
    assert_null(strstr(text, "still hidden"));
    free(text);
}

/* One JSON object per line; returns the objects (caller decrefs). */
static json_t *parse_lines(const char *text, size_t want)
{
    json_t *all = json_array();
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_error_t err;
        json_t *obj = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!obj) fail_msg("not JSON (%s): %.*s", err.text, (int)(nl - p), p);
        assert_true(json_is_object(obj));
        json_array_append_new(all, obj);
        p = nl + 1;
    }
    assert_int_equal(json_array_size(all), want);
    return all;
}

static const char *field(json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

static void test_json_fields(void **unused)
{
    (void)unused;
    char why[128];
    assert_int_equal(tm_log_set_spec("debug,sign=warn", why, sizeof(why)), 0);
    tm_log_set_format(TM_LOG_FORMAT_JSON);
    tm_log_info("chain", "[cosmoshub-4] consensus key abc; last signed %d/%d/%s", 10, 0, "precommit");
    tm_log_warn("sign", "no chain here");
    tm_log_info("sign", "filtered in JSON too");
    tm_log_debug("conn", "[not a chain]x");
    tm_log_error("tmkms", "[] empty brackets");
    char *text = take();
    tm_log_set_format(TM_LOG_FORMAT_HUMAN);
    json_t *lines = parse_lines(text, 4);

    json_t *o = json_array_get(lines, 0);
    assert_string_equal(field(o, "level"), "info");
    assert_string_equal(field(o, "module"), "chain");
    assert_string_equal(field(o, "chain"), "cosmoshub-4");
    assert_string_equal(field(o, "msg"), "consensus key abc; last signed 10/0/precommit");
    const char *ts = field(o, "ts"); /* 2024-01-02T03:04:05.123456Z */
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 27);
    assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[26] == 'Z');

    o = json_array_get(lines, 1);
    assert_string_equal(field(o, "level"), "warn");
    assert_null(json_object_get(o, "chain"));
    assert_string_equal(field(o, "msg"), "no chain here");

    o = json_array_get(lines, 2); /* "[not a chain]x": no "] " after the name */
    assert_string_equal(field(o, "level"), "debug");
    assert_null(json_object_get(o, "chain"));
    assert_string_equal(field(o, "msg"), "[not a chain]x");

    o = json_array_get(lines, 3);
    assert_null(json_object_get(o, "chain"));
    assert_string_equal(field(o, "msg"), "[] empty brackets");
    json_decref(lines);
    free(text);
}

static void test_json_hostile(void **unused)
{
    (void)unused;
    char why[128];
    assert_int_equal(tm_log_set_spec("debug", why, sizeof(why)), 0);
    tm_log_set_format(TM_LOG_FORMAT_JSON);
    /* What a hostile node could get into a message: quotes, backslashes, control bytes,
     * a fake second object after a newline, bytes that are not UTF-8. */
    const char *hostile = "a\"b\\c\n{\"level\":\"error\",\"msg\":\"forged\"}\r\t\x01\x1b[31m\x7f end";
    tm_log_warn("conn", "[%s] peer said: %s", "chain\"x", hostile);
    tm_log_warn("conn", "bad utf-8: \xff\xfe \xc3\x28 \xed\xa0\x80 ok \xc3\xa9 \xf0\x9f\x94\x91");
    tm_log_warn("co\"nn\n", "%s", "module name escaped too");
    char long_msg[3000];
    memset(long_msg, '"', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    tm_log_warn("conn", "%s", long_msg); /* truncated at 1023 bytes, every quote escaped */
    char *text = take();
    tm_log_set_format(TM_LOG_FORMAT_HUMAN);
    json_t *lines = parse_lines(text, 4); /* one line each: the newlines were escaped */

    json_t *o = json_array_get(lines, 0);
    assert_string_equal(field(o, "chain"), "chain\"x");
    char want[256];
    snprintf(want, sizeof(want), "peer said: %s", hostile);
    assert_string_equal(field(o, "msg"), want);
    assert_string_equal(field(o, "level"), "warn");

    o = json_array_get(lines, 1);
    assert_string_equal(field(o, "msg"), "bad utf-8: ?? ?( ??? ok \xc3\xa9 \xf0\x9f\x94\x91");

    o = json_array_get(lines, 2);
    assert_string_equal(field(o, "module"), "co\"nn\n");

    o = json_array_get(lines, 3);
    assert_int_equal(strlen(field(o, "msg")), 1023);
    assert_null(strchr(text, '\x01'));
    assert_null(strchr(text, '\x1b'));
    json_decref(lines);
    free(text);
}

/* The sink (the enclave's forwarding) gets the human line whatever the format. */
static char sunk[1300];
static void sink(tm_log_level level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    snprintf(sunk, sizeof(sunk), "%s", line);
}

static void test_sink_human(void **unused)
{
    (void)unused;
    char why[128];
    assert_int_equal(tm_log_set_spec("info", why, sizeof(why)), 0);
    tm_log_set_format(TM_LOG_FORMAT_JSON);
    tm_log_set_sink(sink, NULL);
    tm_log_info("start", "[c] serving");
    tm_log_set_sink(NULL, NULL);
    tm_log_set_format(TM_LOG_FORMAT_HUMAN);
    free(take());
    assert_non_null(strstr(sunk, " INFO  [start] [c] serving"));
    assert_int_not_equal(sunk[0], '{');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spec_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_human, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
