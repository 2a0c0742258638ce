/* enclave.toml: how the helper runs the enclave (nitro-cli run-enclave) and the vsock
 * proxy to AWS KMS. The layout follows tmkms-light's enclave.toml, two tables:
 *
 *   [enclave]
 *   eif_path = "tmkms.eif"     # relative paths are relative to enclave.toml's folder
 *   cpu_count = 2
 *   memory_mib = 512
 *   debug_mode = false         # true: PCR0 in attestations is all zeros
 *   # enclave_cid = 15         # absent: nitro-cli picks one
 *   # enclave_name = "tmkms"   # absent: nitro-cli names it after the EIF file
 *   log_server_port = 6050
 *
 *   [vsock_proxy]
 *   local_port = 8000          # vsock port the enclave reaches KMS through (CID 3)
 *   remote_addr = "kms.ap-southeast-1.amazonaws.com"
 *   remote_port = 443
 *   num_workers = 4            # simultaneous connections
 *   config_file = "/etc/nitro_enclaves/vsock-proxy.yaml"   # AWS vsock-proxy's allow-list
 *
 * Every key is optional (the defaults are the values above, remote_addr for
 * ap-southeast-1); unknown keys and wrong types are errors with FILE:LINE. remote_addr
 * must be a KMS endpoint (kms.REGION.amazonaws.com or kms-fips.REGION.amazonaws.com) and
 * remote_port 443: the proxy never reaches anything else. */
#ifndef TMKMS_NITRO_HELPER_ENCLAVE_CONFIG_H
#define TMKMS_NITRO_HELPER_ENCLAVE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "tmkms/error.h"

#define ENCLAVE_PATH_MAX 1024
#define ENCLAVE_NAME_MAX 64
#define ENCLAVE_HOST_MAX 128
#define ENCLAVE_REGION_MAX 32

#define ENCLAVE_DEFAULT_EIF "tmkms.eif"
#define ENCLAVE_DEFAULT_CPUS 2
#define ENCLAVE_DEFAULT_MEMORY_MIB 512
#define ENCLAVE_DEFAULT_LOG_PORT 6050
#define ENCLAVE_DEFAULT_REGION "ap-southeast-1"
#define PROXY_DEFAULT_LOCAL_PORT 8000
#define PROXY_DEFAULT_REMOTE_PORT 443
#define PROXY_DEFAULT_WORKERS 4
#define PROXY_MAX_WORKERS 64
#define PROXY_DEFAULT_AWS_CONFIG "/etc/nitro_enclaves/vsock-proxy.yaml"

typedef struct {
    char eif_path[ENCLAVE_PATH_MAX]; /* resolved against the file's folder */
    uint32_t cpu_count;
    uint64_t memory_mib;
    bool debug_mode;
    bool has_cid;
    uint32_t enclave_cid;
    char enclave_name[ENCLAVE_NAME_MAX + 1]; /* "" when not configured */
    uint32_t log_server_port;
} helper_enclave_opts;

typedef struct {
    uint32_t local_port;
    char remote_addr[ENCLAVE_HOST_MAX + 1];
    uint16_t remote_port;
    uint32_t num_workers;
    char config_file[ENCLAVE_PATH_MAX];
    char region[ENCLAVE_REGION_MAX + 1]; /* taken from remote_addr */
} helper_proxy_opts;

typedef struct {
    helper_enclave_opts enclave;
    helper_proxy_opts proxy;
} helper_enclave_config;

/* The documented defaults (eif_path relative to `dir`, or as is when dir is NULL). */
void helper_enclave_config_defaults(helper_enclave_config *cfg, const char *dir);

/* Parse a document (`name` for messages, `dir` to resolve eif_path; NULL keeps it as
 * written). Errors: TM_ERR_CONFIG with "NAME:LINE: message". */
tm_status helper_enclave_config_parse(const char *text, size_t len, const char *name, const char *dir,
                                      helper_enclave_config *cfg);

/* Read and parse a file (at most 64 KiB). */
tm_status helper_enclave_config_load(const char *path, helper_enclave_config *cfg);

/* Writes a starter enclave.toml at `path` (mode 0644) with the defaults, the region's KMS
 * endpoint and the given EIF path (NULL: "tmkms.eif"); refuses to overwrite an existing
 * file (TM_ERR_EXISTS). For `init`. */
tm_status helper_enclave_config_write_starter(const char *path, const char *region, const char *eif_path);

/* True when `region` looks like an AWS region name (e.g. ap-southeast-1, us-gov-west-1). */
bool helper_valid_region(const char *region);

/* The region of a KMS endpoint host name (kms.REGION.amazonaws.com,
 * kms-fips.REGION.amazonaws.com); TM_ERR_INVALID for anything else. */
tm_status helper_kms_endpoint_region(const char *host, char *region, size_t cap);

#endif
