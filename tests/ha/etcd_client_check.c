/* The etcd client against a real etcd (driven by tests/integration/etcd_client.sh):
 * reads, compare-and-swap won and lost, 8 threads racing on one revision, failover past
 * dead endpoints, all endpoints dead, endpoint status, TLS refusals, and the latency of a
 * compare-and-swap. Prints one line per failed check; exits 1 if any failed.
 *
 *   etcd_client_check --endpoint URL [--dead URL]... [--ca F --cert F --key F]
 *                     [--bad-key F] [--prefix P] [--bench N] */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tmkms/ha/etcd.h"

#define THREADS 8
#define ROUNDS 10
#define MAX_DEAD 4

static int failures, checks;
static struct {
    const char *endpoint, *dead[MAX_DEAD], *ca, *cert, *key, *bad_key, *prefix;
    const char *unavailable, *refusing, *huge, *garbage; /* fake_etcd.py's modes */
    size_t n_dead;
    int bench;
} args = {.prefix = "/tmkms-test", .bench = 200};

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        checks++;                                                                                            \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                      \
            printf(__VA_ARGS__);                                                                             \
            printf(" [%s]\n", tm_err_msg());                                                                 \
        }                                                                                                    \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static tm_etcd_options options(void)
{
    tm_etcd_options o = {
        .ca_file = args.ca, .cert_file = args.cert, .key_file = args.key, .timeout_ms = 2000};
    o.endpoints[o.n_endpoints++] = args.endpoint;
    return o;
}

static tm_etcd *open_or_die(const tm_etcd_options *o)
{
    tm_etcd *e = NULL;
    tm_status st = tm_etcd_open(o, &e);
    if (st != TM_OK) {
        printf("FAIL: tm_etcd_open: %s: %s\n", tm_status_name(st), tm_err_msg());
        exit(1);
    }
    return e;
}

static void key_name(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "%s/%s", args.prefix, what);
}

static bool kv_is(const tm_etcd_kv *kv, const char *value, int64_t rev)
{
    size_t n = strlen(value);
    return kv->len == n && memcmp(kv->value, value, n) == 0 && (rev < 0 || kv->mod_revision == rev);
}

static void check_cas_sequence(tm_etcd *e)
{
    char key[128];
    tm_etcd_kv kv, cur;
    bool swapped = true;
    key_name(key, sizeof(key), "sequence");
    CHECK(tm_etcd_get(e, key, &kv) == TM_OK && kv.len == 0 && kv.mod_revision == 0, "get of a missing key");

    CHECK(tm_etcd_cas(e, key, 0, (const uint8_t *)"first", 5, &swapped, &cur) == TM_OK && swapped &&
              kv_is(&cur, "first", -1) && cur.mod_revision > 0,
          "cas create (expected 0) wins");
    int64_t rev1 = cur.mod_revision;
    CHECK(tm_etcd_get(e, key, &kv) == TM_OK && kv_is(&kv, "first", rev1), "get after create");

    CHECK(tm_etcd_cas(e, key, 0, (const uint8_t *)"second", 6, &swapped, &cur) == TM_OK && !swapped &&
              kv_is(&cur, "first", rev1),
          "second cas with expected 0 loses and shows the current value and revision");

    CHECK(tm_etcd_cas(e, key, rev1, (const uint8_t *)"third", 5, &swapped, &cur) == TM_OK && swapped &&
              kv_is(&cur, "third", -1) && cur.mod_revision > rev1,
          "cas with the current revision wins");
    int64_t rev2 = cur.mod_revision;
    CHECK(tm_etcd_cas(e, key, rev1, (const uint8_t *)"stale", 5, &swapped, &cur) == TM_OK && !swapped &&
              kv_is(&cur, "third", rev2),
          "cas with a stale revision loses");
    CHECK(tm_etcd_get(e, key, &kv) == TM_OK && kv_is(&kv, "third", rev2), "get shows the winner");
}

static void check_max_value(tm_etcd *e)
{
    static uint8_t big[TM_ETCD_MAX_VALUE + 1];
    static tm_etcd_kv kv, cur;
    char key[128];
    bool swapped;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 131 + 7);
    key_name(key, sizeof(key), "big");
    CHECK(tm_etcd_cas(e, key, 0, big, TM_ETCD_MAX_VALUE, &swapped, &cur) == TM_OK && swapped,
          "cas of a TM_ETCD_MAX_VALUE value");
    CHECK(tm_etcd_get(e, key, &kv) == TM_OK && kv.len == TM_ETCD_MAX_VALUE &&
              memcmp(kv.value, big, kv.len) == 0,
          "get of a TM_ETCD_MAX_VALUE value");
    CHECK(tm_etcd_cas(e, key, kv.mod_revision, big, sizeof(big), &swapped, &cur) == TM_ERR_TOO_LARGE &&
              !swapped,
          "a value above TM_ETCD_MAX_VALUE is refused");
}

