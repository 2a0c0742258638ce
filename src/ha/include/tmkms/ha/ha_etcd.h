/* The etcd backend of high availability (tmkms/ha.h): chain C's record is the etcd key
 * <key_prefix>C holding the chain's last signed state in CometBFT's
 * priv_validator_state.json form (height, round, step, signature, signbytes), so that
 * `etcdctl get` shows it as an operator knows it. Every change is a compare-and-swap on
 * the key's mod_revision. An outage is logged once, with its cause, when it starts and
 * once when etcd answers again. */
#ifndef TMKMS_HA_HA_ETCD_H
#define TMKMS_HA_HA_ETCD_H

#include "tmkms/config.h"
#include "tmkms/ha.h"
#include "tmkms/ha/etcd.h"

/* Opens the client (no request yet); the backend owns it. */
tm_status tm_ha_etcd_open(const tm_ha_config *config, tm_ha_backend **out);

/* The etcd key of a chain's record: prefix + chain id, into out (cap bytes). */
tm_status tm_ha_record_key(const char *prefix, const char *chain_id, char *out, size_t cap);

/* A record's value <-> state. Decoding refuses anything but a CometBFT state JSON. */
tm_status tm_ha_record_encode(const tm_sign_state *state, char **json_out);
tm_status tm_ha_record_decode(const uint8_t *value, size_t len, tm_sign_state *out);

/* No outage log lines (for `tmkms ha status`, which prints the cause itself). */
void tm_ha_etcd_quiet(tm_ha_backend *backend);

/* The client under a backend, for `tmkms ha status`. */
tm_etcd *tm_ha_etcd_client(tm_ha_backend *backend);

#endif
