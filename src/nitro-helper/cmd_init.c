/* tmkms-nitro-helper init: the operator guide's key ceremony.
 *
 *   tmkms-nitro-helper init -a REGION -k KEY_ID -p bech32|base64|json -b PREFIX
 *                           [--cid N] [-c DIR] [--chain-id ID]
 *
 * Asks the enclave (keygen) for a consensus key and an identity key, both generated
 * inside it and sealed by KMS Encrypt under KEY_ID; writes the sealed keys (0600, never
 * over an existing key) where DIR/tmkms.toml says (secrets/secret.key and secrets/id.key
 * in the starter config); writes starter tmkms.toml and enclave.toml when absent; creates
 * the height-0 state when the chain id is known; prints the public key in the chosen
 * format and the enclave's attestation document, whose user_data binds the key to KEY_ID. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enclave_config.h"
#include "enclave_link.h"
#include "helper.h"
#include "tmkms/log.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"
#include "tmkms/state.h"

typedef struct {
    const char *region, *key_id, *format, *prefix, *dir, *chain_id, *sim_dir;
    uint32_t cid, port, kms_proxy_port;
    bool cid_given;
} init_args;

static void init_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper init -a REGION -k KEY_ID -p bech32|base64|json -b PREFIX\n"
            "                               [--cid N] [-c DIR] [--chain-id ID]\n\n"
            "Generates the consensus key (and an identity key for tcp:// and noise:// nodes) inside\n"
            "the running enclave, sealed by AWS KMS; the clear key never leaves the enclave.\n\n"
            "Options:\n"
            "  -a, --aws-region REGION  the KMS region\n"
            "  -k, --kms-key-id KEY_ID  the KMS key that seals (key id, ARN or alias)\n"
            "  -p, --pubkey-format F    bech32 (with -b), base64 or json (default bech32)\n"
            "  -b, --bech32-prefix P    e.g. crocnclconspub, cosmosvalconspub\n"
            "  -c, --config-dir DIR     the KMS home (default .): tmkms.toml, enclave.toml,\n"
            "                           secrets/, state/\n"
            "      --cid N              the enclave's CID (default: tmkms.toml's enclave_config_cid,\n"
            "                           else 16)\n"
            "      --port N             the enclave's config port (default 5050)\n"
            "      --chain-id ID        written into a new tmkms.toml; creates the height-0 state\n"
            "      --kms-proxy-port N   the vsock-proxy port the enclave reaches KMS through (8000)\n"
            "      --simulate DIR       simulation: vsock endpoints are DIR/vsock-<cid>-<port>.sock\n"
            "  -h, --help               this help\n\n"
            "Credentials for KMS as for `start`. Existing key files are never overwritten.\n");
}

static int parse_init_args(int argc, char **argv, init_args *a)
{
    enum { O_CID = 256, O_PORT, O_CHAIN, O_KMS, O_SIM };
    static const struct option longs[] = {
        {"aws-region", required_argument, NULL, 'a'}, {"kms-key-id", required_argument, NULL, 'k'},
        {"pubkey-format", required_argument, NULL, 'p'}, {"bech32-prefix", required_argument, NULL, 'b'},
        {"config-dir", required_argument, NULL, 'c'},  {"cid", required_argument, NULL, O_CID},
        {"port", required_argument, NULL, O_PORT},     {"chain-id", required_argument, NULL, O_CHAIN},
        {"kms-proxy-port", required_argument, NULL, O_KMS}, {"simulate", required_argument, NULL, O_SIM},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:k:p:b:c:h", longs, NULL)) != -1) {
        tm_status st = TM_OK;
        switch (c) {
        case 'a': a->region = optarg; break;
        case 'k': a->key_id = optarg; break;
        case 'p': a->format = optarg; break;
        case 'b': a->prefix = optarg; break;
        case 'c': a->dir = optarg; break;
        case O_CID: st = tm_vsock_parse_u32(optarg, "--cid", &a->cid); a->cid_given = true; break;
        case O_PORT: st = tm_vsock_parse_u32(optarg, "--port", &a->port); break;
        case O_CHAIN: a->chain_id = optarg; break;
        case O_KMS: st = tm_vsock_parse_u32(optarg, "--kms-proxy-port", &a->kms_proxy_port); break;
        case O_SIM: a->sim_dir = optarg; break;
        case 'h': init_usage(stdout); return -1;
        default: init_usage(stderr); return HELPER_EXIT_USAGE;
        }
        if (st != TM_OK) {
            fprintf(stderr, "tmkms-nitro-helper init: %s\n", tm_err_msg());
            return HELPER_EXIT_USAGE;
        }
    }
    const char *bad = optind < argc            ? "unexpected argument"
                      : !a->region             ? "-a REGION is required"
                      : !a->key_id             ? "-k KEY_ID is required"
                      : strcmp(a->format, "bech32") != 0 && strcmp(a->format, "base64") != 0 &&
                              strcmp(a->format, "json") != 0
                          ? "-p must be bech32, base64 or json"
                      : !strcmp(a->format, "bech32") && !a->prefix ? "-p bech32 needs -b PREFIX"
                      : !helper_valid_region(a->region)            ? "-a: not an AWS region name"
                      : a->chain_id && (!a->chain_id[0] || strlen(a->chain_id) > TM_MAX_CHAIN_ID_LEN ||
                                        strpbrk(a->chain_id, "'\"\\\n\r"))
                          ? "--chain-id: 1..50 characters, no quotes or backslashes"
                          : NULL;
    if (bad) {
        fprintf(stderr, "tmkms-nitro-helper init: %s\n", bad);
        init_usage(stderr);
        return HELPER_EXIT_USAGE;
    }
    return 0;
}

static tm_status join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "%s/%s: path too long", dir, name);
    return TM_OK;
}

static tm_status mkdir_for(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return TM_OK;
    *slash = '\0';
    TM_ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, TM_ERR_IO, "%s: %s", dir, strerror(errno));
    return TM_OK;
}

/* The starter tmkms.toml: the guide's layout, with this init's region and chain. */
static tm_status write_starter_toml(const char *path, const init_args *a)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    TM_ENSURE(fd >= 0, errno == EEXIST ? TM_ERR_EXISTS : TM_ERR_IO, "%s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return tm_err_set(TM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    fprintf(f,
            "# tmkms-nitro-helper: the node, the sealed keys, the state and the enclave's ports.\n"
            "# Relative paths are relative to this file's folder. See docs/OPERATIONS-NITRO.md.\n"
            "address = 'unix:///tmp/sockets/validator.socket'\n"
            "chain_id = '%s'\n"
            "sealed_consensus_key_path = 'secrets/secret.key'\n"
            "# for tcp:// and noise:// addresses: the enclave's identity towards the node\n"
            "sealed_id_key_path = 'secrets/id.key'\n"
            "state_file_path = 'state/priv_validator_state.json'\n"
            "enclave_config_cid = %u #overridden by flag\n"
            "enclave_config_port = %u\n"
            "enclave_state_port = %u\n"
            "enclave_tendermint_conn = %u\n"
            "aws_region = '%s'\n",
            a->chain_id ? a->chain_id : "<chain id>", a->cid, a->port, TM_NITRO_PORT_STATE, TM_NITRO_PORT_NODE,
            a->region);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return tm_err_set(TM_ERR_IO, "%s: write failed", path);
    printf("wrote %s\n", path);
    return TM_OK;
}

