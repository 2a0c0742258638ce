/* tmkms-nitro-helper launch-all: the enclave (nitro-cli run-enclave), the vsock proxy
 * (`enclave vsock-proxy`, a child process) and the helper (`start --cid CID`, a child
 * process) as one supervised unit. What dies is restarted after a backoff (base doubled
 * per recent death, at most BACKOFF_CAP_MS); more than --max-restarts deaths of one part
 * within --restart-window seconds is beyond recovery: everything is torn down and the
 * exit status is 1. SIGTERM/SIGINT/SIGHUP tear everything down (children get SIGTERM,
 * SIGKILL after STOP_GRACE_MS; the enclave is terminated) and exit 0.
 *
 * The enclave is not our child: nitro-cli starts it and returns; it is watched with
 * describe-enclaves every --check-interval-ms. When it comes back with another CID the
 * helper is restarted with the new one (not counted as a death).
 *
 * systemd (Type=notify, NotifyAccess=main): launch-all is the unit's main process and the
 * only one that notifies. The helper's NOTIFY_SOCKET is ours (an abstract Unix datagram
 * socket, notify_relay.c); the first READY=1 from the helper we started becomes our one
 * READY=1, its STATUS= lines are passed on, and its STOPPING=1 (the helper stopping on
 * our SIGTERM) is not. The proxy gets no NOTIFY_SOCKET. STOPPING=1 when we stop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enclave_config.h"
#include "helper.h"
#include "nitro_cli.h"
#include "notify_relay.h"
#include "proxy.h"
#include "signal_pipe.h"
#include "tmkms/clock.h"
#include "tmkms/log.h"
#include "tmkms/sdnotify.h"

#define MOD "launch-all"
#define BACKOFF_CAP_MS 10000
#define STOP_GRACE_MS 10000
#define MAX_HISTORY 64
#define CHILD_ARGV_MAX 16
#define MAX_CHECK_FAILURES 5

extern char **environ;

enum { CH_ENCLAVE, CH_PROXY, CH_HELPER, CH_COUNT };

typedef struct {
    const char *name;
    pid_t pid; /* proxy, helper: the child; enclave: unused */
    bool up;
    bool planned;      /* stopped on purpose: restart without counting a death */
    double restart_at; /* > 0: start at this time */
    double deaths[MAX_HISTORY];
    size_t n_deaths;
    uint32_t cid; /* helper: the CID it was started with */
} child;

typedef struct {
    const char *tmkms_toml, *enclave_toml, *sim_dir, *kms_target, *metrics_addr;
    bool enclave_toml_given, verbose;
    unsigned max_restarts, window_s, backoff_ms, check_ms;
} launch_args;

typedef struct {
    launch_args a;
    helper_enclave_config cfg;
    child ch[CH_COUNT];
    nitro_enclave_info enclave;
    char self[PATH_MAX];
    int sig_fd;
    double next_check;
    unsigned check_failures; /* describe-enclaves failures in a row */
    bool give_up, stop;
    notify_relay relay; /* the helper's sd_notify messages */
    bool ready_sent;    /* our one READY=1 */
} launcher;

static double now_s(void)
{
    return (double)tm_monotonic_ns() / 1e9;
}
/* ---- options ---- */

