/* The metrics registry and endpoint (tmkms/metrics.h): the exact exposition of a small
 * registry (escaping, histograms), get-or-create identity, type/help/bounds conflicts,
 * invalid names, the series bound, NULL-safety, 8 threads updating one counter and one
 * histogram (exact totals, rendering meanwhile), the process metrics (also with
 * PR_SET_DUMPABLE 0, as the programs run), the HTTP endpoint fetched with libcurl, and
 * `promtool check metrics` on an exposition with every kind of metric (skipped when
 * promtool is not installed). Run under ThreadSanitizer by `make test-tsan`. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/metrics.h"

#define THREADS 8
#define PER_THREAD 20000

static int64_t fixed_42(void *ctx)
{
    (void)ctx;
    return 42;
}

static int64_t no_value(void *ctx)
{
    (void)ctx;
    return TM_GAUGE_FN_NONE;
}

/* A histogram's count: the sum of its buckets. */
static uint64_t histogram_count(tm_histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->n_bounds; i++)
        n += atomic_load(&h->buckets[i]);
    return n;
}

static char *render(tm_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(tm_metrics_render(m, &text, &len), TM_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the line starting with `series ` in text, or -1. */
static long long series_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtoll(p + n + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    return -1;
}

static void test_render_exact(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    const tm_labels l1 = {.name = {"chain", "type"}, .value = {"a\"b\\c\nd", "prevote"}};
    const tm_labels l2 = {.name = {"chain", "type"}, .value = {"x", "precommit"}};
    tm_counter *c1 = tm_metrics_counter(m, "tmkms_signatures_total", "Signatures \\ with\nnewline.", &l1);
    tm_counter *c2 = tm_metrics_counter(m, "tmkms_signatures_total", "Signatures \\ with\nnewline.", &l2);
    assert_non_null(c1);
    assert_non_null(c2);
    tm_counter_add(c1, 3);
    tm_counter_add(c2, 1);
    tm_gauge *g = tm_metrics_gauge(m, "tmkms_height", "Height.", NULL);
    assert_non_null(g);
    tm_gauge_set(g, 10);
    tm_gauge_add(g, -15);
    const double bounds[] = {0.00005, 0.001, 0.25, 1};
    const tm_labels lh = {.name = {"chain"}, .value = {"c"}};
    tm_histogram *h = tm_metrics_histogram(m, "tmkms_sign_duration_seconds", "Sign time.", &lh, bounds, 4);
    assert_non_null(h);
    tm_histogram_observe_ns(h, 50000);                                /* le 5e-05 exactly */
    tm_histogram_observe_ns(h, 1000000);                              /* le 0.001 exactly */
    tm_histogram_observe_ns(h, 2000000000);                           /* +Inf */
    tm_histogram_observe_ns(h, 300000000);                            /* le 1 */
    const tm_labels lf = {.name = {NULL, "k"}, .value = {NULL, "v"}}; /* unused pairs skipped */
    assert_int_equal(tm_metrics_gauge_fn(m, "tmkms_fn", "Computed.", &lf, fixed_42, NULL), TM_OK);
    assert_int_equal(tm_metrics_gauge_fn(m, "tmkms_fn", "Computed.", NULL, no_value, NULL), TM_OK);
    tm_histogram *empty = tm_metrics_histogram(m, "tmkms_empty_seconds", "No bounds.", NULL, NULL, 0);
    assert_non_null(empty);

    const char *want =
        "# HELP tmkms_metrics_series_dropped_total Series not created because the registry already "
        "held its maximum number of series.\n"
        "# TYPE tmkms_metrics_series_dropped_total counter\n"
        "tmkms_metrics_series_dropped_total 0\n"
        "# HELP tmkms_signatures_total Signatures \\\\ with\\nnewline.\n"
        "# TYPE tmkms_signatures_total counter\n"
        "tmkms_signatures_total{chain=\"a\\\"b\\\\c\\nd\",type=\"prevote\"} 3\n"
        "tmkms_signatures_total{chain=\"x\",type=\"precommit\"} 1\n"
        "# HELP tmkms_height Height.\n"
        "# TYPE tmkms_height gauge\n"
        "tmkms_height -5\n"
        "# HELP tmkms_sign_duration_seconds Sign time.\n"
        "# TYPE tmkms_sign_duration_seconds histogram\n"
        "tmkms_sign_duration_seconds_bucket{chain=\"c\",le=\"5e-05\"} 1\n"
        "tmkms_sign_duration_seconds_bucket{chain=\"c\",le=\"0.001\"} 2\n"
        "tmkms_sign_duration_seconds_bucket{chain=\"c\",le=\"0.25\"} 2\n"
        "tmkms_sign_duration_seconds_bucket{chain=\"c\",le=\"1\"} 3\n"
        "tmkms_sign_duration_seconds_bucket{chain=\"c\",le=\"+Inf\"} 4\n"
        "tmkms_sign_duration_seconds_sum{chain=\"c\"} 2.30105\n"
        "tmkms_sign_duration_seconds_count{chain=\"c\"} 4\n"
        "# HELP tmkms_fn Computed.\n"
        "# TYPE tmkms_fn gauge\n"
        "tmkms_fn{k=\"v\"} 42\n"
        "# HELP tmkms_empty_seconds No bounds.\n"
        "# TYPE tmkms_empty_seconds histogram\n"
        "tmkms_empty_seconds_bucket{le=\"+Inf\"} 0\n"
        "tmkms_empty_seconds_sum 0\n"
        "tmkms_empty_seconds_count 0\n";
    char *text = render(m);
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(histogram_count(h), 4);
    tm_metrics_free(m);
}

static void test_identity(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    const tm_labels ab = {.name = {"a", "b"}, .value = {"1", "2"}};
    const tm_labels ba = {.name = {"b", NULL, "a"}, .value = {"2", NULL, "1"}};
    const tm_labels other = {.name = {"a", "b"}, .value = {"1", "3"}};
    const tm_labels only_a = {.name = {"a"}, .value = {"1"}};
    tm_counter *c = tm_metrics_counter(m, "x_total", "X.", &ab);
    assert_non_null(c);
    assert_ptr_equal(tm_metrics_counter(m, "x_total", "X.", &ab), c);
    assert_ptr_equal(tm_metrics_counter(m, "x_total", "X.", &ba), c); /* a set: order does not matter */
    assert_ptr_not_equal(tm_metrics_counter(m, "x_total", "X.", &other), c);
    assert_ptr_not_equal(tm_metrics_counter(m, "x_total", "X.", &only_a), c);
    tm_counter *bare = tm_metrics_counter(m, "x_total", "X.", NULL);
    assert_non_null(bare);
    assert_ptr_not_equal(bare, c);
    const tm_labels none = {{NULL}, {NULL}};
    assert_ptr_equal(tm_metrics_counter(m, "x_total", "X.", &none), bare);
    tm_histogram *h = tm_metrics_histogram(m, "h_seconds", "H.", NULL, tm_metrics_latency_bounds,
                                           tm_metrics_latency_bounds_n);
    assert_non_null(h);
    assert_ptr_equal(tm_metrics_histogram(m, "h_seconds", "H.", NULL, tm_metrics_latency_bounds,
                                          tm_metrics_latency_bounds_n),
                     h);
    assert_int_equal(h->n_bounds, tm_metrics_latency_bounds_n);
    /* The same fn and ctx again is fine; another is not. */
    int ctx = 0;
    assert_int_equal(tm_metrics_gauge_fn(m, "f", "F.", NULL, fixed_42, &ctx), TM_OK);
    assert_int_equal(tm_metrics_gauge_fn(m, "f", "F.", NULL, fixed_42, &ctx), TM_OK);
    assert_int_equal(tm_metrics_gauge_fn(m, "f", "F.", NULL, no_value, &ctx), TM_ERR_EXISTS);
    assert_int_equal(tm_metrics_gauge_fn(m, "f", "F.", NULL, fixed_42, NULL), TM_ERR_EXISTS);
    /* tm_metrics_add_process twice: the same series again. */
    assert_int_equal(tm_metrics_add_process(m, "tmkms", "1.0", "abc", 0), TM_OK);
    assert_int_equal(tm_metrics_add_process(m, "tmkms", "1.0", "abc", 0), TM_OK);
    /* Global. */
    assert_null(tm_metrics_global());
    tm_metrics_set_global(m);
    assert_ptr_equal(tm_metrics_global(), m);
    tm_metrics_set_global(NULL);
    tm_metrics_free(m);
}

static void test_conflicts(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    assert_non_null(tm_metrics_counter(m, "c_total", "C.", NULL));
    /* A getter that answers NULL leaves the caller's error message: it is called on error
     * paths, to count the error being reported. */
    tm_err_set(TM_ERR_IO, "the caller's error");
    assert_null(tm_metrics_gauge(m, "c_total", "C.", NULL));
    assert_string_equal(tm_err_msg(), "the caller's error");
    assert_null(tm_metrics_histogram(m, "c_total", "C.", NULL, NULL, 0));
    assert_string_equal(tm_err_msg(), "the caller's error");
    assert_int_not_equal(tm_metrics_gauge_fn(m, "c_total", "C.", NULL, fixed_42, NULL), TM_OK);
    assert_non_null(strstr(tm_err_msg(), "c_total: a counter, not a gauge"));
    assert_null(tm_metrics_counter(m, "c_total", "Other help.", NULL));
    assert_null(tm_metrics_counter(m, "c_total", NULL, NULL));
    /* NULL help is "" */
    assert_non_null(tm_metrics_counter(m, "d_total", NULL, NULL));
    assert_non_null(tm_metrics_counter(m, "d_total", "", NULL));
    /* A gauge and a computed gauge share a family, not a series. */
    assert_non_null(tm_metrics_gauge(m, "g", "G.", NULL));
    assert_int_equal(tm_metrics_gauge_fn(m, "g", "G.", NULL, fixed_42, NULL), TM_ERR_INVALID);
    const tm_labels l = {.name = {"k"}, .value = {"v"}};
    assert_int_equal(tm_metrics_gauge_fn(m, "g", "G.", &l, fixed_42, NULL), TM_OK);
    assert_null(tm_metrics_gauge(m, "g", "G.", &l));
    /* Histogram bounds: one set per family. */
    const double b1[] = {0.1, 1};
    const double b2[] = {0.1, 2};
    assert_non_null(tm_metrics_histogram(m, "h_seconds", "H.", NULL, b1, 2));
    assert_null(tm_metrics_histogram(m, "h_seconds", "H.", NULL, b2, 2));
    assert_null(tm_metrics_histogram(m, "h_seconds", "H.", &l, b1, 1));
    assert_non_null(tm_metrics_histogram(m, "h_seconds", "H.", &l, b1, 2));
    tm_metrics_free(m);
}

static void test_invalid(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", "a.b", "a{b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_null(tm_metrics_counter(m, bad_names[i], "H.", NULL));
        assert_null(tm_metrics_gauge(m, bad_names[i], "H.", NULL));
        assert_null(tm_metrics_histogram(m, bad_names[i], "H.", NULL, NULL, 0));
        assert_int_equal(tm_metrics_gauge_fn(m, bad_names[i], "H.", NULL, fixed_42, NULL), TM_ERR_INVALID);
        assert_non_null(strstr(tm_err_msg(), "invalid metric name"));
    }
    assert_null(tm_metrics_counter(m, NULL, "H.", NULL));
    assert_non_null(tm_metrics_counter(m, "ok:with_colon_total", "H.", NULL));
    assert_non_null(tm_metrics_counter(m, ":lead_total", "H.", NULL));
    assert_non_null(tm_metrics_counter(m, "_x9_total", "H.", NULL));

    const char *bad_labels[] = {"", "__reserved", "1x", "a-b", "a:b", "é"};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        const tm_labels l = {.name = {bad_labels[i]}, .value = {"v"}};
        assert_null(tm_metrics_counter(m, "l_total", "H.", &l));
        assert_int_equal(tm_metrics_gauge_fn(m, "l_fn", "H.", &l, fixed_42, NULL), TM_ERR_INVALID);
        assert_non_null(strstr(tm_err_msg(), "label"));
    }
    const tm_labels ok = {.name = {"_x", "a1"}, .value = {"", "v"}};
    assert_non_null(tm_metrics_counter(m, "l_total", "H.", &ok));
    const tm_labels dup = {.name = {"a", "a"}, .value = {"1", "2"}};
    assert_null(tm_metrics_counter(m, "l_total", "H.", &dup));
    const tm_labels no_value = {.name = {"a"}, .value = {NULL}};
    assert_null(tm_metrics_counter(m, "l_total", "H.", &no_value));
    const tm_labels not_utf8 = {.name = {"a"}, .value = {"\xff\xfe"}};
    assert_null(tm_metrics_counter(m, "l_total", "H.", &not_utf8));
    const tm_labels overlong = {.name = {"a"}, .value = {"\xc0\xaf"}};
    assert_null(tm_metrics_counter(m, "l_total", "H.", &overlong));
    const tm_labels utf8 = {.name = {"a"}, .value = {"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"}};
    assert_non_null(tm_metrics_counter(m, "l_total", "H.", &utf8));
    const tm_labels le = {.name = {"le"}, .value = {"1"}};
    assert_null(tm_metrics_histogram(m, "le_seconds", "H.", &le, NULL, 0));
    assert_non_null(tm_metrics_counter(m, "le_total", "H.", &le)); /* reserved in histograms only */

    const double desc[] = {1, 0.5};
    const double same[] = {1, 1};
    const double inf[] = {1, 1.0 / 0.0};
    double many[TM_METRICS_MAX_BUCKETS + 1];
    for (size_t i = 0; i < TM_METRICS_MAX_BUCKETS + 1; i++) {
        many[i] = (double)(i + 1);
    }
    assert_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, desc, 2));
    assert_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, same, 2));
    assert_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, inf, 2));
    assert_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, NULL, 2));
    assert_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, many, TM_METRICS_MAX_BUCKETS + 1));
    assert_non_null(tm_metrics_histogram(m, "b_seconds", "H.", NULL, many, TM_METRICS_MAX_BUCKETS));
    /* Nothing invalid left a family behind. */
    char *text = render(m);
    assert_null(strstr(text, "1abc"));
    assert_null(strstr(text, "le_seconds"));
    free(text);
    tm_metrics_free(m);
}

