/* tmkms.toml: tmkms's multi-chain configuration format, mapped onto plain structs.
 *
 *   [[chain]]             id, key_format = { type = "bech32", account_key_prefix,
 *                         consensus_key_prefix } | { type = "cosmos-json" } | { type = "hex" },
 *                         state_file, sign_extensions (default true)
 *   [[validator]]         addr, chain_id, reconnect (default true), max_height,
 *                         protocol_version, secret_key
 *   [[providers.softsign]] chain_ids, key_type ("consensus" | "account" | "identity"), path
 *   [ha]                  backend = "etcd", endpoints, key_prefix (default "/tmkms/"),
 *                         ca_file, cert_file, key_file, request_timeout_ms (default 1000),
 *                         instance (default: the host name)
 *   [metrics]             listen (default "127.0.0.1:9464"): Prometheus /metrics
 *
 * Unknown keys and type errors are TM_ERR_CONFIG with "FILE:LINE: message". Relative paths
 * are resolved against the config file's directory. */
#ifndef TMKMS_CONFIG_H
#define TMKMS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/signer.h"

typedef struct {
    char *id;
    tm_key_format key_format;
    char *account_key_prefix;   /* bech32 only */
    char *consensus_key_prefix; /* bech32 only */
    char *state_file;           /* absolute; default <config dir>/state/<id>-consensus.state */
    bool sign_extensions;
    int line;
} tm_chain_config;

typedef struct {
    char *addr; /* "unix:///path" (tcp:// and noise:// in later transports) */
    char *chain_id;
    bool reconnect;
    int64_t max_height; /* 0: no limit */
    char *protocol_version;
    char *secret_key; /* identity key for tcp:// / noise://; NULL for unix:// */
    int line;
} tm_validator_config;

typedef struct {
    char **chain_ids;
    size_t n_chain_ids;
    char *key_type; /* "consensus" (default), "account", "identity" */
    char *key_format; /* "base64" (tmkms's seed file, default) or "json" (priv_validator_key.json) */
    char *path;       /* absolute */
    int line;
} tm_softsign_config;

/* Up to this many etcd endpoints (TM_ETCD_MAX_ENDPOINTS). */
#define TM_HA_MAX_ENDPOINTS 16

/* [ha]: several tmkms instances with one key, one record per chain in etcd. */
typedef struct {
    bool enabled; /* an [ha] section exists */
    char *backend; /* "etcd" */
    char *endpoints[TM_HA_MAX_ENDPOINTS];
    size_t n_endpoints;
    char *key_prefix; /* the record of chain C is <key_prefix><C> */
    char *ca_file;    /* absolute, or NULL */
    char *cert_file;  /* absolute, or NULL; with key_file */
    char *key_file;   /* absolute, or NULL */
    int64_t request_timeout_ms;
    char *instance; /* this instance's name in the records and logs */
    int line;
} tm_ha_config;

/* [metrics]: the Prometheus endpoint; off without the section. */
typedef struct {
    bool enabled;
    char *listen; /* "A.B.C.D:PORT" or "[IPv6]:PORT" */
} tm_metrics_config;

typedef struct {
    char *path; /* the config file, absolute */
    char *dir;  /* its directory */
    tm_chain_config *chains;
    size_t n_chains;
    tm_validator_config *validators;
    size_t n_validators;
    tm_softsign_config *softsign;
    size_t n_softsign;
    tm_ha_config ha;
    tm_metrics_config metrics;
} tm_config;

tm_status tm_config_load(const char *path, tm_config **out);
void tm_config_free(tm_config *config);
const tm_chain_config *tm_config_chain(const tm_config *config, const char *chain_id);
/* The consensus softsign provider serving a chain, or NULL. */
const tm_softsign_config *tm_config_consensus_key(const tm_config *config, const char *chain_id);

#endif
