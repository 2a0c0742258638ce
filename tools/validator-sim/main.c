/* validator-sim: plays a CometBFT validator node against tmkms over a Unix socket. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "record.h"
#include "scenarios.h"
#include "selftest.h"
#include "sim.h"

static void usage(FILE *f)
{
    fputs("usage: validator-sim --socket PATH [options]       play the node against tmkms\n"
          "       validator-sim --listen tcp://HOST:PORT [options]   ... over Secret Connection\n"
          "       validator-sim --listen noise://HOST:PORT [options] ... over libp2p Noise\n"
          "       validator-sim --self-test VECTORS.json...    check the sign-bytes encoder\n"
          "       validator-sim --check-record FILE...         find double signs in records\n"
          "\n"
          "Listens on the Unix socket PATH (tmkms dials it), sends privval requests and checks\n"
          "every answer: signatures verify over canonical sign bytes computed here, the vote or\n"
          "proposal comes back unchanged, extension signatures exactly on non-nil precommits,\n"
          "refusals carry an error and no signature.\n"
          "\n"
          "With --listen the node is reached over the network as CometBFT's own listener is:\n"
          "the KMS dials, both sides authenticate, then the same checks run.\n"
          "\n"
          "options:\n"
          "  --identity-key FILE    --listen: this node's identity key (default: a fresh one)\n"
          "  --expect-kms-id ID     --listen: serve only the KMS with this node ID (tcp://)\n"
          "                         or peer ID (noise://)\n"
          "  --node-id-file FILE    --listen: write this node's node ID or peer ID to FILE\n"
          "  --scenario LIST        comma-separated: basic, guard, storm, oversize, all\n"
          "                         (default all, in that order)\n"
          "  --chain-id ID          chain to ask signatures for (default sim-chain)\n"
          "  --start-height H       first height to use (default 1)\n"
          "  --basic-heights N      heights in the basic scenario (default 4)\n"
          "  --heights N            storm length in heights (default 50; 0 = unbounded)\n"
          "  --seconds T            storm length in seconds (default 0 = unbounded)\n"
          "  --crashes              storm: tmkms is being killed; accept its reconnections\n"
          "  --max-height H         tmkms's configured max_height: guard checks H+1 is refused\n"
          "  --expect-pubkey KEY    the consensus key tmkms must report (base64 or hex)\n"
          "  --record FILE          append every received signature to FILE\n"
          "  --seed N               random seed (default: from the clock; printed)\n"
          "  --timeout MS           answer timeout (default 10000)\n"
          "  --accept-timeout MS    wait for tmkms to connect (default 30000)\n"
          "  -v, --verbose          one line per request\n"
          "  -h, --help\n"
          "exit status: 0 all checks passed, 1 a check failed, 2 usage error\n",
          f);
}

typedef struct {
    const char *socket;
    const char *listen, *identity_key, *expect_kms_id, *node_id_file;
    const char *chain_id;
    const char *scenarios;
    const char *record;
    const char *expect_pk;
    int64_t start_height, max_height;
    int basic_heights;
    storm_opts storm;
    uint64_t seed;
    int timeout_ms, accept_timeout_ms;
    bool verbose;
    int mode; /* 0 simulate, 1 self-test, 2 check-record */
} options;

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    int64_t v;
    if (parse_int64(s, &v) != 0 || v > 1000000000) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    enum {
        O_SCEN = 256,
        O_CHAIN,
        O_START,
        O_BASIC,
        O_HEIGHTS,
        O_SECS,
        O_CRASH,
        O_MAXH,
        O_PK,
        O_REC,
        O_SEED,
        O_TMO,
        O_ATMO,
        O_SELF,
        O_CHECK,
        O_LISTEN,
        O_IDKEY,
        O_EXPECT_ID,
        O_IDFILE
    };
    static const struct option longopts[] = {{"socket", required_argument, NULL, 's'},
                                             {"listen", required_argument, NULL, O_LISTEN},
                                             {"identity-key", required_argument, NULL, O_IDKEY},
                                             {"expect-kms-id", required_argument, NULL, O_EXPECT_ID},
                                             {"node-id-file", required_argument, NULL, O_IDFILE},
                                             {"scenario", required_argument, NULL, O_SCEN},
                                             {"chain-id", required_argument, NULL, O_CHAIN},
                                             {"start-height", required_argument, NULL, O_START},
                                             {"basic-heights", required_argument, NULL, O_BASIC},
                                             {"heights", required_argument, NULL, O_HEIGHTS},
                                             {"seconds", required_argument, NULL, O_SECS},
                                             {"crashes", no_argument, NULL, O_CRASH},
                                             {"max-height", required_argument, NULL, O_MAXH},
                                             {"expect-pubkey", required_argument, NULL, O_PK},
                                             {"record", required_argument, NULL, O_REC},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"timeout", required_argument, NULL, O_TMO},
                                             {"accept-timeout", required_argument, NULL, O_ATMO},
                                             {"self-test", no_argument, NULL, O_SELF},
                                             {"check-record", no_argument, NULL, O_CHECK},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c, bad = 0;
    int64_t seed = 0;
    while ((c = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->socket = optarg; break;
        case O_LISTEN: o->listen = optarg; break;
        case O_IDKEY: o->identity_key = optarg; break;
        case O_EXPECT_ID: o->expect_kms_id = optarg; break;
        case O_IDFILE: o->node_id_file = optarg; break;
        case O_SCEN: o->scenarios = optarg; break;
        case O_CHAIN: o->chain_id = optarg; break;
        case O_START: bad |= parse_int64(optarg, &o->start_height); break;
        case O_BASIC: bad |= parse_int(optarg, &o->basic_heights); break;
        case O_HEIGHTS: bad |= parse_int(optarg, &o->storm.heights); break;
        case O_SECS: bad |= parse_int(optarg, &o->storm.seconds); break;
        case O_CRASH: o->storm.crashes = true; break;
        case O_MAXH: bad |= parse_int64(optarg, &o->max_height); break;
        case O_PK: o->expect_pk = optarg; break;
        case O_REC: o->record = optarg; break;
        case O_SEED:
            bad |= parse_int64(optarg, &seed);
            o->seed = (uint64_t)seed;
            break;
        case O_TMO: bad |= parse_int(optarg, &o->timeout_ms); break;
        case O_ATMO: bad |= parse_int(optarg, &o->accept_timeout_ms); break;
        case O_SELF: o->mode = 1; break;
        case O_CHECK: o->mode = 2; break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (bad) {
        fprintf(stderr, "validator-sim: a numeric option has a bad value\n");
        return -1;
    }
    if (o->mode == 0 && (!o->socket == !o->listen || optind != argc)) {
        fprintf(stderr, "validator-sim: one of --socket PATH or --listen URL is required, and no other arguments\n");
        return -1;
    }
    if (o->mode != 0 && optind == argc) {
        fprintf(stderr, "validator-sim: name at least one file\n");
        return -1;
    }
    if (o->start_height < 1) {
        fprintf(stderr, "validator-sim: --start-height must be >= 1\n");
        return -1;
    }
    return 0;
}

static int decode_key(const char *text, uint8_t out[SIM_PK_LEN])
{
    size_t len = 0;
    if (strlen(text) == 2 * SIM_PK_LEN) {
        if (sodium_hex2bin(out, SIM_PK_LEN, text, strlen(text), NULL, &len, NULL) == 0 && len == SIM_PK_LEN) {
            return 0;
        }
    }
    if (sodium_base642bin(out, SIM_PK_LEN, text, strlen(text), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        len == SIM_PK_LEN) {
        return 0;
    }
    return -1;
}

static bool run_one(sim *s, const char *name, const options *o)
{
    if (strcmp(name, "basic") == 0) {
        return scenario_basic(s, o->basic_heights);
    }
    if (strcmp(name, "guard") == 0) {
        return scenario_guard(s);
    }
    if (strcmp(name, "storm") == 0) {
        return scenario_storm(s, &o->storm);
    }
    if (strcmp(name, "oversize") == 0) {
        return scenario_oversize(s);
    }
    sim_fail(s, "unknown scenario \"%s\"", name);
    return false;
}

static int run_scenarios(sim *s, const options *o)
{
    char list[256];
    const char *names = strcmp(o->scenarios, "all") == 0 ? "basic,guard,storm,oversize" : o->scenarios;
    snprintf(list, sizeof(list), "%s", names);
    printf("validator-sim: listening on %s for chain %s (seed %" PRIu64 ")\n", o->socket ? o->socket : o->listen, s->chain_id,
           o->seed);
    fflush(stdout);
    char *save = NULL;
    bool connected = sim_accept(s);
    for (char *name = strtok_r(list, ",", &save); connected && name; name = strtok_r(NULL, ",", &save)) {
        if (!run_one(s, name, o) || wire_stop_requested) {
            if (!wire_stop_requested && s->n_fail == 0) {
                sim_fail(s, "scenario %s could not finish", name);
            }
            break;
        }
    }
    sim_print_summary(s, names);
    return s->n_fail ? 1 : 0;
}

static int simulate(options *o)
{
    sim s;
    if (o->seed == 0) {
        o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    }
    sim_init(&s, o->chain_id, o->seed);
    s.cursor = o->start_height;
    s.max_height = o->max_height;
    s.verbose = o->verbose;
    s.accept_timeout_ms = o->accept_timeout_ms;
    if (o->expect_pk) {
        if (decode_key(o->expect_pk, s.expect_pk) != 0) {
            fprintf(stderr, "validator-sim: --expect-pubkey: not a 32-byte key in base64 or hex\n");
            return 2;
        }
        s.have_expect_pk = true;
    }
    if (o->record) {
        s.record_fd = open(o->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s.record_fd < 0) {
            fprintf(stderr, "validator-sim: --record %s: %s\n", o->record, strerror(errno));
            return 2;
        }
    }
    wire_install_signal_handlers();
    int rc = 1;
    wire_status ws = WS_SYS;
    if (o->listen) {
        secure_listener *l = secure_listen(o->listen, o->identity_key, o->expect_kms_id, o->node_id_file);
        if (l) ws = wire_listen_secure(&s.w, l, o->timeout_ms);
    } else {
        ws = wire_listen(&s.w, o->socket, o->timeout_ms);
    }
    if (ws == WS_OK) {
        rc = run_scenarios(&s, o);
    }
    wire_close(&s.w);
    sim_free(&s);
    return rc;
}

static int check_records(char **files, int n)
{
    record_report rep;
    int rc = record_check((const char *const *)files, n, false, &rep);
    if (rc < 0) {
        return 2;
    }
    printf(
        "check-record: %lu signatures, %lu distinct height/round/type, %lu double signs, %lu bad records\n",
        rep.records, rep.keys, rep.conflicts, rep.bad);
    printf("max_signed_height %" PRId64 "\n", rep.max_height);
    printf("result: %s\n", rc ? "FAIL" : "PASS");
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    options o = {.chain_id = "sim-chain",
                 .scenarios = "all",
                 .start_height = 1,
                 .basic_heights = 4,
                 .storm = {.heights = 50},
                 .timeout_ms = 10000,
                 .accept_timeout_ms = 30000};
    if (sodium_init() < 0) {
        fprintf(stderr, "validator-sim: libsodium failed to initialise\n");
        return 2;
    }
    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (o.mode == 1) {
        return selftest_run((const char *const *)argv + optind, argc - optind);
    }
    if (o.mode == 2) {
        return check_records(argv + optind, argc - optind);
    }
    return simulate(&o);
}
