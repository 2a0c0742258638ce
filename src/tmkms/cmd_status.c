/* tmkms status: what a running `tmkms start` of this config is doing, from its control
 * socket (status_server.h): per chain the last signed height/round/step and how long ago
 * it signed, persistence failures, and per validator connection its state. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "status_server.h"
#include "tmkms/config.h"
#include "tmkms/signer.h"
#include "tmkms/status_socket.h"

#define TM_EXIT_NOT_RUNNING 3

static void status_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms status [-c FILE] [--json]\n\n"
                 "Asks the tmkms serving FILE (its status socket, tmkms-status.sock in the folder of\n"
                 "the first chain's state file, mode 0600) what it is doing: per chain the last signed\n"
                 "height/round/step, how long ago it signed, persistence failures; per validator\n"
                 "connection whether it is up, since when, and its last error.\n\n"
                 "Exit status: 0 every chain has a connected validator and no persistence failure,\n"
                 "1 otherwise, 2 usage or configuration error, 3 tmkms is not running (no socket).\n\n"
                 "Options:\n"
                 "  -c, --config FILE  configuration file (default: tmkms.toml)\n"
                 "      --json         print the document as tmkms sends it\n"
                 "  -h, --help         this help\n");
}

/* One chain and its validators. */
static void print_chain(const json_t *chain, const json_t *validators)
{
    tm_status_print_chain(chain, "signed");
    const char *id = json_string_value(json_object_get(chain, "id"));
    int up = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(validators, i, v) {
        const char *vchain = json_string_value(json_object_get(v, "chain"));
        if (!id || !vchain || strcmp(vchain, id) != 0) continue;
        bool connected = json_is_true(json_object_get(v, "connected"));
        up += connected;
        printf("  %-44s ", json_string_value(json_object_get(v, "addr")) ?: "?");
        tm_status_print_link(v);
    }
    if (!up) printf("  no validator connected\n");
}

/* Healthy: every chain has a connected validator and no persistence failure. */
static bool doc_healthy(const json_t *chains, const json_t *validators)
{
    if (!json_is_array(chains) || !json_is_array(validators)) return false;
    size_t i, j;
    const json_t *c, *v;
    json_array_foreach(chains, i, c) {
        bool up = false;
        json_array_foreach(validators, j, v) {
            if (json_is_true(json_object_get(v, "connected")) &&
                json_equal(json_object_get(v, "chain"), json_object_get(c, "id")))
                up = true;
        }
        if (!up || json_integer_value(json_object_get(c, "persist_failures")) != 0) return false;
    }
    return true;
}

static int show(const char *text, bool as_json)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    if (!json_is_object(doc)) {
        fprintf(stderr, "tmkms status: the answer is not a JSON object: %s\n", err.text);
        json_decref(doc);
        return TM_EXIT_FAIL;
    }
    const json_t *chains = json_object_get(doc, "chains"), *validators = json_object_get(doc, "validators");
    if (as_json) {
        printf("%s\n", text);
    } else {
        tm_status_print_head(doc, json_is_true(json_object_get(doc, "ha")) ? ", HA via etcd" : "");
        for (size_t i = 0; i < json_array_size(chains); i++) print_chain(json_array_get(chains, i), validators);
    }
    int rc = doc_healthy(chains, validators) ? TM_EXIT_OK : TM_EXIT_FAIL;
    json_decref(doc);
    return rc;
}

int cmd_status(int argc, char **argv)
{
    const char *config_path = "tmkms.toml";
    bool as_json = false;
    int parsed = tm_status_parse_args(argc, argv, "tmkms status", status_usage, &config_path, &as_json);
    if (parsed) return parsed == 1 ? TM_EXIT_OK : TM_EXIT_USAGE;
    tm_config *config = NULL;
    char path[256];
    char *text = NULL;
    if (tm_crypto_init() != TM_OK || tm_config_load(config_path, &config) != TM_OK ||
        tm_status_socket_path(config, path, sizeof(path)) != TM_OK) {
        fprintf(stderr, "tmkms status: %s\n", tm_err_msg());
        tm_config_free(config);
        return TM_EXIT_USAGE;
    }
    tm_config_free(config);
    tm_status st = tm_status_socket_fetch(path, "tmkms", &text);
    if (st != TM_OK) {
        fprintf(stderr, "tmkms status: %s\n", tm_err_msg());
        return st == TM_ERR_NOT_FOUND ? TM_EXIT_NOT_RUNNING : TM_EXIT_FAIL;
    }
    int rc = show(text, as_json);
    free(text);
    return rc;
}