static void launch_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper launch-all [-c tmkms.toml] [-e enclave.toml]\n"
            "                                     [--simulate DIR --kms-target HOST:PORT] [options]\n\n"
            "Runs the enclave (nitro-cli run-enclave, as `enclave run`), the vsock proxy to KMS (as\n"
            "`enclave vsock-proxy`) and the helper (`start -c tmkms.toml --cid CID`) as one unit:\n"
            "what dies is restarted with backoff; more than N deaths of one part within the window\n"
            "stops everything with exit status 1; SIGTERM stops everything cleanly (exit 0).\n\n"
            "Options:\n"
            "  -c, --config FILE          tmkms.toml for `start` (default ./tmkms.toml)\n"
            "  -e, --enclave-config FILE  enclave.toml (default ./enclave.toml; absent: the defaults)\n"
            "      --simulate DIR         simulation: passed to the proxy and the helper\n"
            "      --kms-target HOST:PORT (simulation) the proxy's stand-in for KMS, a loopback address\n"
            "      --max-restarts N       deaths of one part tolerated per window (default 5)\n"
            "      --restart-window S     the window in seconds (default 60)\n"
            "      --backoff-ms MS        first restart delay, doubled per recent death (default 500,\n"
            "                             at most %d)\n"
            "      --check-interval-ms MS how often the enclave is checked (default 2000)\n"
            "      --metrics ADDR         passed to the helper: Prometheus metrics on http://ADDR/metrics\n"
            "  -v, --verbose              debug logging, passed to the children\n"
            "  -h, --help                 this help\n\n"
            "The children run this program again (TMKMS_NITRO_HELPER_BIN overrides its path).\n"
            "Under systemd (Type=notify, NotifyAccess=main): READY=1 once the helper serves (its own\n"
            "READY=1 comes to launch-all), STATUS= from the helper, STOPPING=1 on a termination signal.\n",
            BACKOFF_CAP_MS);
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != 0 || s[0] == '-' || v < min || v > max) return false;
    *out = (unsigned)v;
    return true;
}