typedef struct {
    tm_etcd *etcd;
    const char *key;
    int64_t expected;
    int id;
    pthread_barrier_t *start;
    tm_status status;
    char error[256]; /* the message of the racer's thread */
    bool swapped;
    tm_etcd_kv cur;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    char value[32];
    int n = snprintf(value, sizeof(value), "racer %d", r->id);
    pthread_barrier_wait(r->start);
    r->status =
        tm_etcd_cas(r->etcd, r->key, r->expected, (const uint8_t *)value, (size_t)n, &r->swapped, &r->cur);
    snprintf(r->error, sizeof(r->error), "%s", r->status == TM_OK ? "" : tm_err_msg());
    return NULL;
}

/* Half the racers share one client (its pool), half have their own. */
static void race_round(tm_etcd *shared, tm_etcd **own, const char *key, int64_t expected, int64_t *next)
{
    static racer r[THREADS];
    pthread_t t[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        r[i] = (racer){
            .etcd = i % 2 ? own[i] : shared, .key = key, .expected = expected, .id = i, .start = &start};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    int winners = 0, winner = -1;
    for (int i = 0; i < THREADS; i++) {
        CHECK(r[i].status == TM_OK, "racer %d: %s: %s", i, tm_status_name(r[i].status), r[i].error);
        if (r[i].swapped) winners++, winner = i;
    }
    CHECK(winners == 1, "exactly one of %d racers on revision %lld wins (%d did)", THREADS,
          (long long)expected, winners);
    if (winner < 0) return;
    *next = r[winner].cur.mod_revision;
    for (int i = 0; i < THREADS; i++)
        CHECK(r[i].cur.mod_revision == *next && r[i].cur.len == r[winner].cur.len &&
                  memcmp(r[i].cur.value, r[winner].cur.value, r[i].cur.len) == 0,
              "racer %d sees the winner's value and revision", i);
}

static void check_race(tm_etcd *shared)
{
    tm_etcd *own[THREADS] = {0};
    tm_etcd_options o = options();
    char key[128];
    key_name(key, sizeof(key), "race");
    for (int i = 1; i < THREADS; i += 2)
        own[i] = open_or_die(&o);
    int64_t rev = 0;
    for (int round = 0; round < ROUNDS; round++)
        race_round(shared, own, key, rev, &rev);
    for (int i = 0; i < THREADS; i++)
        tm_etcd_close(own[i]);
}

static void check_failover(void)
{
    tm_etcd_options o = options();
    tm_etcd_kv kv;
    char key[128];
    bool swapped;
    key_name(key, sizeof(key), "failover");
    o.n_endpoints = 0;
    for (size_t i = 0; i < 2 && i < args.n_dead; i++)
        o.endpoints[o.n_endpoints++] = args.dead[i];
    o.endpoints[o.n_endpoints++] = args.endpoint;
    tm_etcd *e = open_or_die(&o);
    CHECK(tm_etcd_cas(e, key, 0, (const uint8_t *)"x", 1, &swapped, &kv) == TM_OK && swapped,
          "cas with the first two endpoints dead");
    double t0 = now_ms();
    CHECK(tm_etcd_get(e, key, &kv) == TM_OK && kv_is(&kv, "x", -1), "get with the first two endpoints dead");
    printf("failover: next call %.2f ms (goes to the endpoint that answered last)\n", now_ms() - t0);
    tm_etcd_close(e);
}

static void check_all_dead(void)
{
    tm_etcd_options o = options();
    tm_etcd_kv kv;
    bool swapped;
    o.n_endpoints = 0;
    o.timeout_ms = 500;
    for (size_t i = 0; i < args.n_dead; i++)
        o.endpoints[o.n_endpoints++] = args.dead[i];
    tm_etcd *e = open_or_die(&o);
    double t0 = now_ms();
    tm_status st = tm_etcd_get(e, "/k", &kv);
    double dt = now_ms() - t0;
    CHECK(st == TM_ERR_UNAVAILABLE, "all endpoints dead: get is TM_ERR_UNAVAILABLE, not %s",
          tm_status_name(st));
    CHECK(dt < 500 + 250, "all endpoints dead: answered in %.0f ms, timeout 500", dt);
    for (size_t i = 0; i < args.n_dead; i++)
        CHECK(strstr(tm_err_msg(), args.dead[i]) != NULL, "the error names %s", args.dead[i]);
    st = tm_etcd_cas(e, "/k", 0, (const uint8_t *)"v", 1, &swapped, &kv);
    CHECK(st == TM_ERR_UNAVAILABLE && !swapped, "all endpoints dead: cas is TM_ERR_UNAVAILABLE, not won");
    tm_etcd_close(e);
}

static void check_status(void)
{
    tm_etcd_options o = options();
    tm_etcd_member_status s;
    if (args.n_dead) o.endpoints[o.n_endpoints++] = args.dead[0];
    tm_etcd *e = open_or_die(&o);
    const char *first = tm_etcd_endpoint(e, 0);
    CHECK(tm_etcd_endpoint_count(e) == o.n_endpoints && first != NULL && args.endpoint != NULL &&
              strcmp(first, args.endpoint) == 0,
          "endpoint list");
    tm_etcd_endpoint_status(e, 0, &s);
    CHECK(s.reachable, "status: reachable (%s)", s.error);
    CHECK(strncmp(s.version, "3.", 2) == 0, "status: version %s", s.version);
    CHECK(s.member_id != 0 && s.leader_id == s.member_id, "status: member %llx, leader %llx (single member)",
          (unsigned long long)s.member_id, (unsigned long long)s.leader_id);
    CHECK(s.raft_term >= 1 && s.revision > 1 && s.db_size > 0, "status: term %llu revision %lld db %lld",
          (unsigned long long)s.raft_term, (long long)s.revision, (long long)s.db_size);
    printf("status: version %s member %llx term %llu revision %lld db %lld\n", s.version,
           (unsigned long long)s.member_id, (unsigned long long)s.raft_term, (long long)s.revision,
           (long long)s.db_size);
    if (args.n_dead) {
        tm_etcd_endpoint_status(e, 1, &s);
        CHECK(!s.reachable && s.error[0] != '\0', "status of a dead endpoint: unreachable with a reason");
    }
    tm_etcd_close(e);
}

/* get with endpoints {first, second}: the status and the error message. */
static tm_status get_via(const char *first, const char *second, char *msg, size_t cap)
{
    tm_etcd_options o = options();
    tm_etcd_kv kv;
    o.n_endpoints = 0;
    o.endpoints[o.n_endpoints++] = first;
    if (second) o.endpoints[o.n_endpoints++] = second;
    tm_etcd *e = open_or_die(&o);
    tm_status st = tm_etcd_get(e, "/k", &kv);
    snprintf(msg, cap, "%s", st == TM_OK ? "" : tm_err_msg());
    tm_etcd_close(e);
    return st;
}

/* Endpoints that answer wrongly: 503 fails over, 400 stops, a huge or bad answer is corrupt. */
static void check_misbehaving(void)
{
    char msg[1024];
    if (args.unavailable) {
        CHECK(get_via(args.unavailable, args.endpoint, msg, sizeof(msg)) == TM_OK, "503 fails over: %s", msg);
        CHECK(get_via(args.unavailable, NULL, msg, sizeof(msg)) == TM_ERR_UNAVAILABLE &&
                  strstr(msg, "no leader") && strstr(msg, args.unavailable),
              "503 alone is unavailable: %s", msg);
    }
    if (args.refusing)
        CHECK(get_via(args.refusing, args.endpoint, msg, sizeof(msg)) == TM_ERR_REFUSED &&
                  strstr(msg, "key is not provided") && strstr(msg, args.refusing),
              "400 is a refusal, not retried: %s", msg);
    if (args.huge)
        CHECK(get_via(args.huge, args.endpoint, msg, sizeof(msg)) == TM_ERR_CORRUPT && strstr(msg, args.huge),
              "an answer above the bound is corrupt: %s", msg);
    if (args.garbage)
        CHECK(get_via(args.garbage, args.endpoint, msg, sizeof(msg)) == TM_ERR_CORRUPT &&
                  strstr(msg, args.garbage),
              "a malformed answer is corrupt: %s", msg);
}

/* With client-certificate auth: no certificate, or a key file others can read, is refused. */
static void check_tls_refusals(void)
{
    tm_etcd_options o = options();
    tm_etcd *e = NULL;
    tm_etcd_kv kv;
    if (args.cert) {
        o.cert_file = o.key_file = NULL;
        e = open_or_die(&o);
        CHECK(tm_etcd_get(e, "/k", &kv) != TM_OK, "a client without a certificate is refused");
        tm_etcd_close(e);
        e = NULL;
        o = options();
        o.ca_file = NULL; /* the system's CAs do not know our test CA */
        e = open_or_die(&o);
        CHECK(tm_etcd_get(e, "/k", &kv) != TM_OK, "a server certificate from an unknown CA is refused");
        tm_etcd_close(e);
        e = NULL;
    }
    if (args.bad_key) {
        o = options();
        o.key_file = args.bad_key;
        tm_status st = tm_etcd_open(&o, &e);
        CHECK(st == TM_ERR_PERMISSION && e == NULL, "a group-readable key file is refused (%s)",
              tm_status_name(st));
        CHECK(strstr(tm_err_msg(), args.bad_key) != NULL, "the refusal names the key file");
        tm_etcd_close(e);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *ms)
{
    qsort(ms, (size_t)args.bench, sizeof(double), cmp_double);
    printf("%s, %d calls: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n", what, args.bench, ms[args.bench / 2],
           ms[args.bench * 9 / 10], ms[args.bench * 99 / 100]);
}

static void bench(tm_etcd *e)
{
    char key[128];
    tm_etcd_kv cur;
    bool swapped;
    int64_t rev = 0;
    double *ms = calloc((size_t)args.bench, sizeof(double));
    if (!ms || args.bench <= 0) {
        free(ms);
        return;
    }
    key_name(key, sizeof(key), "bench");
    uint8_t value[512] = {0};
    for (int i = 0; i < args.bench; i++) {
        double t0 = now_ms();
        tm_status st = tm_etcd_cas(e, key, rev, value, sizeof(value), &swapped, &cur);
        ms[i] = now_ms() - t0;
        CHECK(st == TM_OK && swapped, "bench cas %d", i);
        rev = cur.mod_revision;
    }
    report("cas round trip (512-byte value)", ms);
    /* A read costs no fsync: about one round trip on an open connection (no TLS handshake). */
    for (int i = 0; i < args.bench; i++) {
        double t0 = now_ms();
        tm_status st = tm_etcd_get(e, key, &cur);
        ms[i] = now_ms() - t0;
        CHECK(st == TM_OK && cur.mod_revision == rev, "bench get %d", i);
    }
    report("get round trip", ms);
    free(ms);
}

static void parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"endpoint", required_argument, 0, 'e'},
                                         {"dead", required_argument, 0, 'd'},
                                         {"ca", required_argument, 0, 'a'},
                                         {"cert", required_argument, 0, 'c'},
                                         {"key", required_argument, 0, 'k'},
                                         {"bad-key", required_argument, 0, 'b'},
                                         {"prefix", required_argument, 0, 'p'},
                                         {"bench", required_argument, 0, 'n'},
                                         {"unavailable", required_argument, 0, 'U'},
                                         {"refusing", required_argument, 0, 'R'},
                                         {"huge", required_argument, 0, 'H'},
                                         {"garbage", required_argument, 0, 'G'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': args.endpoint = optarg; break;
        case 'd':
            if (args.n_dead < MAX_DEAD) args.dead[args.n_dead++] = optarg;
            break;
        case 'a': args.ca = optarg; break;
        case 'c': args.cert = optarg; break;
        case 'k': args.key = optarg; break;
        case 'b': args.bad_key = optarg; break;
        case 'p': args.prefix = optarg; break;
        case 'n': args.bench = (int)strtol(optarg, NULL, 10); break;
        case 'U': args.unavailable = optarg; break;
        case 'R': args.refusing = optarg; break;
        case 'H': args.huge = optarg; break;
        case 'G': args.garbage = optarg; break;
        default: exit(2);
        }
    }
    if (!args.endpoint) {
        fprintf(stderr,
                "usage: etcd_client_check --endpoint URL [--dead URL]... [--ca F --cert F --key F]\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    tm_etcd_options o = options();
    tm_etcd *e = open_or_die(&o);
    check_cas_sequence(e);
    check_max_value(e);
    check_race(e);
    if (args.n_dead >= 2) check_failover();
    if (args.n_dead >= 1) check_all_dead();
    check_status();
    check_misbehaving();
    check_tls_refusals();
    bench(e);
    tm_etcd_close(e);
    printf("%s: %d checks, %d failed\n", args.endpoint, checks, failures);
    return failures ? 1 : 0;
}
