/* An etcd v3 client over its JSON gateway (POST /v3/kv/range, /v3/kv/txn,
 * /v3/maintenance/status; keys and values base64, int64 fields as JSON strings), with
 * libcurl and jansson. Enough for one record per chain guarded by compare-and-swap on its
 * mod_revision; nothing else of etcd is used.
 *
 * Endpoints: a request goes to the endpoint that answered last; on a transport failure
 * (connect, TLS, timeout) or an HTTP 5xx / gRPC "Unavailable"-class error it is retried on
 * the next endpoint, each endpoint at most once per call, all within the call's timeout.
 * A transaction whose outcome is unknown (the request may have reached etcd) is reported
 * as TM_ERR_UNAVAILABLE like any other failure: the caller must then treat the swap as
 * not won (the record may or may not hold its value; a later read tells).
 *
 * Thread-safe: calls from different threads may run at once (a small pool of curl
 * handles keeps the connections open, so a call costs one HTTP round trip). */
#ifndef TMKMS_HA_ETCD_H
#define TMKMS_HA_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_ETCD_MAX_ENDPOINTS 16
/* Bound on a value we store or accept back (a record: state, sign bytes, signatures). */
#define TM_ETCD_MAX_VALUE 16384
/* Bound on a key (our keys are short paths such as "/tmkms/<chain>/consensus"). */
#define TM_ETCD_MAX_KEY 512
/* Bound on an answer's body: one key and one value in base64 plus headers fit many times;
 * a longer answer is refused (TM_ERR_CORRUPT) rather than buffered. */
#define TM_ETCD_MAX_BODY (64u * 1024u)

typedef struct tm_etcd tm_etcd;

typedef struct {
    const char *endpoints[TM_ETCD_MAX_ENDPOINTS]; /* "http://host:port" or "https://host:port" */
    size_t n_endpoints;
    const char *ca_file;   /* PEM CA bundle for https endpoints; NULL: the system's */
    const char *cert_file; /* client certificate (PEM) for mutual TLS; NULL: none */
    const char *key_file;  /* its private key (PEM, not group/world readable); NULL: none */
    long timeout_ms;       /* a whole call, across endpoints; 0: 1000 */
} tm_etcd_options;

/* A value read from etcd. mod_revision 0 and len 0: the key does not exist. */
typedef struct {
    uint8_t value[TM_ETCD_MAX_VALUE];
    size_t len;
    int64_t mod_revision;
} tm_etcd_kv;

/* What one endpoint says about itself (for `tmkms ha status`). */
typedef struct {
    bool reachable;
    char error[320];     /* why not, when !reachable */
    char version[32];    /* etcd's version */
    uint64_t member_id;
    uint64_t leader_id;  /* 0: no leader known (no quorum) */
    uint64_t raft_term;
    int64_t revision;
    int64_t db_size;
} tm_etcd_member_status;

/* Copies the options (the strings too). Checks them (at least one endpoint, http or
 * https URLs only, files readable, the key file's permissions); does not contact etcd. */
tm_status tm_etcd_open(const tm_etcd_options *options, tm_etcd **out);
void tm_etcd_close(tm_etcd *etcd);

/* Linearizable read of one key. TM_ERR_UNAVAILABLE when no endpoint answered in time
 * (the message names each endpoint's failure); TM_ERR_CORRUPT for a malformed answer. */
tm_status tm_etcd_get(tm_etcd *etcd, const char *key, tm_etcd_kv *out);

/* Compare-and-swap: writes `value` at `key` if the key's mod_revision is still
 * `expected_revision` (0: the key must not exist), in one etcd transaction whose failure
 * branch reads the key. *swapped true: written, current->mod_revision is the new
 * revision and current->value the value written. *swapped false: someone else wrote
 * first; *current is what the key holds now. Errors as tm_etcd_get. */
tm_status tm_etcd_cas(tm_etcd *etcd, const char *key, int64_t expected_revision, const uint8_t *value,
                      size_t len, bool *swapped, tm_etcd_kv *current);

/* Endpoints and their status, one request per endpoint (no failover). */
size_t tm_etcd_endpoint_count(const tm_etcd *etcd);
const char *tm_etcd_endpoint(const tm_etcd *etcd, size_t i);
void tm_etcd_endpoint_status(tm_etcd *etcd, size_t i, tm_etcd_member_status *out);

/* The response parsers, exposed for the fuzz target and the unit tests: `body` is the
 * gateway's JSON; they never trust it (sizes, base64, int64 strings, types). */
tm_status tm_etcd_parse_range(const char *body, size_t len, const char *key, tm_etcd_kv *out);
tm_status tm_etcd_parse_txn(const char *body, size_t len, const char *key, bool *swapped, tm_etcd_kv *current);
tm_status tm_etcd_parse_status(const char *body, size_t len, tm_etcd_member_status *out);
/* The parsers fill what they can check: after tm_etcd_parse_txn with *swapped true,
 * current->mod_revision is the new revision and current->len 0 (tm_etcd_cas copies the
 * value it wrote). */

/* An error answer ({"error":..., "code":N, "message":...}): its gRPC code (-1 when absent
 * or not a small integer) and message (printable ASCII, truncated to cap; the raw body
 * when it is not such JSON). Never fails. */
void tm_etcd_parse_error(const char *body, size_t len, int *code, char *msg, size_t cap);

#endif
