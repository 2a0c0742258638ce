/* tmkms-nitro-enclave: see enclave.h. main() sets up the NSM, the vsock endpoints and the
 * RNG, then answers the helper's requests on the config port one connection at a time. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enclave.h"
#include "tmkms/log.h"
#include "tmkms/metrics.h"
#include "tmkms/signer.h"

#define MOD "enclave"
#define PROD_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

#ifdef TMKMS_NITRO_SIMULATION
#define PROGRAM "tmkms-nitro-enclave-sim"
#else
#define PROGRAM "tmkms-nitro-enclave"
#endif

typedef struct {
    uint32_t port;
    bool verbose;
#ifdef TMKMS_NITRO_SIMULATION
    const char *sim_dir;
    uint32_t cid;
    tm_nsm_sim_config nsm;
#endif
} options;

static void usage(FILE *out)
{
    fprintf(out, "Usage: " PROGRAM " [options]\n\n"
                 "The tmkms program inside the Nitro Enclave. It listens on vsock port 5050 (any CID)\n"
                 "for tmkms-nitro-helper's requests: keygen (a new consensus key, sealed by KMS) and\n"
                 "start (unseal the key, load the state from the helper, serve the node through the\n"
                 "helper's relay). It takes no files and no network: everything comes from the\n"
                 "helper, which it does not trust.\n\n"
                 "Options:\n"
                 "  --port N            the config port (default 5050)\n"
                 "  -v, --verbose       debug logging\n"
                 "  -h, --help          this help\n"
                 "  --version           the version\n"
#ifdef TMKMS_NITRO_SIMULATION
                 "\nSimulation (this build only; see docs/SIMULATION.md):\n"
                 "  --simulate DIR      vsock endpoints are Unix sockets DIR/vsock-<cid>-<port>.sock\n"
                 "  --cid N             this enclave's CID (default 16)\n"
                 "  --kms-endpoint URL  KMS (the emulator) instead of https://kms.REGION.amazonaws.com;\n"
                 "                      still reached through the proxy at vsock 3:8000\n"
                 "  --kms-ca FILE       the CA bundle for KMS TLS (default " PROD_CA_BUNDLE ")\n"
                 "  --nsm-ca DIR        the NSM simulator's CA (default DIR/nsm-ca)\n"
                 "  --pcr0 HEX          the simulated PCR0 (default: SHA-384 of this program)\n"
                 "  --instance-id ID    PCR4 = SHA-384(48 zero bytes || ID)\n"
#endif
    );
}

static int parse_u32(const char *text, const char *what, uint32_t *out)
{
    if (tm_vsock_parse_u32(text, what, out) != TM_OK) {
        fprintf(stderr, PROGRAM ": %s\n", tm_err_msg());
        return -1;
    }
    return 0;
}

/* 0: go on; 1: exit 0 (help/version); 2: usage error. */
static int parse_args(int argc, char **argv, options *o, enclave *e)
{
    enum {
        OPT_PORT = 256,
        OPT_VERSION,
        OPT_SIM,
        OPT_CID,
        OPT_KMS,
        OPT_KMS_CA,
        OPT_NSM_CA,
        OPT_PCR0,
        OPT_IID
    };
    static const struct option longs[] = {{"port", required_argument, NULL, OPT_PORT},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, OPT_VERSION},
#ifdef TMKMS_NITRO_SIMULATION
                                          {"simulate", required_argument, NULL, OPT_SIM},
                                          {"cid", required_argument, NULL, OPT_CID},
                                          {"kms-endpoint", required_argument, NULL, OPT_KMS},
                                          {"kms-ca", required_argument, NULL, OPT_KMS_CA},
                                          {"nsm-ca", required_argument, NULL, OPT_NSM_CA},
                                          {"pcr0", required_argument, NULL, OPT_PCR0},
                                          {"instance-id", required_argument, NULL, OPT_IID},
#endif
                                          {NULL, 0, NULL, 0}};
    int c;
    (void)e; /* only the simulation build's options set fields of it */
    while ((c = getopt_long(argc, argv, "vh", longs, NULL)) != -1) {
        switch (c) {
        case OPT_PORT:
            if (parse_u32(optarg, "--port", &o->port)) return 2;
            break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); return 1;
        case OPT_VERSION:
            printf(PROGRAM " %s (tmkms-nitro, git %s)\n", TMKMS_VERSION, TMKMS_GIT_REV);
            return 1;
#ifdef TMKMS_NITRO_SIMULATION
        case OPT_SIM: o->sim_dir = optarg; break;
        case OPT_CID:
            if (parse_u32(optarg, "--cid", &o->cid)) return 2;
            break;
        case OPT_KMS: e->kms_endpoint = optarg; break;
        case OPT_KMS_CA: e->kms_ca = optarg; break;
        case OPT_NSM_CA: o->nsm.ca_dir = optarg; break;
        case OPT_PCR0: o->nsm.pcr0_hex = optarg; break;
        case OPT_IID: o->nsm.instance_id = optarg; break;
#endif
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
#ifdef TMKMS_NITRO_SIMULATION
    if (!o->sim_dir) {
        fprintf(stderr, PROGRAM ": the simulation build needs --simulate DIR\n");
        return 2;
    }
#endif
    return 0;
}