static void test_bound(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    tm_counter *first = NULL;
    for (int i = 0; i < TM_METRICS_MAX_SERIES; i++) {
        char v[16];
        (void)snprintf(v, sizeof v, "%d", i);
        const tm_labels l = {.name = {"i"}, .value = {v}};
        tm_counter *c = tm_metrics_counter(m, "many_total", "Many.", &l);
        assert_non_null(c);
        if (i == 0) first = c;
    }
    const tm_labels extra = {.name = {"i"}, .value = {"extra"}};
    assert_null(tm_metrics_counter(m, "many_total", "Many.", &extra));
    assert_null(tm_metrics_gauge(m, "new_gauge", "New.", NULL));
    assert_int_equal(tm_metrics_gauge_fn(m, "new_fn", "New.", NULL, fixed_42, NULL), TM_ERR_TOO_LARGE);
    assert_non_null(strstr(tm_err_msg(), "dropped"));
    /* Existing series are still found. */
    const tm_labels zero = {.name = {"i"}, .value = {"0"}};
    assert_ptr_equal(tm_metrics_counter(m, "many_total", "Many.", &zero), first);
    char *text = render(m);
    assert_int_equal(series_value(text, "tmkms_metrics_series_dropped_total"), 3);
    assert_null(strstr(text, "new_gauge"));
    assert_int_equal(series_value(text, "many_total{i=\"4095\"}"), 0);
    free(text);
    tm_metrics_free(m);
}

