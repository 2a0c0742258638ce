/* The shared parts of the status documents (tmkms/status_doc.h): the head, a chain and a
 * validator have exactly their documented fields in their documented order, null where
 * nothing is known, the right values (the ages against a fixed `now`); the array and dump
 * helpers with a NULL document; and a validator rendered while another thread keeps
 * changing the link's stats reads whole values only. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/status_doc.h"

#define NOW 1700000000

/* The object's keys are exactly `keys` (NULL-terminated), in that order. */
static void assert_keys(const json_t *o, const char *const *keys)
{
    assert_true(json_is_object(o));
    size_t n = 0;
    for (void *it = json_object_iter((json_t *)o); it; it = json_object_iter_next((json_t *)o, it), n++) {
        assert_non_null(keys[n]);
        assert_string_equal(json_object_iter_key(it), keys[n]);
    }
    assert_null(keys[n]);
}

static json_int_t int_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *str_of(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    assert_non_null(v);
    return v;
}

static void test_head(void **unused)
{
    (void)unused;
    static const char *const keys[] = {"program", "version", "revision", "pid", "uptime_seconds", NULL};
    json_t *doc = tm_status_doc_head("tmkms", NOW - 125, NOW);
    assert_keys(doc, keys);
    assert_string_equal(str_of(doc, "program"), "tmkms");
    assert_string_equal(str_of(doc, "version"), TMKMS_VERSION);
    assert_string_equal(str_of(doc, "revision"), TMKMS_GIT_REV);
    assert_int_equal(int_of(doc, "pid"), getpid());
    assert_int_equal(int_of(doc, "uptime_seconds"), 125);
    json_decref(doc);
}

static const char *const chain_keys[] = {
    "id", "height", "round", "step", "persist_failures", "last_signature_age_seconds", "last_persist_error",
    NULL};

static void test_chain_nothing_yet(void **unused)
{
    (void)unused;
    tm_status_chain_info info = {.id = "sim-chain", .last = {.height = 0, .round = 0, .step = TM_STEP_NONE}};
    json_t *c = tm_status_doc_chain(&info, NOW);
    assert_keys(c, chain_keys);
    assert_string_equal(str_of(c, "id"), "sim-chain");
    assert_int_equal(int_of(c, "height"), 0);
    assert_int_equal(int_of(c, "persist_failures"), 0);
    assert_true(json_is_null(json_object_get(c, "last_signature_age_seconds")));
    assert_true(json_is_null(json_object_get(c, "last_persist_error")));
    json_decref(c);
    info.persist_error = ""; /* "" is none too */
    c = tm_status_doc_chain(&info, NOW);
    assert_true(json_is_null(json_object_get(c, "last_persist_error")));
    json_decref(c);
}

static void test_chain_values(void **unused)
{
    (void)unused;
    tm_status_chain_info info = {.id = "cosmoshub-4",
                                 .last = {.height = 21000412, .round = 3, .step = TM_STEP_PRECOMMIT},
                                 .persist_failures = 2,
                                 .last_new_unix = NOW - 7,
                                 .persist_error = "fsync: Input/output error"};
    json_t *c = tm_status_doc_chain(&info, NOW);
    assert_keys(c, chain_keys);
    assert_int_equal(int_of(c, "height"), 21000412);
    assert_int_equal(int_of(c, "round"), 3);
    assert_string_equal(str_of(c, "step"), tm_step_name(TM_STEP_PRECOMMIT));
    assert_int_equal(int_of(c, "persist_failures"), 2);
    assert_int_equal(int_of(c, "last_signature_age_seconds"), 7);
    assert_string_equal(str_of(c, "last_persist_error"), "fsync: Input/output error");
    json_decref(c);
}

static const char *const validator_keys[] = {"chain",         "addr",       "connected", "sessions",
                                             "state_seconds", "last_error", NULL};

