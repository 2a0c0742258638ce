/* tmkms-nitro-helper status: what a running `tmkms-nitro-helper start` of this config is
 * doing, from its control socket (HELPER_STATUS_SOCKET beside the state file, mode 0600):
 * the chain's last state persisted for the enclave and how long ago, persistence
 * failures, whether the enclave's state connection is up, and the node relay. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper.h"
#include "tmkms/nitro/config.h"
#include "tmkms/status_socket.h"

static void status_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms-nitro-helper status [-c FILE] [--json]\n\n"
                 "Asks the helper serving FILE (its status socket, " HELPER_STATUS_SOCKET " in the\n"
                 "folder of state_file_path, mode 0600) what it is doing: the chain's last state\n"
                 "persisted for the enclave and how long ago, persistence failures, whether the\n"
                 "enclave's state connection is up, and whether the node relay is connected.\n\n"
                 "Exit status: 0 the enclave is connected, the node relay too, and no persistence\n"
                 "failure; 1 otherwise; 2 usage or configuration error; 3 the helper is not running\n"
                 "(no socket).\n\n"
                 "Options:\n"
                 "  -c, --config FILE  the helper's tmkms.toml (default: tmkms.toml)\n"
                 "      --json         print the document as the helper sends it\n"
                 "  -h, --help         this help\n");
}

static void print_doc(const json_t *doc, const json_t *chain, const json_t *enclave, const json_t *relay)
{
    tm_status_print_head(doc, "");
    tm_status_print_chain(chain, "persisted");
    printf("  enclave (CID %lld)                           %s (%lld connection%s)\n",
           (long long)json_integer_value(json_object_get(enclave, "cid")),
           json_is_true(json_object_get(enclave, "up")) ? "connected" : "DOWN",
           (long long)json_integer_value(json_object_get(enclave, "connections")),
           json_integer_value(json_object_get(enclave, "connections")) == 1 ? "" : "s");
    printf("  node relay %-33s ", tm_status_str(relay, "addr"));
    tm_status_print_link(relay);
}

static int show(const char *text, bool as_json)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    const json_t *chain = json_array_get(json_object_get(doc, "chains"), 0);
    const json_t *relay = json_array_get(json_object_get(doc, "validators"), 0);
    const json_t *enclave = json_object_get(doc, "enclave");
    if (!json_is_object(doc) || !json_is_object(chain) || !json_is_object(relay) ||
        !json_is_object(enclave)) {
        fprintf(stderr, "tmkms-nitro-helper status: the answer is not the helper's status document\n");
        json_decref(doc);
        return HELPER_EXIT_FAIL;
    }
    if (as_json)
        printf("%s\n", text);
    else
        print_doc(doc, chain, enclave, relay);
    bool healthy = json_is_true(json_object_get(enclave, "up")) &&
                   json_is_true(json_object_get(relay, "connected")) &&
                   json_integer_value(json_object_get(chain, "persist_failures")) == 0;
    json_decref(doc);
    return healthy ? HELPER_EXIT_OK : HELPER_EXIT_FAIL;
}

int cmd_status(int argc, char **argv)
{
    const char *config_path = "tmkms.toml";
    bool as_json = false;
    int parsed = tm_status_parse_args(argc, argv, "tmkms-nitro-helper status", status_usage, &config_path, &as_json);
    if (parsed) return parsed == 1 ? HELPER_EXIT_OK : HELPER_EXIT_USAGE;
    tm_nitro_config *cfg = NULL;
    char path[256];
    char *text = NULL;
    if (tm_nitro_config_load(config_path, &cfg) != TM_OK ||
        tm_status_socket_path_beside(cfg->state_file_path, HELPER_STATUS_SOCKET, path, sizeof(path)) !=
            TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper status: %s\n", tm_err_msg());
        tm_nitro_config_free(cfg);
        return HELPER_EXIT_USAGE;
    }
    tm_nitro_config_free(cfg);
    tm_status st = tm_status_socket_fetch(path, "tmkms-nitro-helper start", &text);
    if (st != TM_OK) {
        fprintf(stderr, "tmkms-nitro-helper status: %s\n", tm_err_msg());
        return st == TM_ERR_NOT_FOUND ? HELPER_EXIT_NOT_RUNNING : HELPER_EXIT_FAIL;
    }
    int rc = show(text, as_json);
    free(text);
    return rc;
}