static void test_null_safety(void **state)
{
    (void)state;
    tm_counter_add(NULL, 1);
    tm_gauge_set(NULL, 1);
    tm_gauge_add(NULL, 1);
    tm_histogram_observe_ns(NULL, 1);
    assert_null(tm_metrics_counter(NULL, "a_total", "A.", NULL));
    assert_null(tm_metrics_gauge(NULL, "a", "A.", NULL));
    assert_null(tm_metrics_histogram(NULL, "a", "A.", NULL, NULL, 0));
    /* Metrics off: the registrations do nothing and succeed. */
    assert_int_equal(tm_metrics_gauge_fn(NULL, "a", "A.", NULL, fixed_42, NULL), TM_OK);
    assert_int_equal(tm_metrics_add_process(NULL, "p", "v", "r", 0), TM_OK);
    char *text = (char *)"x";
    size_t len = 7;
    assert_int_not_equal(tm_metrics_render(NULL, &text, &len), TM_OK);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_int_not_equal(tm_metrics_new(NULL), TM_OK);
    tm_metrics_free(NULL);
    tm_metrics_server_stop(NULL);
    assert_int_equal(tm_metrics_server_port(NULL), 0);
    tm_metrics_server *srv = (tm_metrics_server *)&len;
    assert_int_not_equal(tm_metrics_server_start(NULL, "127.0.0.1:0", &srv), TM_OK);
    assert_null(srv);
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    assert_int_not_equal(tm_metrics_gauge_fn(m, "a", "A.", NULL, NULL, NULL), TM_OK);
    assert_int_equal(tm_metrics_add_process(m, NULL, NULL, NULL, 1), TM_OK);
    assert_int_equal(tm_metrics_render(m, &text, NULL), TM_OK);
    assert_non_null(
        strstr(text, "tmkms_build_info{program=\"\",version=\"\",revision=\"\",enclave=\"true\"} 1\n"));
    free(text);
    tm_metrics_free(m);
}

