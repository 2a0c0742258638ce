/* tmkms ha status: what the high-availability cluster of a config holds and who answers.
 * Each etcd endpoint's own status (member, leader, term, revision), then each chain's
 * record in etcd next to this instance's local state file. Read-only: it never writes a
 * record, so it is safe to run beside the signers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "modules.h"
#include "tmkms/config.h"
#include "tmkms/state.h"

static void ha_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms ha status [-c FILE]\n\n"
                 "Shows the [ha] cluster of a config: every etcd endpoint (reachable or not, its\n"
                 "member id, the leader it knows, raft term, revision, version) and every chain's\n"
                 "record (last signed height/round/step and its etcd revision) beside this\n"
                 "instance's local state.\n\n"
                 "Exit status: 0 when an endpoint knows a leader and every record could be read,\n"
                 "1 otherwise, 2 on a usage or configuration error.\n\n"
                 "Options:\n"
                 "  -c, --config FILE  configuration file (default: tmkms.toml)\n"
                 "  -h, --help         this help\n");
}

/* One line per endpoint; true when at least one knows a leader (a quorum exists). */
static bool show_endpoints(const tm_module_ha *module, tm_ha_backend *ha)
{
    bool quorum = false;
    printf("etcd endpoints:\n");
    for (size_t i = 0; i < module->endpoint_count(ha); i++) {
        tm_etcd_member_status st;
        module->endpoint_status(ha, i, &st);
        const char *url = module->endpoint(ha, i);
        if (!st.reachable) {
            printf("  %-28s unreachable: %s\n", url, st.error);
            continue;
        }
        if (st.leader_id != 0) quorum = true;
        printf("  %-28s member %016llx  %s  term %llu  revision %lld  db %lld bytes  etcd %s\n", url,
               (unsigned long long)st.member_id,
               st.leader_id == 0              ? "NO LEADER"
               : st.leader_id == st.member_id ? "leader"
                                              : "follower",
               (unsigned long long)st.raft_term, (long long)st.revision, (long long)st.db_size, st.version);
    }
    if (!quorum) printf("  no endpoint knows a leader: the cluster has no quorum, signing is refused\n");
    return quorum;
}

static void print_state(const char *what, const tm_sign_state *st)
{
    printf("    %-7s %lld/%d/%s%s\n", what, (long long)st->height, st->round, tm_step_name(st->step),
           st->has_signature ? "" : " (no signature recorded)");
}

/* The chain's record and local state; false when the record could not be read. */
static bool show_chain(tm_ha_backend *ha, const tm_chain_config *cc)
{
    tm_ha_record rec;
    printf("  chain %s\n", cc->id);
    if (ha->ops->load(ha, cc->id, &rec) != TM_OK) {
        printf("    record  unreadable: %s\n", tm_err_msg());
        return false;
    }
    if (rec.revision == 0)
        printf("    record  none yet (the first signature creates it)\n");
    else {
        print_state("record", &rec.state);
        printf("            etcd mod_revision %lld\n", (long long)rec.revision);
    }
    tm_sign_state local;
    if (tm_state_file_read(cc->state_file, cc->id, &local) == TM_OK)
        print_state("local", &local);
    else
        printf("    local   %s\n", tm_err_msg());
    return true;
}

static int ha_status(const tm_config *config)
{
    if (!config->ha.enabled) {
        fprintf(stderr, "tmkms ha status: %s has no [ha] section\n", config->path);
        return TM_EXIT_USAGE;
    }
    const tm_module_ha *module = NULL;
    if (tm_modules_ha(&module) != TM_OK) {
        fprintf(stderr, "tmkms ha status: %s: %s\n", config->path, tm_err_msg());
        return TM_EXIT_FAIL;
    }
    tm_ha_backend *ha = NULL;
    if (module->open(&config->ha, &ha) != TM_OK) {
        fprintf(stderr, "tmkms ha status: %s\n", tm_err_msg());
        return TM_EXIT_USAGE;
    }
    module->quiet(ha);
    printf("instance %s, records under %s\n", config->ha.instance, config->ha.key_prefix);
    bool ok = show_endpoints(module, ha);
    printf("chains:\n");
    for (size_t i = 0; i < config->n_chains; i++)
        ok = show_chain(ha, &config->chains[i]) && ok;
    ha->ops->close(ha);
    return ok ? TM_EXIT_OK : TM_EXIT_FAIL;
}

int cmd_ha(int argc, char **argv)
{
    const char *config_path = "tmkms.toml";
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc < 2 || cli_wants_help(argc, argv)) {
        ha_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TM_EXIT_USAGE : TM_EXIT_OK;
    }
    if (strcmp(argv[1], "status") != 0) {
        fprintf(stderr, "tmkms ha: unknown command '%s' (only 'status')\n", argv[1]);
        return TM_EXIT_USAGE;
    }
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            config_path = optarg;
        else {
            ha_usage(stderr);
            return TM_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "tmkms ha status: unexpected argument '%s'\n", argv[optind + 1]);
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK) {
        fprintf(stderr, "tmkms ha status: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    tm_config *config = NULL;
    tm_status status = tm_config_load(config_path, &config);
    if (status != TM_OK) {
        fprintf(stderr, "tmkms ha status: %s\n", tm_err_msg());
        return status == TM_ERR_CONFIG ? TM_EXIT_USAGE : TM_EXIT_FAIL;
    }
    int rc = ha_status(config);
    tm_config_free(config);
    return rc;
}