static int parse_launch_args(int argc, char **argv, launch_args *a)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"enclave-config", required_argument, NULL, 'e'},
                                            {"simulate", required_argument, NULL, 's'},
                                            {"kms-target", required_argument, NULL, 't'},
                                            {"max-restarts", required_argument, NULL, 'm'},
                                            {"restart-window", required_argument, NULL, 'w'},
                                            {"backoff-ms", required_argument, NULL, 'b'},
                                            {"check-interval-ms", required_argument, NULL, 'i'},
                                            {"verbose", no_argument, NULL, 'v'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"metrics", required_argument, NULL, 'M'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    bool ok = true;
    optind = 1;
    while (ok && (opt = getopt_long(argc, argv, "c:e:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': a->tmkms_toml = optarg; break;
        case 'e': a->enclave_toml = optarg, a->enclave_toml_given = true; break;
        case 's': a->sim_dir = optarg; break;
        case 't': a->kms_target = optarg; break;
        case 'm': ok = parse_uint(optarg, 0, MAX_HISTORY - 1, &a->max_restarts); break;
        case 'w': ok = parse_uint(optarg, 1, 86400, &a->window_s); break;
        case 'b': ok = parse_uint(optarg, 1, BACKOFF_CAP_MS, &a->backoff_ms); break;
        case 'i': ok = parse_uint(optarg, 50, 600000, &a->check_ms); break;
        case 'v': a->verbose = true; break;
        case 'M': a->metrics_addr = optarg; break;
        case 'h': return launch_usage(stdout), -1;
        default: ok = false;
        }
    }
    if (ok && optind == argc && (a->kms_target == NULL) == (a->sim_dir == NULL)) return 0;
    if (ok && (a->kms_target == NULL) != (a->sim_dir == NULL))
        fprintf(stderr, "tmkms-nitro-helper launch-all: --simulate and --kms-target go together (the proxy's "
                        "stand-in for KMS)\n");
    launch_usage(stderr);
    return HELPER_EXIT_USAGE;
}

/* ---- children ---- */

static tm_status spawn(launcher *l, char *const argv[], char *const envp[], pid_t *pid)
{
    posix_spawnattr_t attr;
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, l->self, NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return tm_err_set(TM_ERR_IO, "cannot run %s: %s", l->self, strerror(rc));
    return TM_OK;
}

static tm_status start_proxy(launcher *l, pid_t *pid)
{
    char *argv[CHILD_ARGV_MAX];
    size_t n = 0;
    argv[n++] = l->self;
    argv[n++] = "enclave";
    argv[n++] = "vsock-proxy";
    if (l->a.enclave_toml_given || access(l->a.enclave_toml, F_OK) == 0) {
        argv[n++] = "-e";
        argv[n++] = (char *)l->a.enclave_toml;
    }
    if (l->a.sim_dir != NULL) {
        argv[n++] = "--simulate";
        argv[n++] = (char *)l->a.sim_dir;
        argv[n++] = "--target";
        argv[n++] = (char *)l->a.kms_target;
    }
    if (l->a.verbose) argv[n++] = "-v";
    argv[n] = NULL;
    return spawn(l, argv, l->relay.proxy_env, pid);
}

static tm_status start_helper(launcher *l, pid_t *pid)
{
    char cid[16];
    char *argv[CHILD_ARGV_MAX];
    size_t n = 0;
    snprintf(cid, sizeof(cid), "%u", l->enclave.cid);
    argv[n++] = l->self;
    argv[n++] = "start";
    argv[n++] = "-c";
    argv[n++] = (char *)l->a.tmkms_toml;
    argv[n++] = "--cid";
    argv[n++] = cid;
    if (l->a.sim_dir != NULL) {
        argv[n++] = "--simulate";
        argv[n++] = (char *)l->a.sim_dir;
    }
    if (l->a.metrics_addr != NULL) {
        argv[n++] = "--metrics";
        argv[n++] = (char *)l->a.metrics_addr;
    }
    if (l->a.verbose) argv[n++] = "-v";
    argv[n] = NULL;
    TM_TRY(spawn(l, argv, l->relay.helper_env, pid));
    l->ch[CH_HELPER].cid = l->enclave.cid;
    return TM_OK;
}

static tm_status start_enclave(launcher *l)
{
    nitro_enclave_info stale;
    if (nitro_find(&l->cfg.enclave, NULL, &stale) == TM_OK) {
        tm_log_warn(MOD, "enclave %s (CID %u) is running without us: terminating it first", stale.id,
                    stale.cid);
        TM_TRY(nitro_terminate(stale.id));
    }
    TM_TRY(nitro_run_enclave(&l->cfg.enclave, &l->enclave));
    l->next_check = now_s() + l->a.check_ms / 1000.0;
    return TM_OK;
}

/* A part died (or could not start): schedule its restart, or give up. */
static void on_death(launcher *l, int k, const char *why)
{
    child *c = &l->ch[k];
    double t = now_s();
    c->up = false;
    c->pid = -1;
    if (l->stop) return;
    if (c->planned) {
        c->planned = false;
        c->restart_at = t;
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i < c->n_deaths; i++)
        if (t - c->deaths[i] < l->a.window_s) c->deaths[keep++] = c->deaths[i];
    c->deaths[keep++] = t;
    c->n_deaths = keep;
    if (keep > l->a.max_restarts) {
        tm_log_error(MOD, "%s: %s; %zu failures within %u s, more than --max-restarts %u: giving up", c->name,
                     why, keep, l->a.window_s, l->a.max_restarts);
        l->give_up = true;
        return;
    }
    double delay = l->a.backoff_ms / 1000.0;
    for (size_t i = 1; i < keep && delay < BACKOFF_CAP_MS / 1000.0; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP_MS / 1000.0) delay = BACKOFF_CAP_MS / 1000.0;
    tm_log_warn(MOD, "%s: %s; restarting in %.1f s (failure %zu of %u allowed within %u s)", c->name, why,
                delay, keep, l->a.max_restarts, l->a.window_s);
    tm_sd_status("%s: %s; restarting in %.1f s", c->name, why, delay);
    c->restart_at = t + delay;
}

static void try_start(launcher *l, int k)
{
    child *c = &l->ch[k];
    tm_status st = TM_OK;
    if (k == CH_HELPER && !l->ch[CH_ENCLAVE].up) return; /* waits for the enclave's CID */
    c->restart_at = 0;
    if (k == CH_ENCLAVE)
        st = start_enclave(l);
    else
        st = k == CH_PROXY ? start_proxy(l, &c->pid) : start_helper(l, &c->pid);
    if (st != TM_OK) {
        char why[320];
        snprintf(why, sizeof(why), "start failed: %s", tm_err_msg());
        on_death(l, k, why);
        return;
    }
    c->up = true;
    if (k == CH_ENCLAVE)
        tm_log_info(MOD, "enclave %s running, CID %u", l->enclave.id, l->enclave.cid);
    else
        tm_log_info(MOD, "%s started (pid %d)", c->name, (int)c->pid);
}

/* The enclave came back with another CID: the helper must dial the new one. */
static void enclave_started(launcher *l)
{
    child *h = &l->ch[CH_HELPER];
    if (h->up && h->cid != l->enclave.cid) {
        tm_log_info(MOD, "the enclave's CID is now %u: restarting the helper", l->enclave.cid);
        h->planned = true;
        kill(h->pid, SIGTERM);
    }
}

/* The enclave is gone when describe-enclaves no longer lists it (or lists it as
 * terminating). nitro-cli itself failing is not the enclave's death: it is retried, and
 * only MAX_CHECK_FAILURES failures in a row count as one. */
static void check_enclave(launcher *l)
{
    nitro_enclave_info info;
    l->next_check = now_s() + l->a.check_ms / 1000.0;
    tm_status st = nitro_find(&l->cfg.enclave, l->enclave.id, &info);
    if (st == TM_OK && strcmp(info.state, "TERMINATING") != 0) {
        l->check_failures = 0;
        return;
    }
    if (st != TM_OK && st != TM_ERR_NOT_FOUND && ++l->check_failures < MAX_CHECK_FAILURES) {
        tm_log_warn(MOD, "checking the enclave: %s (%u of %u tries)", tm_err_msg(), l->check_failures,
                    MAX_CHECK_FAILURES);
        return;
    }
    l->check_failures = 0;
    char why[320];
    snprintf(why, sizeof(why), "enclave %s is gone (%s)", l->enclave.id,
             st == TM_OK ? "terminating" : tm_err_msg());
    on_death(l, CH_ENCLAVE, why);
}

static void reap_children(launcher *l)
{
    for (int k = CH_PROXY; k < CH_COUNT; k++) {
        child *c = &l->ch[k];
        int ws = 0;
        if (!c->up || waitpid(c->pid, &ws, WNOHANG) != c->pid) continue;
        char why[64];
        if (WIFSIGNALED(ws))
            snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(ws));
        else
            snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(ws));
        on_death(l, k, why);
    }
}

