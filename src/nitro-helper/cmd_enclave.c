/* tmkms-nitro-helper enclave run|info|stop|vsock-proxy: the enclave through AWS's
 * nitro-cli (run-enclave, describe-enclaves, terminate-enclave), and the vsock proxy the
 * enclave reaches AWS KMS through, all configured by enclave.toml. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enclave_config.h"
#include "helper.h"
#include "nitro_cli.h"
#include "proxy.h"
#include "signal_pipe.h"
#include "tmkms/log.h"
#include "tmkms/nitro/vsock.h"

#define DEFAULT_ENCLAVE_TOML "enclave.toml"

static void enclave_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper enclave <run|info|stop|vsock-proxy> [options]\n\n"
            "  run          start the enclave: nitro-cli run-enclave with enclave.toml's eif_path,\n"
            "               cpu_count, memory_mib, debug_mode and enclave_cid\n"
            "  info         show our enclave (nitro-cli describe-enclaves): ID, CID, state, PCR0\n"
            "  stop         terminate our enclave (nitro-cli terminate-enclave)\n"
            "  vsock-proxy  relay vsock port 8000 to kms.REGION.amazonaws.com:443, nothing else\n\n"
            "Our enclave is the one with enclave.toml's enclave_cid when set, else the one named\n"
            "enclave_name (default: the EIF's file name without extension, as nitro-cli names it).\n"
            "Run 'tmkms-nitro-helper enclave <command> --help' for a command's options.\n");
}

static void common_usage(FILE *out, const char *cmd, const char *what, const char *extra)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper enclave %s [-e enclave.toml]%s\n\n%s\n\n"
            "Options:\n"
            "  -e, --enclave-config FILE  enclave.toml (default: ./enclave.toml; absent: the defaults)\n"
            "  -h, --help                 this help\n",
            cmd, extra, what);
}

/* Loads enclave.toml; a missing default file means the documented defaults. */
static int load_config(const char *path, bool explicit_path, helper_enclave_config *cfg)
{
    if (!explicit_path && access(path, F_OK) != 0 && errno == ENOENT) {
        helper_enclave_config_defaults(cfg, ".");
        return 1;
    }
    if (helper_enclave_config_load(path, cfg) == TM_OK) return 1;
    fprintf(stderr, "tmkms-nitro-helper enclave: %s\n", tm_err_msg());
    return 0;
}

/* Parses -e/--enclave-config and -h; 0 to go on, else the exit status to return. */
static int parse_common(int argc, char **argv, const char *cmd, const char *what, const char **path, bool *explicit_path)
{
    static const struct option options[] = {{"enclave-config", required_argument, NULL, 'e'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "e:h", options, NULL)) != -1) {
        if (opt == 'h') return common_usage(stdout, cmd, what, ""), -1;
        if (opt != 'e') return common_usage(stderr, cmd, what, ""), HELPER_EXIT_USAGE;
        *path = optarg;
        *explicit_path = true;
    }
    if (optind != argc) return common_usage(stderr, cmd, what, ""), HELPER_EXIT_USAGE;
    return 0;
}

static int fail(const char *cmd)
{
    fprintf(stderr, "tmkms-nitro-helper enclave %s: %s\n", cmd, tm_err_msg());
    return HELPER_EXIT_FAIL;
}

static void print_info(const nitro_enclave_info *e)
{
    printf("EnclaveID: %s\nEnclaveName: %s\nEnclaveCID: %u\nState: %s\nFlags: %s\nNumberOfCPUs: %u\n"
           "MemoryMiB: %llu\nPCR0: %s\n",
           e->id, e->name[0] ? e->name : "-", e->cid, e->state[0] ? e->state : "-", e->flags[0] ? e->flags : "-",
           e->cpu_count, (unsigned long long)e->memory_mib, e->pcr0[0] ? e->pcr0 : "-");
}

static int enclave_run(int argc, char **argv)
{
    const char *path = DEFAULT_ENCLAVE_TOML, *what = "Starts the enclave with nitro-cli run-enclave (refused when ours "
                                                     "runs already)\nand prints its ID and CID.";
    bool explicit_path = false;
    helper_enclave_config cfg;
    nitro_enclave_info info;
    int rc = parse_common(argc, argv, "run", what, &path, &explicit_path);
    if (rc != 0) return rc < 0 ? HELPER_EXIT_OK : rc;
    if (!load_config(path, explicit_path, &cfg)) return HELPER_EXIT_FAIL;
    tm_status st = nitro_find(&cfg.enclave, NULL, &info);
    if (st == TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper enclave run: enclave %s (CID %u) is running already; "
                        "'tmkms-nitro-helper enclave stop' first\n", info.id, info.cid);
        return HELPER_EXIT_FAIL;
    }
    if (st != TM_ERR_NOT_FOUND) return fail("run");
    if (nitro_run_enclave(&cfg.enclave, &info) != TM_OK) return fail("run");
    printf("started enclave %s, CID %u (%u CPUs, %llu MiB%s)\n", info.id, info.cid, info.cpu_count,
           (unsigned long long)info.memory_mib, cfg.enclave.debug_mode ? ", debug mode: PCR0 is all zeros" : "");
    return HELPER_EXIT_OK;
}