static tm_status print_pubkey(const init_args *a, const uint8_t pub[TM_ED25519_PUBKEY_LEN])
{
    char out[256];
    if (!strcmp(a->format, "bech32")) TM_TRY(tm_pubkey_bech32(pub, a->prefix, out, sizeof(out)));
    else if (!strcmp(a->format, "json")) TM_TRY(tm_pubkey_cometbft_json(pub, out, sizeof(out)));
    else TM_TRY(tm_pubkey_base64(pub, out, sizeof(out)));
    printf("public key: %s\n", out);
    /* Scripts and the node's genesis want the plain form too. */
    if (strcmp(a->format, "base64") != 0) {
        TM_TRY(tm_pubkey_base64(pub, out, sizeof(out)));
        printf("consensus key (base64): %s\n", out);
    }
    return TM_OK;
}

static tm_status keygen(const init_args *a, const tm_vsock_net *net, tm_nitro_msg **resp)
{
    tm_aws_credentials *creds = NULL;
    const char *source = "";
    TM_TRY(tm_aws_credentials_new(&creds));
    tm_status status = helper_credentials(NULL, creds, &source);
    if (status == TM_OK) {
        Tmkms__Nitro__AwsCredentials c;
        helper_credentials_msg(creds, &c);
        Tmkms__Nitro__KeygenRequest r = TMKMS__NITRO__KEYGEN_REQUEST__INIT;
        r.aws_region = (char *)a->region;
        r.kms_key_id = (char *)a->key_id;
        r.credentials = &c;
        r.identity_key = true;
        r.kms_proxy_port = a->kms_proxy_port;
        tm_nitro_msg m = TMKMS__NITRO__MESSAGE__INIT;
        m.body_case = TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST;
        m.keygen_request = &r;
        status = helper_enclave_call(net, a->cid, a->port, &m, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE, 5000,
                                     60000, resp);
    }
    tm_aws_credentials_free(creds);
    return status;
}

/* Everything but the enclave: where the files go, none of the keys exists yet. */
typedef struct {
    char toml[4096], enclave_toml[4096], secret[4096], id[4096], state[4096];
    const char *chain_id; /* NULL: unknown, no state */
    tm_nitro_config *cfg;
} init_paths;