/* ---- the loop ---- */

static int poll_timeout_ms(const launcher *l)
{
    double t = now_s(), next = t + 1.0;
    for (int k = 0; k < CH_COUNT; k++)
        if (l->ch[k].restart_at > 0 && l->ch[k].restart_at < next) next = l->ch[k].restart_at;
    if (l->ch[CH_ENCLAVE].up && l->next_check < next) next = l->next_check;
    int ms = (int)((next - t) * 1000.0) + 1;
    return ms < 1 ? 1 : ms;
}

static void handle_signals(launcher *l)
{
    int sig;
    while ((sig = helper_signal_next(l->sig_fd)) != 0) {
        if (sig == SIGCHLD) continue;
        tm_log_info(MOD, "signal %d: stopping everything", sig);
        l->stop = true;
    }
}

/* The helper's notifications: only from the helper we started (its PID), READY=1 passed on
 * once, STATUS= passed on. */
static void relay_notifications(launcher *l)
{
    notify_msg m;
    const child *h = &l->ch[CH_HELPER];
    while (notify_relay_recv(&l->relay, &m)) {
        if (!h->up || m.pid != h->pid) {
            tm_log_debug(MOD, "a notification from PID %d, not the helper's: ignored", (int)m.pid);
            continue;
        }
        if (m.status[0]) tm_sd_status("%s", m.status);
        if (m.ready && !l->ready_sent) {
            l->ready_sent = true;
            tm_sd_ready();
            tm_log_info(MOD, "the helper serves: ready");
        }
    }
}

static void run_loop(launcher *l)
{
    while (!l->stop && !l->give_up) {
        double t = now_s();
        for (int k = 0; k < CH_COUNT && !l->give_up; k++) {
            if (l->ch[k].restart_at <= 0 || l->ch[k].restart_at > t) continue;
            try_start(l, k);
            if (k == CH_ENCLAVE && l->ch[k].up) enclave_started(l);
        }
        if (!l->give_up && l->ch[CH_ENCLAVE].up && now_s() >= l->next_check) check_enclave(l);
        if (l->give_up) break;
        struct pollfd p[2] = {{l->sig_fd, POLLIN, 0}, {l->relay.fd, POLLIN, 0}};
        poll(p, l->relay.fd >= 0 ? 2 : 1, poll_timeout_ms(l));
        handle_signals(l);
        if (p[1].revents & POLLIN) relay_notifications(l);
        reap_children(l);
    }
}