static void test_validator(void **unused)
{
    (void)unused;
    tm_link_stats stats;
    tm_link_stats_init(&stats);
    json_t *v = tm_status_doc_validator("sim-chain", "unix:///run/node.sock", &stats, NOW);
    assert_keys(v, validator_keys);
    assert_string_equal(str_of(v, "chain"), "sim-chain");
    assert_string_equal(str_of(v, "addr"), "unix:///run/node.sock");
    assert_true(json_is_false(json_object_get(v, "connected")));
    assert_int_equal(int_of(v, "sessions"), 0);
    assert_true(json_is_null(json_object_get(v, "state_seconds"))); /* never up */
    assert_true(json_is_null(json_object_get(v, "last_error")));
    json_decref(v);

    atomic_store(&stats.connected, 1);
    atomic_store(&stats.sessions, 3);
    atomic_store(&stats.since, NOW - 300);
    snprintf(stats.last_error, sizeof(stats.last_error), "%s", "connection failed: refused");
    v = tm_status_doc_validator("sim-chain", "tcp://10.0.2.15:26659", &stats, NOW);
    assert_keys(v, validator_keys);
    assert_true(json_is_true(json_object_get(v, "connected")));
    assert_int_equal(int_of(v, "sessions"), 3);
    assert_int_equal(int_of(v, "state_seconds"), 300);
    assert_string_equal(str_of(v, "last_error"), "connection failed: refused");
    json_decref(v);
    pthread_mutex_destroy(&stats.lock);
}

static void test_array_and_dump(void **unused)
{
    (void)unused;
    assert_null(tm_status_doc_add_array(NULL, "chains"));
    assert_null(tm_status_doc_dump(NULL));
    json_t *doc = tm_status_doc_head("tmkms-nitro-helper", NOW, NOW);
    json_t *chains = tm_status_doc_add_array(doc, "chains");
    assert_non_null(chains);
    assert_ptr_equal(json_object_get(doc, "chains"), chains);
    assert_int_equal(json_array_append_new(chains, json_integer(1)), 0);
    char *text = tm_status_doc_dump(doc);
    assert_non_null(text);
    /* indented, fields in the order they were added */
    static const char head[] = "{\n  \"program\": \"tmkms-nitro-helper\",\n  \"version\"";
    assert_memory_equal(text, head, sizeof(head) - 1);
    assert_non_null(strstr(text, "\"uptime_seconds\": 0,\n  \"chains\": [\n    1\n  ]\n}"));
    free(text);
    json_decref(doc);
}

/* ---- a writer changing the stats while validators are rendered ---- */

static const char *const errors[] = {"cannot connect to unix:///run/a.sock: No such file or directory",
                                     "connection failed: Connection refused"};

typedef struct {
    tm_link_stats *stats;
    atomic_bool stop;
} writer_ctx;

static void *writer(void *arg)
{
    writer_ctx *w = arg;
    for (unsigned i = 0; !atomic_load(&w->stop); i++) {
        pthread_mutex_lock(&w->stats->lock);
        snprintf(w->stats->last_error, sizeof(w->stats->last_error), "%s", errors[i % 2]);
        pthread_mutex_unlock(&w->stats->lock);
        atomic_store(&w->stats->connected, (int)(i % 2));
        atomic_fetch_add(&w->stats->sessions, 1);
    }
    return NULL;
}

static void test_validator_concurrent(void **unused)
{
    (void)unused;
    tm_link_stats stats;
    tm_link_stats_init(&stats);
    writer_ctx w = {.stats = &stats};
    atomic_init(&w.stop, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, &w), 0);
    json_int_t prev = 0;
    for (int i = 0; i < 20000; i++) {
        json_t *v = tm_status_doc_validator("c", "a", &stats, NOW);
        const char *err = json_string_value(json_object_get(v, "last_error"));
        if (err) assert_true(strcmp(err, errors[0]) == 0 || strcmp(err, errors[1]) == 0);
        assert_true(int_of(v, "sessions") >= prev);
        prev = int_of(v, "sessions");
        json_decref(v);
    }
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&stats.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head),           cmocka_unit_test(test_chain_nothing_yet),
        cmocka_unit_test(test_chain_values),   cmocka_unit_test(test_validator),
        cmocka_unit_test(test_array_and_dump), cmocka_unit_test(test_validator_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
