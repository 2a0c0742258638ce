/* The enclave's log, forwarded to the helper's log port as LogLine messages. An enclave
 * has no disk and, outside debug mode, no console the operator can read, so this is how
 * its lines reach the host's journal. The log sink only copies a line into a bounded ring
 * (never blocks on the network); one thread drains it. When the ring is full the oldest
 * lines go and the count of dropped lines is sent with the next one.
 *
 * The same thread sends the enclave's metrics (its core registry, tm_metrics_global())
 * as a MetricsReport right after each connection and every REPORT_MS: the signing path
 * only updates atomics, and nothing here waits on it. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "enclave.h"
#include "tmkms/clock.h"
#include "tmkms/log.h"
#include "tmkms/nitro/metrics_report.h"

#define RING_LINES 512
#define REPORT_MS 5000

typedef struct {
    uint32_t level;
    char text[TM_NITRO_MAX_LOG_LINE + 1];
} ring_line;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    bool ready_monotonic; /* ready's clock is CLOCK_MONOTONIC (set at start), else CLOCK_REALTIME */
    ring_line lines[RING_LINES];
    size_t head, count;
    unsigned long long head_seq; /* sequence number of lines[head]; advances with head */
    unsigned long dropped;
    const tm_vsock_net *net;
    tm_vsock_ep ep;
    bool started;
    tm_nitro_metrics_report *report; /* the forward thread's */
} fwd = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};

static void sink(tm_log_level level, const char *line, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&fwd.lock);
    if (fwd.count == RING_LINES) {
        fwd.head = (fwd.head + 1) % RING_LINES;
        fwd.head_seq++;
        fwd.count--;
        fwd.dropped++;
    }
    ring_line *slot = &fwd.lines[(fwd.head + fwd.count) % RING_LINES];
    slot->level = (uint32_t)level;
    tm_nitro_copy_printable(slot->text, line, TM_NITRO_MAX_LOG_LINE);
    fwd.count++;
    pthread_cond_signal(&fwd.ready);
    pthread_mutex_unlock(&fwd.lock);
}

static tm_status send_line(tm_conn *conn, uint32_t level, char *text)
{
    Tmkms__Nitro__LogLine l = TMKMS__NITRO__LOG_LINE__INIT;
    l.level = level;
    l.text = text;
    tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
    m.body_case = TMKMS__NITRO__MESSAGE__BODY_LOG_LINE;
    m.log_line = &l;
    return tm_nitro_send(conn, &m);
}

/* Waits (fwd.lock held) for a line until the monotonic time deadline_ms; false: none came. */
static bool wait_line(uint64_t deadline_ms)
{
    struct timespec until = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
    while (fwd.count == 0) {
        uint64_t now = tm_monotonic_ms();
        if (now >= deadline_ms) return false;
        if (!fwd.ready_monotonic) until = tm_realtime_deadline_us((deadline_ms - now) * 1000u);
        pthread_cond_timedwait(&fwd.ready, &fwd.lock, &until);
    }
    return true;
}

/* Send the oldest line, if one comes before deadline_ms; it leaves the ring only once
 * written. */
static tm_status drain_one(tm_conn *conn, uint64_t deadline_ms)
{
    ring_line line;
    unsigned long dropped;
    pthread_mutex_lock(&fwd.lock);
    if (!wait_line(deadline_ms)) {
        pthread_mutex_unlock(&fwd.lock);
        return TM_OK;
    }
    line = fwd.lines[fwd.head];
    unsigned long long seq = fwd.head_seq;
    dropped = fwd.dropped;
    fwd.dropped = 0;
    pthread_mutex_unlock(&fwd.lock);
    if (dropped) {
        char note[96];
        snprintf(note, sizeof(note), "(%lu enclave log lines dropped: the helper's log port was not reading)",
                 dropped);
        TM_TRY(send_line(conn, TM_LOG_WARN, note));
    }
    TM_TRY(send_line(conn, line.level, line.text));
    pthread_mutex_lock(&fwd.lock);
    if (fwd.head_seq == seq) { /* not dropped for space meanwhile */
        fwd.head = (fwd.head + 1) % RING_LINES;
        fwd.head_seq++;
        fwd.count--;
    }
    pthread_mutex_unlock(&fwd.lock);
    return TM_OK;
}

/* The registry's snapshot as one MetricsReport (nothing without a registry). Only a broken
 * connection is an error: a report that could not be made or encoded (nothing written) is
 * skipped, said once on stderr, and the lines go on. */
static tm_status send_report(tm_conn *conn)
{
    static bool warned;
    tm_metrics *metrics = tm_metrics_global();
    Tmkms__Nitro__MetricsReport *r = NULL;
    if (!metrics || !fwd.report) return TM_OK;
    tm_status status = tm_nitro_metrics_report_build(fwd.report, metrics, &r);
    if (status == TM_OK) {
        tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
        m.body_case = TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT;
        m.metrics_report = r;
        status = tm_nitro_send(conn, &m);
    }
    if (status == TM_ERR_IO || status == TM_ERR_EOF || status == TM_ERR_TIMEOUT) return status;
    if (status != TM_OK && !warned) fprintf(stderr, "enclave metrics report skipped: %s\n", tm_err_msg());
    warned = warned || status != TM_OK;
    return TM_OK;
}

/* One connection: a report at once, then lines as they come and a report every REPORT_MS. */
static tm_status forward_conn(tm_conn *conn)
{
    uint64_t next_report = 0;
    for (;;) {
        if (tm_monotonic_ms() >= next_report) {
            TM_TRY(send_report(conn));
            next_report = tm_monotonic_ms() + REPORT_MS;
        }
        TM_TRY(drain_one(conn, next_report));
    }
}

static void *forward_main(void *arg)
{
    (void)arg;
    for (;;) {
        tm_conn *conn = NULL;
        /* Not tm_log here: its lines would come back through the sink. */
        if (tm_vsock_dial(fwd.net, &fwd.ep, ENCLAVE_IO_TIMEOUT_MS, &conn) != TM_OK) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            continue;
        }
        (void)forward_conn(conn);
        fprintf(stderr, "enclave log forwarding: %s; reconnecting\n", tm_err_msg());
        tm_conn_close(conn);
    }
    return NULL;
}

tm_status enclave_log_forward_start(const tm_vsock_net *net, uint32_t port)
{
    pthread_mutex_lock(&fwd.lock);
    bool started = fwd.started;
    fwd.started = true;
    fwd.net = net;
    fwd.ep = (tm_vsock_ep){TM_VSOCK_CID_PARENT, port};
    pthread_mutex_unlock(&fwd.lock);
    if (started) return TM_OK;
    /* Nobody waits on or signals it yet (the sink comes last): its clock can still change,
     * to the monotonic one wait_line's deadlines are on. */
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) == 0) {
        if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0) {
            pthread_cond_destroy(&fwd.ready);
            fwd.ready_monotonic = pthread_cond_init(&fwd.ready, &attr) == 0;
            if (!fwd.ready_monotonic) pthread_cond_init(&fwd.ready, NULL);
        }
        pthread_condattr_destroy(&attr);
    }
    if (tm_nitro_metrics_report_new(&fwd.report) != TM_OK) fwd.report = NULL; /* lines still go */
    pthread_t tid;
    TM_ENSURE(pthread_create(&tid, NULL, forward_main, NULL) == 0, TM_ERR_NOMEM,
              "cannot start the log thread");
    pthread_detach(tid);
    tm_log_set_sink(sink, NULL);
    return TM_OK;
}
