/* tmkms state: create, show, export and import a chain's double-sign state. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tmkms/config.h"
#include "tmkms/guard.h"
#include "tmkms/state.h"

#define MAX_STATE_JSON (64 * 1024)

typedef struct {
    const char *config_path;
    const char *chain;
    const char *output;
    const char *state_file;
    int force;
} state_args;

static void state_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms state <init|show|export|import> -c FILE [--chain ID] [options]\n"
            "       tmkms state <init|show|export|import> --state-file PATH --chain ID [options]\n\n"
            "  init   [--chain ID]            create a height-0 state for each chain (or one);\n"
            "                                 an existing state is never overwritten\n"
            "  show   [--chain ID]            print the state as CometBFT's priv_validator_state.json\n"
            "  export --chain ID [-o OUT]     write CometBFT's priv_validator_state.json (stdout by default)\n"
            "  import --chain ID [--force] JSON\n"
            "                                 read CometBFT's priv_validator_state.json or a tmkms /\n"
            "                                 tmkms-light state file; refuses to move a state backwards\n"
            "                                 unless --force\n\n"
            "Options:\n"
            "  -c, --config FILE   configuration file (default: tmkms.toml)\n"
            "      --chain ID      the chain (default: every chain for init/show)\n"
            "  -o, --output FILE   export destination\n"
            "      --state-file PATH  act on this state file instead of a config's chains (e.g. the\n"
            "                      state_file_path of tmkms-nitro-helper's tmkms.toml); needs --chain\n"
            "      --force         import even if the imported state is older than the current one\n"
            "  -h, --help          this help\n\n"
            "State files hold the last signed height/round/step with its sign bytes and signature\n"
            "(docs/STATE.md). Never start a validator from a fresh state if its key has signed before.\n");
}

static void print_hrs(const char *chain, const char *path, const tm_sign_state *st)
{
    printf("%s: height %lld, round %d, step %s%s (%s)\n", chain, (long long)st->height, st->round,
           tm_step_name(st->step), st->sign_bytes_len ? ", sign bytes recorded" : "", path);
}

static int load_state(const tm_chain_config *cc, tm_sign_state *st)
{
    if (tm_state_file_read(cc->state_file, cc->id, st) != TM_OK) {
        fprintf(stderr, "tmkms state: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    return TM_EXIT_OK;
}

static int do_init(const tm_chain_config *cc)
{
    tm_sign_state initial = {0};
    tm_status status = tm_state_file_create(cc->state_file, cc->id, &initial);
    if (status == TM_ERR_EXISTS) {
        printf("kept     %s (exists; not overwritten)\n", cc->state_file);
        return TM_EXIT_OK;
    }
    if (status != TM_OK) {
        fprintf(stderr, "tmkms state init: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    printf("created  %s (chain %s, height 0)\n", cc->state_file, cc->id);
    return TM_EXIT_OK;
}

static int do_show(const tm_chain_config *cc, FILE *out, bool human)
{
    tm_sign_state st;
    int rc = load_state(cc, &st);
    if (rc != TM_EXIT_OK) return rc;
    char *json = NULL;
    if (tm_state_to_cometbft_json(&st, &json) != TM_OK) {
        fprintf(stderr, "tmkms state: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    if (human) { /* on stderr: stdout stays exactly CometBFT's JSON */
        fflush(stdout);
        fprintf(stderr, "%s: height %lld, round %d, step %s (%s)\n", cc->id, (long long)st.height, st.round,
                tm_step_name(st.step), cc->state_file);
    }
    fprintf(out, "%s\n", json);
    free(json);
    return TM_EXIT_OK;
}

static int do_export(const tm_chain_config *cc, const char *output)
{
    if (!output || strcmp(output, "-") == 0) return do_show(cc, stdout, false);
    FILE *f = fopen(output, "wx");
    if (!f) {
        fprintf(stderr, "tmkms state export: %s: %s\n", output, strerror(errno));
        return TM_EXIT_FAIL;
    }
    int rc = do_show(cc, f, false);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = TM_EXIT_FAIL;
    if (fclose(f) != 0) rc = TM_EXIT_FAIL;
    if (rc == TM_EXIT_OK) printf("exported %s state to %s\n", cc->id, output);
    return rc;
}

static int read_json_file(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "tmkms state import: %s: %s\n", path, strerror(errno));
        return TM_EXIT_FAIL;
    }
    *len = fread(buf, 1, cap, f);
    int too_big = *len == cap;
    (void)fclose(f);
    if (too_big) {
        fprintf(stderr, "tmkms state import: %s: larger than %zu bytes, not a state file\n", path, cap - 1);
        return TM_EXIT_FAIL;
    }
    return TM_EXIT_OK;
}