typedef struct {
    tm_metrics *m;
    pthread_barrier_t *barrier;
    int index;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    const tm_labels l = {.name = {"kind"}, .value = {"shared"}};
    char mine[16];
    (void)snprintf(mine, sizeof mine, "t%d", a->index);
    const tm_labels own = {.name = {"kind"}, .value = {mine}};
    pthread_barrier_wait(a->barrier);
    /* Get-or-create races: every thread must get the same pointers. */
    tm_counter *c = tm_metrics_counter(a->m, "conc_total", "Conc.", &l);
    tm_histogram *h = tm_metrics_histogram(a->m, "conc_seconds", "Conc.", &l, tm_metrics_latency_bounds,
                                           tm_metrics_latency_bounds_n);
    tm_counter *c_own = tm_metrics_counter(a->m, "conc_total", "Conc.", &own);
    tm_gauge *g = tm_metrics_gauge(a->m, "conc_gauge", "Conc.", NULL);
    if (c == NULL || h == NULL || c_own == NULL || g == NULL) {
        a->failures++;
        return NULL;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        tm_counter_add(c, 1);
        tm_counter_add(c_own, 2);
        tm_gauge_add(g, 1);
        tm_histogram_observe_ns(h, (uint64_t)(i % 7) * 1000000U); /* 0..6 ms */
        if (i % 5000 == 0) {
            char *text = NULL;
            if (tm_metrics_render(a->m, &text, NULL) != TM_OK) a->failures++;
            free(text);
        }
    }
    if (tm_metrics_counter(a->m, "conc_total", "Conc.", &l) != c) a->failures++;
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS), 0);
    pthread_t threads[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.m = m, .barrier = &barrier, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    pthread_barrier_destroy(&barrier);

    const tm_labels l = {.name = {"kind"}, .value = {"shared"}};
    tm_counter *c = tm_metrics_counter(m, "conc_total", "Conc.", &l);
    tm_histogram *h = tm_metrics_histogram(m, "conc_seconds", "Conc.", &l, tm_metrics_latency_bounds,
                                           tm_metrics_latency_bounds_n);
    const uint64_t total = (uint64_t)THREADS * PER_THREAD;
    assert_int_equal(atomic_load(&c->value), total);
    assert_int_equal(histogram_count(h), total);
    uint64_t per_thread_sum = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        per_thread_sum += (uint64_t)(i % 7) * 1000000U;
    }
    assert_int_equal(atomic_load(&h->sum_ns), per_thread_sum * THREADS);
    char *text = render(m);
    assert_int_equal(series_value(text, "conc_total{kind=\"shared\"}"), (long long)total);
    assert_int_equal(series_value(text, "conc_total{kind=\"t7\"}"), 2LL * PER_THREAD);
    assert_int_equal(series_value(text, "conc_gauge"), (long long)total);
    assert_int_equal(series_value(text, "conc_seconds_count{kind=\"shared\"}"), (long long)total);
    assert_int_equal(series_value(text, "conc_seconds_bucket{kind=\"shared\",le=\"+Inf\"}"),
                     (long long)total);
    /* 0 ms: 1/7 of the observations (PER_THREAD = 20000 = 7 * 2857 + 1, i = 0 included). */
    assert_int_equal(series_value(text, "conc_seconds_bucket{kind=\"shared\",le=\"5e-05\"}"),
                     2858LL * THREADS);
    free(text);
    tm_metrics_free(m);
}