static tm_status plan(init_args *a, init_paths *p)
{
    TM_TRY(join(p->toml, sizeof(p->toml), a->dir, "tmkms.toml"));
    TM_TRY(join(p->enclave_toml, sizeof(p->enclave_toml), a->dir, "enclave.toml"));
    if (access(p->toml, F_OK) == 0) {
        TM_TRY(tm_nitro_config_load(p->toml, &p->cfg));
        snprintf(p->secret, sizeof(p->secret), "%s", p->cfg->sealed_consensus_key_path);
        snprintf(p->id, sizeof(p->id), "%s", p->cfg->sealed_id_key_path ? p->cfg->sealed_id_key_path : "");
        snprintf(p->state, sizeof(p->state), "%s", p->cfg->state_file_path);
        p->chain_id = strchr(p->cfg->chain_id, '<') ? NULL : p->cfg->chain_id;
        if (!a->cid_given) a->cid = p->cfg->enclave_config_cid;
    } else {
        TM_TRY(join(p->secret, sizeof(p->secret), a->dir, "secrets/secret.key"));
        TM_TRY(join(p->id, sizeof(p->id), a->dir, "secrets/id.key"));
        TM_TRY(join(p->state, sizeof(p->state), a->dir, "state/priv_validator_state.json"));
        p->chain_id = a->chain_id;
    }
    TM_ENSURE(access(p->secret, F_OK) != 0, TM_ERR_EXISTS, "%s exists already: a key is never overwritten",
              p->secret);
    TM_ENSURE(!p->id[0] || access(p->id, F_OK) != 0, TM_ERR_EXISTS,
              "%s exists already: a key is never overwritten", p->id);
    return TM_OK;
}

static tm_status write_outputs(const init_args *a, const init_paths *p, const Tmkms__Nitro__KeygenResponse *r)
{
    TM_TRY(mkdir_for(p->secret));
    TM_TRY(helper_write_sealed(p->secret, r->sealed_consensus_key.data, r->sealed_consensus_key.len));
    printf("wrote %s (sealed consensus key)\n", p->secret);
    if (p->id[0]) {
        TM_TRY(mkdir_for(p->id));
        TM_TRY(helper_write_sealed(p->id, r->sealed_identity_key.data, r->sealed_identity_key.len));
        char node_id[41], peer_id[TM_NOISE_PEER_ID_SIZE];
        tm_sc_node_id(r->identity_pubkey.data, node_id);
        tm_noise_peer_id(r->identity_pubkey.data, peer_id);
        printf("wrote %s (sealed identity key: node ID %s, peer ID %s)\n", p->id, node_id, peer_id);
    }
    if (!p->cfg) TM_TRY(write_starter_toml(p->toml, a));
    if (access(p->enclave_toml, F_OK) != 0) {
        TM_TRY(helper_enclave_config_write_starter(p->enclave_toml, a->region, NULL));
        printf("wrote %s\n", p->enclave_toml);
    }
    if (p->chain_id && access(p->state, F_OK) != 0) {
        tm_sign_state zero = {0};
        TM_TRY(mkdir_for(p->state));
        TM_TRY(tm_state_file_create(p->state, p->chain_id, &zero));
        printf("wrote %s (chain '%s', height 0)\n", p->state, p->chain_id);
    } else if (!p->chain_id) {
        printf("no chain id yet: set chain_id in %s and create the state with --chain-id, or import the node's "
               "state (tmkms state import)\n", p->toml);
    }
    TM_TRY(print_pubkey(a, r->consensus_pubkey.data));
    char *doc = malloc(sodium_base64_ENCODED_LEN(r->attestation_doc.len, sodium_base64_VARIANT_ORIGINAL));
    TM_ENSURE(doc, TM_ERR_NOMEM, "out of memory");
    sodium_bin2base64(doc, sodium_base64_ENCODED_LEN(r->attestation_doc.len, sodium_base64_VARIANT_ORIGINAL),
                      r->attestation_doc.data, r->attestation_doc.len, sodium_base64_VARIANT_ORIGINAL);
    printf("attestation document (base64; check it with tmkms-nitro-helper verify-attestation):\n%s\n", doc);
    free(doc);
    return TM_OK;
}

int cmd_init(int argc, char **argv)
{
    init_args a = {.format = "bech32", .dir = ".", .cid = TM_VSOCK_SIM_DEFAULT_ENCLAVE_CID,
                   .port = TM_NITRO_PORT_CONFIG};
    int r = parse_init_args(argc, argv, &a);
    if (r) return r < 0 ? HELPER_EXIT_OK : r;
    init_paths p = {0};
    tm_vsock_net net;
    tm_nitro_msg *resp = NULL;
    tm_status status = tm_crypto_init();
    if (status == TM_OK) status = plan(&a, &p);
    if (status == TM_OK) status = helper_net(a.sim_dir, &net);
    if (status == TM_OK) status = keygen(&a, &net, &resp);
    if (status == TM_OK) status = write_outputs(&a, &p, resp->keygen_response);
    if (status != TM_OK) fprintf(stderr, "tmkms-nitro-helper init: %s\n", tm_err_msg());
    tm_nitro_msg_free(resp);
    tm_nitro_config_free(p.cfg);
    return status == TM_OK ? HELPER_EXIT_OK : HELPER_EXIT_FAIL;
}