static void stop_children(launcher *l)
{
    for (int k = CH_PROXY; k < CH_COUNT; k++)
        if (l->ch[k].up) kill(l->ch[k].pid, SIGTERM);
    if (l->ch[CH_ENCLAVE].up) {
        if (nitro_terminate(l->enclave.id) == TM_OK)
            tm_log_info(MOD, "enclave %s terminated", l->enclave.id);
        else
            tm_log_error(MOD, "enclave %s: %s", l->enclave.id, tm_err_msg());
        l->ch[CH_ENCLAVE].up = false;
    }
    double deadline = now_s() + STOP_GRACE_MS / 1000.0;
    for (int k = CH_PROXY; k < CH_COUNT; k++) {
        child *c = &l->ch[k];
        while (c->up && waitpid(c->pid, NULL, WNOHANG) == 0 && now_s() < deadline)
            usleep(20000);
        if (c->up && waitpid(c->pid, NULL, WNOHANG) == 0) {
            tm_log_warn(MOD, "%s (pid %d) ignored SIGTERM: killing it", c->name, (int)c->pid);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
        c->up = false;
    }
}

static bool init_launcher(launcher *l)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    const char *env = getenv("TMKMS_NITRO_HELPER_BIN");
    ssize_t n = env != NULL ? (ssize_t)snprintf(l->self, sizeof(l->self), "%s", env)
                            : readlink("/proc/self/exe", l->self, sizeof(l->self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(l->self) - 1) {
        fprintf(stderr, "tmkms-nitro-helper launch-all: cannot find this program's path\n");
        return false;
    }
    if (env == NULL) l->self[n] = 0;
    if (access(l->a.tmkms_toml, R_OK) != 0) {
        fprintf(stderr, "tmkms-nitro-helper launch-all: %s: %s\n", l->a.tmkms_toml, strerror(errno));
        return false;
    }
    bool have_toml = l->a.enclave_toml_given || access(l->a.enclave_toml, F_OK) == 0;
    tm_status st = TM_OK;
    if (have_toml)
        st = helper_enclave_config_load(l->a.enclave_toml, &l->cfg);
    else
        helper_enclave_config_defaults(&l->cfg, ".");
    if (st == TM_OK) st = notify_relay_open(&l->relay, environ);
    if (st != TM_OK || helper_signal_pipe(signals, 4, &l->sig_fd) != TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper launch-all: %s\n", tm_err_msg());
        return false;
    }
    return true;
}

int cmd_launch_all(int argc, char **argv)
{
    static launcher l; /* large (config paths); one per process */
    l = (launcher){.a = {.tmkms_toml = "tmkms.toml",
                         .enclave_toml = "enclave.toml",
                         .max_restarts = 5,
                         .window_s = 60,
                         .backoff_ms = 500,
                         .check_ms = 2000}};
    int rc = parse_launch_args(argc, argv, &l.a);
    if (rc != 0) return rc < 0 ? HELPER_EXIT_OK : rc;
    if (l.a.verbose) tm_log_set_level(TM_LOG_DEBUG);
    l.relay.fd = -1;
    if (!init_launcher(&l)) return HELPER_EXIT_FAIL;
    const char *names[CH_COUNT] = {"enclave", "vsock-proxy", "helper"};
    double t = now_s();
    for (int k = 0; k < CH_COUNT; k++)
        l.ch[k] = (child){.name = names[k], .pid = -1, .restart_at = t};
    tm_log_info(MOD, "starting the enclave (%s), the vsock proxy and the helper (%s)%s%s",
                l.cfg.enclave.eif_path, l.a.tmkms_toml, l.a.sim_dir ? " in simulation at " : "",
                l.a.sim_dir ? l.a.sim_dir : "");
    run_loop(&l);
    if (l.stop) tm_sd_stopping();
    stop_children(&l);
    notify_relay_close(&l.relay);
    if (l.give_up) {
        tm_log_error(MOD, "stopped: cannot recover");
        return HELPER_EXIT_FAIL;
    }
    tm_log_info(MOD, "stopped");
    return HELPER_EXIT_OK;
}
