/* The helper's tmkms.toml: the flat format of crypto.com's tmkms-light nitro signer, which
 * the operator guide's examples use and which must parse unchanged:
 *
 *   address = 'unix:///tmp/sockets/validator.socket'      (or tcp://, noise://)
 *   chain_id = '<chain id>'
 *   sealed_consensus_key_path = 'secrets/secret.key'
 *   sealed_id_key_path = 'secrets/id.key'                 (optional; tcp:// and noise://)
 *   state_file_path = 'state/priv_validator_state.json'
 *   enclave_config_cid = 15
 *   enclave_config_port = 5050
 *   enclave_state_port = 5555
 *   enclave_tendermint_conn = 5000
 *   aws_region = 'ap-southeast-1'
 *   max_height = 1000000                                  (optional)
 *   [credentials]                                         (optional; else IMDSv2)
 *   aws_key_id = '...'  aws_secret_key = '...'  aws_session_token = '...'
 *
 * Unknown keys are errors (as tmkms-light's deny_unknown_fields); every error is
 * FILE:LINE. Relative paths are relative to the directory of the config file. */
#ifndef TMKMS_NITRO_CONFIG_H
#define TMKMS_NITRO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "tmkms/error.h"

typedef struct {
    char *path; /* the file, as given */
    char *address;
    char *chain_id;
    char *sealed_consensus_key_path; /* resolved */
    char *sealed_id_key_path;        /* resolved; NULL when absent */
    char *state_file_path;           /* resolved */
    uint32_t enclave_config_cid, enclave_config_port, enclave_state_port, enclave_tendermint_conn;
    char *aws_region;
    int64_t max_height; /* 0: none */
    bool has_credentials;
    char *aws_key_id, *aws_secret_key, *aws_session_token; /* secret: wiped on free */
} tm_nitro_config;

tm_status tm_nitro_config_load(const char *path, tm_nitro_config **out);
/* The same from text; `name` stands for the file in messages and `dir` anchors relative
 * paths. */
tm_status tm_nitro_config_parse(const char *text, size_t len, const char *name, const char *dir,
                                tm_nitro_config **out);
void tm_nitro_config_free(tm_nitro_config *cfg);

#endif