static int enclave_info(int argc, char **argv)
{
    const char *path = DEFAULT_ENCLAVE_TOML, *what = "Shows our enclave as nitro-cli describe-enclaves reports it; "
                                                     "exit status 1 when it is\nnot running.";
    bool explicit_path = false;
    helper_enclave_config cfg;
    nitro_enclave_info info;
    int rc = parse_common(argc, argv, "info", what, &path, &explicit_path);
    if (rc != 0) return rc < 0 ? HELPER_EXIT_OK : rc;
    if (!load_config(path, explicit_path, &cfg)) return HELPER_EXIT_FAIL;
    if (nitro_find(&cfg.enclave, NULL, &info) != TM_OK) return fail("info");
    print_info(&info);
    return HELPER_EXIT_OK;
}

static int enclave_stop(int argc, char **argv)
{
    const char *path = DEFAULT_ENCLAVE_TOML, *what = "Terminates our enclave with nitro-cli terminate-enclave; exit "
                                                     "status 1 when it is not\nrunning.";
    bool explicit_path = false;
    helper_enclave_config cfg;
    nitro_enclave_info info;
    int rc = parse_common(argc, argv, "stop", what, &path, &explicit_path);
    if (rc != 0) return rc < 0 ? HELPER_EXIT_OK : rc;
    if (!load_config(path, explicit_path, &cfg)) return HELPER_EXIT_FAIL;
    if (nitro_find(&cfg.enclave, NULL, &info) != TM_OK || nitro_terminate(info.id) != TM_OK) return fail("stop");
    printf("terminated enclave %s\n", info.id);
    return HELPER_EXIT_OK;
}

/* ---- vsock-proxy ---- */

typedef struct {
    const char *config, *region, *sim_dir, *target;
    bool explicit_config, builtin, verbose;
} proxy_args;

static void proxy_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper enclave vsock-proxy [-e enclave.toml] [--region R] [--builtin]\n"
            "                                              [--simulate DIR --target HOST:PORT] [-v]\n\n"
            "Relays the enclave's vsock port (vsock_proxy.local_port, 8000) to AWS KMS of the region,\n"
            "kms.REGION.amazonaws.com:443, and nowhere else. When AWS's vsock-proxy is on the PATH it is\n"
            "run in our place (vsock-proxy [--num_workers N] [--config FILE] 8000 kms.REGION.amazonaws.com\n"
            "443); otherwise, or with --builtin, our own proxy does the same: at most num_workers\n"
            "connections, idle ones closed after %d s, everything shut down on SIGTERM/SIGINT.\n\n"
            "Options:\n"
            "  -e, --enclave-config FILE  enclave.toml (default ./enclave.toml; absent: the defaults)\n"
            "  -r, --region R             the AWS region (default: from vsock_proxy.remote_addr)\n"
            "      --builtin              never run AWS's vsock-proxy\n"
            "      --simulate DIR         the vsock side is the simulation's Unix socket in DIR (our\n"
            "                             proxy only) and --target replaces KMS\n"
            "      --target HOST:PORT     (with --simulate) the stand-in for KMS, e.g. the kms-emulator;\n"
            "                             a loopback address only\n"
            "  -v, --verbose              log every connection\n"
            "  -h, --help                 this help\n",
            PROXY_IDLE_SECONDS);
}

static int parse_proxy_args(int argc, char **argv, proxy_args *a)
{
    static const struct option options[] = {
        {"enclave-config", required_argument, NULL, 'e'}, {"region", required_argument, NULL, 'r'},
        {"builtin", no_argument, NULL, 'b'},             {"simulate", required_argument, NULL, 's'},
        {"target", required_argument, NULL, 't'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "e:r:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'e': a->config = optarg, a->explicit_config = true; break;
        case 'r': a->region = optarg; break;
        case 'b': a->builtin = true; break;
        case 's': a->sim_dir = optarg; break;
        case 't': a->target = optarg; break;
        case 'v': a->verbose = true; break;
        case 'h': return proxy_usage(stdout), -1;
        default: return proxy_usage(stderr), HELPER_EXIT_USAGE;
        }
    }
    if (optind != argc) return proxy_usage(stderr), HELPER_EXIT_USAGE;
    if ((a->target != NULL) != (a->sim_dir != NULL)) {
        fprintf(stderr, "tmkms-nitro-helper enclave vsock-proxy: --simulate and --target go together (the KMS "
                        "endpoint cannot be replaced outside simulation)\n");
        return HELPER_EXIT_USAGE;
    }
    return 0;
}