#ifdef TMKMS_NITRO_SIMULATION
static tm_status open_platform(options *o, enclave *e)
{
    static char ca_dir[256];
    TM_TRY(tm_vsock_net_simulated(o->sim_dir, o->cid, &e->net));
    if (!o->nsm.ca_dir) {
        snprintf(ca_dir, sizeof(ca_dir), "%s/nsm-ca", o->sim_dir);
        o->nsm.ca_dir = ca_dir;
    }
    if (!o->nsm.pcr0_hex) { /* the default PCR0, never silently all zeros (a debug-mode enclave's) */
        TM_ENSURE(access("/proc/self/exe", R_OK) == 0, TM_ERR_CONFIG,
                  "the simulated PCR0 is SHA-384 of this program, but /proc/self/exe cannot be read (%s): "
                  "give --pcr0",
                  strerror(errno));
        o->nsm.enclave_binary = "/proc/self/exe";
    }
    TM_TRY(tm_nsm_sim_open(&o->nsm, &e->nsm));
    tm_log_warn(MOD, "SIMULATION build: vsock is %s/vsock-*.sock, the NSM is a simulator; not for production",
                o->sim_dir);
    return TM_OK;
}
#else
static tm_status open_platform(options *o, enclave *e)
{
    (void)o;
    tm_vsock_net_real(&e->net);
    return tm_nsm_open_device("/dev/nsm", &e->nsm);
}
#endif

/* An enclave boots with little entropy of its own: feed the NSM's into the kernel pool
 * (writes to /dev/random mix without crediting). Keys additionally hash NSM and kernel
 * randomness together (enclave_random_seed). */
static void seed_rng(enclave *e)
{
    uint8_t buf[64];
    if (tm_nsm_get_random(e->nsm, buf, sizeof(buf)) != TM_OK) {
        tm_log_warn(MOD, "NSM GetRandom failed: %s", tm_err_msg());
        return;
    }
    int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            tm_log_debug(MOD, "could not stir /dev/random");
        close(fd);
    }
    sodium_memzero(buf, sizeof(buf));
}

tm_status enclave_kms_config(enclave *e, const char *region, const Tmkms__Nitro__AwsCredentials *c,
                             uint32_t proxy_port, tm_vsock_target *target, tm_aws_credentials **creds,
                             tm_kms_config *out)
{
    *creds = NULL;
    TM_TRY(tm_aws_credentials_new(creds));
    tm_status status =
        tm_aws_credentials_set(*creds, c->access_key_id, c->secret_access_key, c->session_token);
    if (status != TM_OK) {
        tm_aws_credentials_free(*creds);
        *creds = NULL;
        return tm_err_prefix(status, "credentials: ");
    }
    target->net = &e->net;
    target->ep = (tm_vsock_ep){TM_VSOCK_CID_PARENT, proxy_port ? proxy_port : TM_NITRO_PORT_KMS_PROXY};
    memset(out, 0, sizeof(*out));
    out->region = region;
    out->endpoint = e->kms_endpoint;
    out->ca_bundle = e->kms_ca;
    out->creds = *creds;
    out->connect = tm_vsock_connect_hook;
    out->connect_ctx = target;
    return TM_OK;
}