static int replace_state(const tm_chain_config *cc, const tm_sign_state *st)
{
    if (tm_state_file_replace(cc->state_file, cc->id, st) != TM_OK) {
        fprintf(stderr, "tmkms state import: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }
    return TM_EXIT_OK;
}

static int do_import(const tm_chain_config *cc, const char *json_path, int force)
{
    char *text = malloc(MAX_STATE_JSON);
    size_t len = 0;
    if (!text) return TM_EXIT_FAIL;
    int rc = read_json_file(json_path, text, MAX_STATE_JSON, &len);
    tm_sign_state st;
    tm_state_json_kind kind;
    if (rc == TM_EXIT_OK && tm_state_from_json(text, len, &st, &kind) != TM_OK) {
        fprintf(stderr, "tmkms state import: %s: %s\n", json_path, tm_err_msg());
        rc = TM_EXIT_FAIL;
    }
    free(text);
    if (rc != TM_EXIT_OK) return rc;
    printf("read %s as %s: height %lld, round %d, step %s\n", json_path,
           kind == TM_STATE_JSON_COMETBFT ? "CometBFT priv_validator_state.json" : "tmkms/tmkms-light state",
           (long long)st.height, st.round, tm_step_name(st.step));

    tm_sign_state current;
    tm_state_store *store = NULL;
    tm_status status = tm_state_file_open(cc->state_file, cc->id, &store, &current);
    if (status == TM_OK) {
        store->ops->close(store);
        int order = tm_hrs_compare(st.height, st.round, st.step, current.height, current.round, current.step);
        if (order < 0 && !force) {
            fprintf(stderr,
                    "tmkms state import: the imported state (%lld/%d/%s) is older than %s's current state "
                    "(%lld/%d/%s); importing it would allow signing again what may already be signed. "
                    "Use --force only if you know the current state is wrong.\n",
                    (long long)st.height, st.round, tm_step_name(st.step), cc->id, (long long)current.height,
                    current.round, tm_step_name(current.step));
            return TM_EXIT_FAIL;
        }
    } else if (status != TM_ERR_NOT_FOUND && !force) {
        fprintf(stderr, "tmkms state import: current state unreadable (%s); use --force to replace it\n",
                tm_err_msg());
        return TM_EXIT_FAIL;
    }
    rc = replace_state(cc, &st);
    if (rc == TM_EXIT_OK) print_hrs(cc->id, cc->state_file, &st);
    return rc;
}

static int parse_args(int argc, char **argv, state_args *a)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"chain", required_argument, NULL, 'n'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"force", no_argument, NULL, 'f'},
                                            {"state-file", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': a->config_path = optarg; break;
        case 'n': a->chain = optarg; break;
        case 'o': a->output = optarg; break;
        case 'f': a->force = 1; break;
        case 's': a->state_file = optarg; break;
        case 'h': state_usage(stdout); return -1;
        default: state_usage(stderr); return TM_EXIT_USAGE;
        }
    }
    return TM_EXIT_OK;
}

static int run_action(const char *action, const tm_chain_config *cc, const state_args *a, const char *json_path)
{
    if (strcmp(action, "init") == 0) return do_init(cc);
    if (strcmp(action, "show") == 0) return do_show(cc, stdout, true);
    if (strcmp(action, "export") == 0) return do_export(cc, a->output);
    return do_import(cc, json_path, a->force);
}

int cmd_state(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        state_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TM_EXIT_USAGE : TM_EXIT_OK;
    }
    const char *action = argv[1];
    state_args a = {"tmkms.toml", NULL, NULL, NULL, 0};
    int rc = parse_args(argc - 1, argv + 1, &a);
    if (rc != TM_EXIT_OK) return rc < 0 ? TM_EXIT_OK : rc;
    bool is_import = strcmp(action, "import") == 0;
    int positional = argc - 1 - optind;
    if (positional != (is_import ? 1 : 0)) {
        fprintf(stderr, "tmkms state %s: %s\n", action, is_import ? "needs one JSON file" : "unexpected argument");
        return TM_EXIT_USAGE;
    }
    const char *json_path = is_import ? argv[1 + optind] : NULL;
    if ((is_import || strcmp(action, "export") == 0 || a.state_file) && !a.chain) {
        fprintf(stderr, "tmkms state %s: --chain ID is required\n", action);
        return TM_EXIT_USAGE;
    }
    bool known = strcmp(action, "init") == 0 || strcmp(action, "show") == 0 || strcmp(action, "export") == 0 || is_import;
    if (!known) {
        fprintf(stderr, "tmkms state: unknown action '%s'\n", action);
        return TM_EXIT_USAGE;
    }
    if (a.state_file) {
        tm_chain_config one = {.id = (char *)a.chain, .state_file = (char *)a.state_file};
        return run_action(action, &one, &a, json_path);
    }
    tm_config *config = NULL;
    tm_status status = tm_config_load(a.config_path, &config);
    if (status != TM_OK) {
        fprintf(stderr, "tmkms state: %s\n", tm_err_msg());
        return status == TM_ERR_CONFIG ? TM_EXIT_USAGE : TM_EXIT_FAIL;
    }
    if (a.chain && !tm_config_chain(config, a.chain)) {
        fprintf(stderr, "tmkms state: no [[chain]] with id '%s' in %s\n", a.chain, config->path);
        tm_config_free(config);
        return TM_EXIT_USAGE;
    }
    rc = TM_EXIT_OK;
    for (size_t i = 0; i < config->n_chains; i++) {
        const tm_chain_config *cc = &config->chains[i];
        if (a.chain && strcmp(cc->id, a.chain) != 0) continue;
        int r = run_action(action, cc, &a, json_path);
        if (r != TM_EXIT_OK) rc = r;
    }
    tm_config_free(config);
    return rc;
}