/* Replaces this process with AWS's vsock-proxy; returns only when it cannot be run. */
static void exec_aws_proxy(const helper_proxy_opts *p, const char *host)
{
    char workers[16], port[16], rport[16];
    char *argv[12];
    size_t n = 0;
    snprintf(workers, sizeof(workers), "%u", p->num_workers);
    snprintf(port, sizeof(port), "%u", p->local_port);
    snprintf(rport, sizeof(rport), "%u", (unsigned)p->remote_port);
    argv[n++] = "vsock-proxy";
    argv[n++] = "--num_workers";
    argv[n++] = workers;
    if (access(p->config_file, R_OK) == 0) {
        argv[n++] = "--config";
        argv[n++] = (char *)p->config_file;
    }
    argv[n++] = port;
    argv[n++] = (char *)host;
    argv[n++] = rport;
    argv[n] = NULL;
    tm_log_info("vsock-proxy", "running AWS's vsock-proxy %s %s %s", port, host, rport);
    execvp(argv[0], argv);
    if (errno != ENOENT) tm_log_warn("vsock-proxy", "cannot run AWS's vsock-proxy (%s); using our own", strerror(errno));
}

/* The proxy's listener: vsock (any CID) on the parent, or in simulation the mapping's
 * Unix socket DIR/vsock-3-PORT.sock (the parent's CID), removed again on exit. */
static tm_status proxy_listener(const char *sim_dir, uint32_t port, tm_vsock_listener **l)
{
    tm_vsock_net net;
    tm_vsock_ep ep = {TM_VSOCK_CID_ANY, port};
    if (sim_dir != NULL)
        TM_TRY(tm_vsock_net_simulated(sim_dir, TM_VSOCK_CID_PARENT, &net));
    else
        tm_vsock_net_real(&net);
    return tm_vsock_listen(&net, &ep, l);
}

static int run_builtin(const proxy_args *a, const helper_proxy_opts *p, const char *host, const char *port)
{
    static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};
    proxy_opts o = {.listen_fd = -1, .max_conns = p->num_workers, .stop_fd = -1};
    tm_vsock_listener *l = NULL;
    snprintf(o.host, sizeof(o.host), "%s", host);
    snprintf(o.port, sizeof(o.port), "%s", port);
    if (helper_signal_pipe(stop_signals, 3, &o.stop_fd) != TM_OK ||
        proxy_listener(a->sim_dir, p->local_port, &l) != TM_OK)
        return fail("vsock-proxy");
    o.listen_fd = tm_vsock_listener_fd(l);
    tm_log_info("vsock-proxy", "listening on %s", tm_vsock_listener_name(l));
    tm_status st = proxy_serve(&o);
    tm_vsock_listener_close(l);
    return st == TM_OK ? HELPER_EXIT_OK : fail("vsock-proxy");
}

static int enclave_vsock_proxy(int argc, char **argv)
{
    proxy_args a = {.config = DEFAULT_ENCLAVE_TOML};
    helper_enclave_config cfg;
    char host[PROXY_HOST_MAX + 1], port[8];
    int rc = parse_proxy_args(argc, argv, &a);
    if (rc != 0) return rc < 0 ? HELPER_EXIT_OK : rc;
    if (a.verbose) tm_log_set_level(TM_LOG_DEBUG);
    if (!load_config(a.config, a.explicit_config, &cfg)) return HELPER_EXIT_FAIL;
    if (a.region != NULL && !helper_valid_region(a.region)) {
        fprintf(stderr, "tmkms-nitro-helper enclave vsock-proxy: --region: '%.40s' is not an AWS region\n", a.region);
        return HELPER_EXIT_USAGE;
    }
    if (a.region != NULL) snprintf(cfg.proxy.remote_addr, sizeof(cfg.proxy.remote_addr), "kms.%s.amazonaws.com",
                                   a.region);
    if (a.target != NULL) {
        if (proxy_parse_loopback_target(a.target, host, port) != TM_OK) return fail("vsock-proxy");
        return run_builtin(&a, &cfg.proxy, host, port);
    }
    snprintf(host, sizeof(host), "%s", cfg.proxy.remote_addr);
    snprintf(port, sizeof(port), "%u", (unsigned)cfg.proxy.remote_port);
    if (!a.builtin) exec_aws_proxy(&cfg.proxy, host);
    return run_builtin(&a, &cfg.proxy, host, port);
}

int cmd_enclave(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"run", enclave_run}, {"info", enclave_info}, {"stop", enclave_stop}, {"vsock-proxy", enclave_vsock_proxy}};
    if (argc < 2) return enclave_usage(stderr), HELPER_EXIT_USAGE;
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) return enclave_usage(stdout), HELPER_EXIT_OK;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tmkms-nitro-helper enclave: unknown command '%s'\n\n", argv[1]);
    enclave_usage(stderr);
    return HELPER_EXIT_USAGE;
}