static void handle(enclave *e, tm_conn *conn)
{
    tm_nitro_msg *m = NULL;
    tm_status status = tm_nitro_recv(conn, &m);
    if (status != TM_OK) {
        tm_log_warn(MOD, "config connection: %s", tm_err_msg());
        if (status != TM_ERR_EOF) tm_nitro_send_error(conn, status, tm_err_msg());
        return;
    }
    switch (m->body_case) {
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST:
        status = enclave_keygen(e, m->keygen_request, conn);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_START_REQUEST: status = enclave_start(e, m->start_request, conn); break;
    default:
        status =
            tm_err_set(TM_ERR_INVALID, "config port: %s is not a request", tm_nitro_body_name(m->body_case));
        tm_nitro_send_error(conn, status, tm_err_msg());
    }
    if (status != TM_OK) tm_log_error(MOD, "%s", tm_err_msg());
    tm_nitro_msg_free(m);
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

int main(int argc, char **argv)
{
    options o = {.port = TM_NITRO_PORT_CONFIG};
#ifdef TMKMS_NITRO_SIMULATION
    o.cid = TM_VSOCK_SIM_DEFAULT_ENCLAVE_CID;
#endif
    static enclave e = {.lock = PTHREAD_MUTEX_INITIALIZER, .kms_ca = PROD_CA_BUNDLE};
    int r = parse_args(argc, argv, &o, &e);
    if (r) return r == 1 ? 0 : 2;
    if (o.verbose) tm_log_set_level(TM_LOG_DEBUG);
    (void)signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    tm_vsock_listener *l = NULL;
    /* The registry the core records into (refusals, signing latency, KMS calls), sent to
     * the helper with the logs (log_forward.c); no HTTP endpoint in the enclave. */
    tm_metrics *metrics = NULL;
    if (tm_crypto_init() != TM_OK || tm_process_harden() != TM_OK || open_platform(&o, &e) != TM_OK) {
        tm_log_error(MOD, "%s", tm_err_msg());
        return 1;
    }
    /* Metrics never stop signing: without a registry the enclave serves and reports none. */
    if (tm_metrics_open_process(PROGRAM, 1, &metrics) != TM_OK)
        tm_log_warn(MOD, "no metrics: %s", tm_err_msg());
    seed_rng(&e);
    tm_vsock_ep ep = {TM_VSOCK_CID_ANY, o.port};
    if (tm_vsock_listen(&e.net, &ep, &l) != TM_OK) {
        tm_log_error(MOD, "%s", tm_err_msg());
        return 1;
    }
    tm_log_info(MOD, PROGRAM " %s listening on %s for the helper", TMKMS_VERSION, tm_vsock_listener_name(l));
    while (!stop_signal) {
        tm_conn *conn = NULL;
        tm_status status = tm_vsock_accept(l, 500, ENCLAVE_IO_TIMEOUT_MS, &conn);
        if (status == TM_ERR_TIMEOUT) continue;
        if (status != TM_OK) {
            tm_log_warn(MOD, "accept: %s", tm_err_msg());
            continue;
        }
        handle(&e, conn);
        tm_conn_close(conn);
    }
    /* A signature being persisted finishes first (the chain's lock); then the key is
     * wiped by exiting: locked pages are not written anywhere. */
    tm_log_info(MOD, "received %s, stopping", strsignal(stop_signal));
    tm_vsock_listener_close(l);
    enclave_stop(&e);
    return 0;
}