/* The process metrics of this process, checked for plausibility. Returns 0 when fine. */
static int check_process_metrics(void)
{
    tm_metrics *m = NULL;
    char *text = NULL;
    int bad = 0;
    if (tm_metrics_new(&m) != TM_OK || tm_metrics_add_process(m, "tmkms", "0.1.0", "abcdef", 0) != TM_OK ||
        tm_metrics_render(m, &text, NULL) != TM_OK) {
        bad = 1;
        goto out;
    }
    const long long now = (long long)time(NULL);
    const long long start = series_value(text, "process_start_time_seconds");
    const long long rss = series_value(text, "process_resident_memory_bytes");
    const long long vsz = series_value(text, "process_virtual_memory_bytes");
    const long long fds = series_value(text, "process_open_fds");
    if (start < now - 3600 || start > now + 1) bad |= 2;
    if (rss <= 0 || vsz < rss) bad |= 4;
    if (fds < 3) bad |= 8;
    if (strstr(text,
               "tmkms_build_info{program=\"tmkms\",version=\"0.1.0\",revision=\"abcdef\",enclave=\"false\"} "
               "1\n") == NULL)
        bad |= 16;
    /* One more open file: one more fd. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    free(text);
    text = NULL;
    if (fd < 0 || tm_metrics_render(m, &text, NULL) != TM_OK) {
        bad |= 32;
    } else if (series_value(text, "process_open_fds") != fds + 1) {
        bad |= 64;
    }
    if (fd >= 0) (void)close(fd);
out:
    if (bad != 0 && text != NULL) fprintf(stderr, "process metrics (%d):\n%s", bad, text);
    free(text);
    tm_metrics_free(m);
    return bad;
}

static void test_process(void **state)
{
    (void)state;
    assert_int_equal(check_process_metrics(), 0);
    /* As the programs run: not dumpable (their /proc/self files then belong to root), and
     * not root. A child, so that this process keeps its credentials. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(100);
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) _exit(101);
        _exit(check_process_metrics());
    }
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
}

/* ---- HTTP ---- */

typedef struct {
    char *data;
    size_t len;
} body;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body *b = userdata;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL) return 0;
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

typedef struct {
    long code;
    char content_type[128];
    char allow[64];
    curl_off_t content_length;
    body body;
} reply;

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    reply *r = userdata;
    size_t n = size * nmemb;
    if (n > 7 && strncasecmp(ptr, "Allow: ", 7) == 0) {
        size_t v = n - 7;
        while (v > 0 && (ptr[7 + v - 1] == '\r' || ptr[7 + v - 1] == '\n')) {
            v--;
        }
        if (v < sizeof r->allow) {
            memcpy(r->allow, ptr + 7, v);
            r->allow[v] = '\0';
        }
    }
    return n;
}

/* method: "GET", "HEAD" or another (sent with CURLOPT_CUSTOMREQUEST). */
static void fetch(uint16_t port, const char *path, const char *method, reply *r)
{
    memset(r, 0, sizeof *r);
    char url[128];
    (void)snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_HEADERDATA, r), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L), CURLE_OK);
    assert_int_equal(curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"), CURLE_OK);
    if (strcmp(method, "HEAD") == 0) {
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_NOBODY, 1L), CURLE_OK);
    } else if (strcmp(method, "POST") == 0) {
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "a=1"), CURLE_OK);
    } else if (strcmp(method, "GET") != 0) {
        assert_int_equal(curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method), CURLE_OK);
    }
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->code), CURLE_OK);
    char *ct = NULL;
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct), CURLE_OK);
    if (ct != NULL) (void)snprintf(r->content_type, sizeof r->content_type, "%s", ct);
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length),
                     CURLE_OK);
    curl_easy_cleanup(curl);
}

/* Connect, send a request, and reset the connection without reading: the server's send
 * then fails (EPIPE/ECONNRESET), which must not raise SIGPIPE. */
static void rude_client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    (void)close(fd);
}

static void test_http(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    /* A body of a few hundred kB, so that a client resetting early meets a send in progress. */
    for (int i = 0; i < 3000; i++) {
        char v[32];
        (void)snprintf(v, sizeof v, "chain-number-%d", i);
        const tm_labels l = {.name = {"chain_id"}, .value = {v}};
        tm_counter_add(tm_metrics_counter(m, "tmkms_http_test_total", "Test.", &l), (uint64_t)i);
    }
    tm_metrics_server *srv = NULL;
    assert_int_equal(tm_metrics_server_start(m, "127.0.0.1:0", &srv), TM_OK);
    const uint16_t port = tm_metrics_server_port(srv);
    assert_int_not_equal(port, 0);

    char *want = NULL;
    size_t want_len = 0;
    assert_int_equal(tm_metrics_render(m, &want, &want_len), TM_OK);
    reply r;
    fetch(port, "/metrics", "GET", &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(r.body.len, want_len);
    assert_memory_equal(r.body.data, want, want_len);
    free(r.body.data);

    fetch(port, "/metrics", "HEAD", &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(r.body.len, 0);
    assert_int_equal(r.content_length, (curl_off_t)want_len);
    free(r.body.data);

    const char *missing[] = {"/", "/metric", "/metrics/", "/other"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        fetch(port, missing[i], "GET", &r);
        assert_int_equal(r.code, 404);
        free(r.body.data);
    }
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        fetch(port, "/metrics", methods[i], &r);
        assert_int_equal(r.code, 405);
        assert_string_equal(r.allow, "GET, HEAD");
        free(r.body.data);
    }

    /* Clients resetting mid-answer: SIGPIPE is not ignored in this process, so a raised
     * one would end the test. */
    for (int i = 0; i < 40; i++) {
        rude_client(port);
    }
    fetch(port, "/metrics", "GET", &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body.len, want_len);
    free(r.body.data);

    /* The port taken: a clear error naming the address. */
    char taken[32];
    (void)snprintf(taken, sizeof taken, "127.0.0.1:%u", port);
    tm_metrics_server *second = NULL;
    tm_err_clear();
    assert_int_equal(tm_metrics_server_start(m, taken, &second), TM_ERR_IO);
    assert_null(second);
    assert_non_null(strstr(tm_err_msg(), taken));
    assert_non_null(strstr(tm_err_msg(), strerror(EADDRINUSE)));
    fprintf(stderr, "bind refused as expected: %s\n", tm_err_msg());

    free(want);
    tm_metrics_server_stop(srv);
    tm_metrics_free(m);
}

static void test_http_addresses(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    const char *bad[] = {"",
                         "127.0.0.1",
                         "127.0.0.1:",
                         "127.0.0.1:65536",
                         "127.0.0.1:-1",
                         "127.0.0.1:8x",
                         "localhost:9100",
                         "::1:9100",
                         "[::1]",
                         "[::1]9100",
                         "[]:9100",
                         "[nope]:9100",
                         "1.2.3:9100",
                         ":9100",
                         "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tm_metrics_server *srv = NULL;
        tm_err_clear();
        assert_int_equal(tm_metrics_server_start(m, bad[i], &srv), TM_ERR_CONFIG);
        assert_null(srv);
        assert_non_null(strstr(tm_err_msg(), "metrics address"));
    }
    tm_metrics_server *srv = NULL;
    assert_int_not_equal(tm_metrics_server_start(m, NULL, &srv), TM_OK);
    /* IPv6 loopback, when this machine has it. */
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    const int have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    if (fd >= 0) (void)close(fd);
    if (have_v6) {
        assert_int_equal(tm_metrics_server_start(m, "[::1]:0", &srv), TM_OK);
        assert_int_not_equal(tm_metrics_server_port(srv), 0);
        tm_metrics_server_stop(srv);
    } else {
        fprintf(stderr, "no IPv6 loopback here: [::1]:0 not tried\n");
    }
    tm_metrics_free(m);
}

/* ---- promtool ---- */

static int64_t big_value(void *ctx)
{
    (void)ctx;
    return INT64_C(1) << 40;
}

/* Runs `promtool check metrics` with `input` on stdin; its output in *out (caller frees).
 * Returns its exit status, or -1 when promtool is not installed. */
static int run_promtool(const char *input, size_t len, char **out)
{
    char in_path[] = "/tmp/test_metrics_in_XXXXXX";
    char out_path[] = "/tmp/test_metrics_out_XXXXXX";
    int in_fd = mkstemp(in_path);
    int out_fd = mkstemp(out_path);
    assert_true(in_fd >= 0 && out_fd >= 0);
    assert_int_equal(write(in_fd, input, len), (ssize_t)len);
    assert_int_equal(lseek(in_fd, 0, SEEK_SET), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) _exit(126);
        execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    struct stat st;
    assert_int_equal(fstat(out_fd, &st), 0);
    char *text = calloc(1, (size_t)st.st_size + 1);
    assert_non_null(text);
    assert_int_equal(pread(out_fd, text, (size_t)st.st_size, 0), st.st_size);
    (void)close(in_fd);
    (void)close(out_fd);
    (void)unlink(in_path);
    (void)unlink(out_path);
    *out = text;
    assert_true(WIFEXITED(wstatus));
    return WEXITSTATUS(wstatus) == 127 ? -1 : WEXITSTATUS(wstatus);
}

/* tm_metrics_foreach: every series in rendering order, computed gauges computed (and left
 * out without a value), histograms with their non-cumulative buckets and a count that is
 * their sum; a nonzero return stops; the setters mirror totals. */
typedef struct {
    size_t n;
    char names[16][64];
    tm_metric_sample last_hist;
    size_t stop_after;
} visit_log;

static int record_visit(const tm_metric_sample *s, void *ctx)
{
    visit_log *v = ctx;
    if (v->n < 16) snprintf(v->names[v->n], sizeof(v->names[0]), "%s", s->name);
    if (s->type == TM_METRIC_HISTOGRAM) v->last_hist = *s;
    v->n++;
    return v->stop_after && v->n >= v->stop_after;
}

static void test_foreach(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    tm_labels l = {{"chain", "reason"}, {"c-1", "double_sign"}};
    tm_counter *c = tm_metrics_counter(m, "t_refusals_total", "h", &l);
    tm_gauge *g = tm_metrics_gauge(m, "t_gauge", "h", NULL);
    assert_int_equal(tm_metrics_gauge_fn(m, "t_fn", "h", NULL, fixed_42, NULL), TM_OK);
    assert_int_equal(tm_metrics_gauge_fn(m, "t_none", "h", NULL, no_value, NULL), TM_OK);
    tm_histogram *h = tm_metrics_histogram(m, "t_seconds", "h", NULL, tm_metrics_latency_bounds,
                                           tm_metrics_latency_bounds_n);
    tm_counter_add(c, 3);
    tm_gauge_set(g, -7);
    tm_histogram_observe_ns(h, 1000);         /* 1 us: the first bucket */
    tm_histogram_observe_ns(h, 60000000000u); /* 60 s: +Inf */
    visit_log v = {0};
    assert_int_equal(tm_metrics_foreach(m, record_visit, &v), TM_OK);
    assert_int_equal(v.n, 5); /* dropped, refusals, gauge, fn; not t_none; histogram */
    assert_string_equal(v.names[0], "tmkms_metrics_series_dropped_total");
    assert_string_equal(v.names[1], "t_refusals_total");
    assert_string_equal(v.names[3], "t_fn");
    assert_string_equal(v.names[4], "t_seconds");
    assert_int_equal(v.last_hist.n_bounds, tm_metrics_latency_bounds_n);
    assert_int_equal(v.last_hist.buckets[0], 1);
    assert_int_equal(v.last_hist.buckets[tm_metrics_latency_bounds_n], 1);
    assert_int_equal(v.last_hist.count, 2);
    assert_int_equal(v.last_hist.sum_ns, 60000001000u);
    visit_log stop = {.stop_after = 2};
    assert_int_equal(tm_metrics_foreach(m, record_visit, &stop), TM_OK);
    assert_int_equal(stop.n, 2);
    assert_int_not_equal(tm_metrics_foreach(NULL, record_visit, &stop), TM_OK);

    /* Setters: totals, going down too; a histogram of the wrong bucket count is left alone. */
    tm_counter_set(c, 1);
    uint64_t b[TM_METRICS_MAX_BUCKETS + 1] = {0};
    b[2] = 5;
    tm_histogram_set(h, b, tm_metrics_latency_bounds_n + 1, 777);
    tm_histogram_set(h, b, tm_metrics_latency_bounds_n, 1); /* ignored */
    tm_counter_set(NULL, 1);
    tm_histogram_set(NULL, b, 1, 1);
    char *text = NULL;
    assert_int_equal(tm_metrics_render(m, &text, NULL), TM_OK);
    assert_non_null(strstr(text, "t_refusals_total{chain=\"c-1\",reason=\"double_sign\"} 1\n"));
    assert_non_null(strstr(text, "t_seconds_count 5\n"));
    assert_non_null(strstr(text, "t_seconds_sum 7.77e-07\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.00025\"} 5\n"));
    free(text);
    tm_metrics_free(m);
}

static void test_promtool(void **state)
{
    (void)state;
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    const tm_labels chain = {.name = {"chain_id", "type"}, .value = {"cosmoshub-4", "prevote"}};
    const tm_labels odd = {.name = {"chain_id", "reason"}, .value = {"we\"ird\\chain\nid", "double sign: é"}};
    tm_counter_add(tm_metrics_counter(m, "tmkms_signatures_total", "Signatures released.", &chain), 12);
    tm_counter_add(tm_metrics_counter(m, "tmkms_refusals_total", "Requests refused, by reason.", &odd), 1);
    tm_gauge_set(tm_metrics_gauge(m, "tmkms_last_signed_height", "The last height signed.", &chain), 123456);
    tm_gauge_set(tm_metrics_gauge(m, "tmkms_connections", "Open validator connections.", NULL), -1);
    tm_histogram *h = tm_metrics_histogram(m, "tmkms_sign_duration_seconds",
                                           "Time to answer a signing request.\nIn seconds \\ all.", &chain,
                                           tm_metrics_latency_bounds, tm_metrics_latency_bounds_n);
    for (uint64_t ns = 1; ns < 10000000000ULL; ns *= 3) {
        tm_histogram_observe_ns(h, ns);
    }
    assert_int_equal(tm_metrics_gauge_fn(m, "tmkms_state_file_size_bytes", "Size of the state file.", NULL,
                                         big_value, NULL),
                     TM_OK);
    assert_int_equal(tm_metrics_add_process(m, "tmkms", "0.1.0", "0123456789ab", 1), TM_OK);
    char *text = render(m);
    char *verdict = NULL;
    int rc = run_promtool(text, strlen(text), &verdict);
    if (rc == -1) {
        free(verdict);
        free(text);
        tm_metrics_free(m);
        skip();
    }
    if (rc != 0 || verdict[0] != '\0') fprintf(stderr, "promtool (%d): %s\non:\n%s", rc, verdict, text);
    assert_int_equal(rc, 0);
    assert_string_equal(verdict, ""); /* no lint findings either */
    free(verdict);
    free(text);
    tm_metrics_free(m);
}

int main(void)
{
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact), cmocka_unit_test(test_identity),
        cmocka_unit_test(test_conflicts),    cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_bound),        cmocka_unit_test(test_null_safety),
        cmocka_unit_test(test_threads),      cmocka_unit_test(test_process),
        cmocka_unit_test(test_http),         cmocka_unit_test(test_http_addresses),
        cmocka_unit_test(test_promtool),     cmocka_unit_test(test_foreach),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
