/* The etcd JSON gateway's answers, parsed without trusting them. See etcd.h.
 *
 * The gateway (grpc-gateway's jsonpb) writes int64/uint64 fields as JSON strings and
 * omits every zero value and false boolean, so "absent" means 0/false and never an error
 * by itself; a field that is present must have exactly the expected type and range.
 * Every failure is TM_ERR_CORRUPT: the caller cannot act on a malformed answer. */
#include "tmkms/ha/etcd.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define MAX_DIGITS 20 /* UINT64_MAX has 20 digits */

static tm_status load(const char *body, size_t len, const char *what, json_t **out)
{
    json_error_t err;
    TM_ENSURE(body != NULL, TM_ERR_CORRUPT, "%s: no body", what);
    TM_ENSURE(len <= TM_ETCD_MAX_BODY, TM_ERR_CORRUPT, "%s: body of %zu bytes exceeds %u", what, len,
              (unsigned)TM_ETCD_MAX_BODY);
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    TM_ENSURE(*out != NULL, TM_ERR_CORRUPT, "%s: not JSON (%s at %d)", what, err.text, err.position);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return tm_err_set(TM_ERR_CORRUPT, "%s: not a JSON object", what);
    }
    return TM_OK;
}

/* A decimal string, digits only (no sign, no spaces, no leading zeros), at most `max`.
 * Absent: 0. */
static tm_status get_uint(const json_t *obj, const char *field, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(obj, field);
    *out = 0;
    if (!v) return TM_OK;
    TM_ENSURE(json_is_string(v), TM_ERR_CORRUPT, "%s: not a string", field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    TM_ENSURE(n > 0 && n <= MAX_DIGITS, TM_ERR_CORRUPT, "%s: %zu digits", field, n);
    TM_ENSURE(n == 1 || s[0] != '0', TM_ERR_CORRUPT, "%s: leading zero", field);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        TM_ENSURE(s[i] >= '0' && s[i] <= '9', TM_ERR_CORRUPT, "%s: not a non-negative integer", field);
        unsigned d = (unsigned)(s[i] - '0');
        TM_ENSURE(x <= (max - d) / 10, TM_ERR_CORRUPT, "%s: out of range", field);
        x = x * 10 + d;
    }
    *out = x;
    return TM_OK;
}

static tm_status get_int64(const json_t *obj, const char *field, int64_t *out)
{
    uint64_t x;
    TM_TRY(get_uint(obj, field, (uint64_t)INT64_MAX, &x));
    *out = (int64_t)x;
    return TM_OK;
}

/* Absent object: NULL (callers decide whether that is allowed). */
static tm_status get_object(const json_t *obj, const char *field, bool required, json_t **out)
{
    *out = json_object_get(obj, field);
    TM_ENSURE(*out || !required, TM_ERR_CORRUPT, "%s: missing", field);
    TM_ENSURE(!*out || json_is_object(*out), TM_ERR_CORRUPT, "%s: not an object", field);
    return TM_OK;
}

/* Standard padded base64 into buf[cap]; nothing may follow the encoding. */
static tm_status get_b64(const json_t *obj, const char *field, uint8_t *buf, size_t cap, size_t *len)
{
    const json_t *v = json_object_get(obj, field);
    *len = 0;
    if (!v) return TM_OK; /* an empty value is omitted */
    TM_ENSURE(json_is_string(v), TM_ERR_CORRUPT, "%s: not a string", field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    /* Check the encoded size first so that an oversized field is named as such. */
    TM_ENSURE(n / 4 * 3 <= cap + 2, TM_ERR_CORRUPT, "%s: %zu base64 characters, more than %zu bytes", field,
              n, cap);
    const char *end = NULL;
    int rc = sodium_base642bin(buf, cap, s, n, NULL, len, &end, sodium_base64_VARIANT_ORIGINAL);
    TM_ENSURE(rc == 0 && end == s + n, TM_ERR_CORRUPT, "%s: invalid base64 or more than %zu bytes", field,
              cap);
    return TM_OK;
}

/* header.revision: the store's revision, >= 1 in any etcd (it starts at 1). */
static tm_status parse_header(const json_t *root, int64_t *revision)
{
    json_t *h;
    TM_TRY(get_object(root, "header", true, &h));
    uint64_t id;
    TM_TRY(get_uint(h, "cluster_id", UINT64_MAX, &id));
    TM_TRY(get_uint(h, "member_id", UINT64_MAX, &id));
    TM_TRY(get_uint(h, "raft_term", UINT64_MAX, &id));
    TM_TRY(get_int64(h, "revision", revision));
    TM_ENSURE(*revision >= 1, TM_ERR_CORRUPT, "header.revision: missing or 0");
    return TM_OK;
}

static tm_status parse_kv(const json_t *kv, const char *key, int64_t revision, tm_etcd_kv *out)
{
    uint8_t got[TM_ETCD_MAX_KEY];
    size_t got_len, key_len = strnlen(key, TM_ETCD_MAX_KEY + 1);
    int64_t create, version;
    TM_ENSURE(json_is_object(kv), TM_ERR_CORRUPT, "kvs[0]: not an object");
    TM_TRY(get_b64(kv, "key", got, sizeof(got), &got_len));
    TM_ENSURE(got_len == key_len && memcmp(got, key, key_len) == 0, TM_ERR_CORRUPT,
              "kvs[0].key: not the key asked for (%s)", key);
    TM_TRY(get_int64(kv, "mod_revision", &out->mod_revision));
    TM_TRY(get_int64(kv, "create_revision", &create));
    TM_TRY(get_int64(kv, "version", &version));
    /* A key that exists was created and modified at revisions in [1, store revision]. */
    TM_ENSURE(out->mod_revision >= 1 && out->mod_revision <= revision, TM_ERR_CORRUPT,
              "kvs[0].mod_revision %lld outside [1, %lld]", (long long)out->mod_revision,
              (long long)revision);
    TM_ENSURE(create >= 1 && create <= out->mod_revision && version >= 1, TM_ERR_CORRUPT,
              "kvs[0]: create_revision %lld / version %lld inconsistent", (long long)create,
              (long long)version);
    return get_b64(kv, "value", out->value, sizeof(out->value), &out->len);
}

/* A RangeResponse for one key (no range_end): zero or one kv, count matching. */
static tm_status parse_range_obj(const json_t *r, const char *key, int64_t revision, tm_etcd_kv *out)
{
    int64_t count;
    const json_t *kvs = json_object_get(r, "kvs");
    out->len = 0;
    out->mod_revision = 0;
    TM_TRY(get_int64(r, "count", &count));
    TM_ENSURE(!json_object_get(r, "more"), TM_ERR_CORRUPT, "more: set for a one-key range");
    if (!kvs) {
        TM_ENSURE(count == 0, TM_ERR_CORRUPT, "count %lld without kvs", (long long)count);
        return TM_OK;
    }
    TM_ENSURE(json_is_array(kvs), TM_ERR_CORRUPT, "kvs: not an array");
    TM_ENSURE(json_array_size(kvs) <= 1, TM_ERR_CORRUPT, "kvs: %zu entries for one key",
              json_array_size(kvs));
    TM_ENSURE((size_t)count == json_array_size(kvs), TM_ERR_CORRUPT, "count %lld but %zu kvs",
              (long long)count, json_array_size(kvs));
    if (count == 0) return TM_OK;
    return parse_kv(json_array_get(kvs, 0), key, revision, out);
}

static tm_status check_key(const char *key)
{
    TM_ENSURE(key != NULL && key[0] != '\0', TM_ERR_INVALID, "etcd: empty key");
    TM_ENSURE(strnlen(key, TM_ETCD_MAX_KEY + 1) <= TM_ETCD_MAX_KEY, TM_ERR_INVALID,
              "etcd: key longer than %d", TM_ETCD_MAX_KEY);
    return TM_OK;
}

tm_status tm_etcd_parse_range(const char *body, size_t len, const char *key, tm_etcd_kv *out)
{
    tm_status status = TM_OK;
    json_t *root = NULL;
    int64_t revision;
    out->len = 0;
    out->mod_revision = 0;
    TM_TRY(check_key(key));
    TM_TRY(load(body, len, "range answer", &root));
    TM_TRY_GOTO(parse_header(root, &revision));
    TM_TRY_GOTO(parse_range_obj(root, key, revision, out));
out:
    json_decref(root);
    if (status != TM_OK) {
        out->len = 0;
        out->mod_revision = 0;
        tm_err_prefix(status, "range answer: ");
    }
    return status;
}

/* The one response of the branch that ran: response_put (won) or response_range (lost). */
static tm_status parse_txn_response(const json_t *root, bool succeeded, const char *key, int64_t revision,
                                    tm_etcd_kv *current)
{
    const json_t *rs = json_object_get(root, "responses");
    json_t *r;
    TM_ENSURE(json_is_array(rs) && json_array_size(rs) == 1, TM_ERR_CORRUPT, "responses: not one response");
    const json_t *one = json_array_get(rs, 0);
    TM_ENSURE(json_is_object(one) && json_object_size(one) == 1, TM_ERR_CORRUPT,
              "responses[0]: not one response");
    if (succeeded) {
        TM_TRY(get_object(one, "response_put", true, &r));
        /* The put's revision is the transaction's: header.revision. */
        current->mod_revision = revision;
        return TM_OK;
    }
    TM_TRY(get_object(one, "response_range", true, &r));
    return parse_range_obj(r, key, revision, current);
}

tm_status tm_etcd_parse_txn(const char *body, size_t len, const char *key, bool *swapped, tm_etcd_kv *current)
{
    tm_status status = TM_OK;
    json_t *root = NULL;
    int64_t revision;
    *swapped = false;
    current->len = 0;
    current->mod_revision = 0;
    TM_TRY(check_key(key));
    TM_TRY(load(body, len, "txn answer", &root));
    TM_TRY_GOTO(parse_header(root, &revision));
    const json_t *ok = json_object_get(root, "succeeded");
    TM_ENSURE_GOTO(!ok || json_is_boolean(ok), TM_ERR_CORRUPT, "succeeded: not a boolean");
    TM_TRY_GOTO(parse_txn_response(root, json_is_true(ok), key, revision, current));
    *swapped = json_is_true(ok);
out:
    json_decref(root);
    if (status != TM_OK) {
        *swapped = false;
        current->len = 0;
        current->mod_revision = 0;
        tm_err_prefix(status, "txn answer: ");
    }
    return status;
}

static tm_status get_version(const json_t *root, char *out, size_t cap)
{
    const json_t *v = json_object_get(root, "version");
    TM_ENSURE(json_is_string(v), TM_ERR_CORRUPT, "version: missing or not a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    TM_ENSURE(n > 0 && n < cap, TM_ERR_CORRUPT, "version: %zu characters", n);
    for (size_t i = 0; i < n; i++)
        TM_ENSURE(s[i] > ' ' && s[i] < 0x7f, TM_ERR_CORRUPT, "version: not printable");
    memcpy(out, s, n);
    out[n] = '\0';
    return TM_OK;
}

static tm_status parse_status_obj(const json_t *root, tm_etcd_member_status *out)
{
    json_t *h;
    uint64_t term_header;
    TM_TRY(parse_header(root, &out->revision));
    TM_TRY(get_object(root, "header", true, &h));
    TM_TRY(get_uint(h, "member_id", UINT64_MAX, &out->member_id));
    TM_ENSURE(out->member_id != 0, TM_ERR_CORRUPT, "header.member_id: missing");
    TM_TRY(get_uint(h, "raft_term", UINT64_MAX, &term_header));
    TM_TRY(get_version(root, out->version, sizeof(out->version)));
    TM_TRY(get_uint(root, "leader", UINT64_MAX, &out->leader_id));
    TM_TRY(get_uint(root, "raftTerm", UINT64_MAX, &out->raft_term));
    if (out->raft_term == 0) out->raft_term = term_header;
    TM_TRY(get_int64(root, "dbSize", &out->db_size));
    uint64_t ignored;
    TM_TRY(get_uint(root, "raftIndex", UINT64_MAX, &ignored));
    TM_TRY(get_uint(root, "raftAppliedIndex", UINT64_MAX, &ignored));
    TM_TRY(get_uint(root, "dbSizeInUse", INT64_MAX, &ignored));
    return TM_OK;
}

tm_status tm_etcd_parse_status(const char *body, size_t len, tm_etcd_member_status *out)
{
    tm_status status = TM_OK;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    TM_TRY(load(body, len, "status answer", &root));
    TM_TRY_GOTO(parse_status_obj(root, out));
    out->reachable = true;
out:
    json_decref(root);
    if (status != TM_OK) {
        memset(out, 0, sizeof(*out));
        tm_err_prefix(status, "status answer: ");
    }
    return status;
}

/* Keep what a log line can carry: printable ASCII, truncated. */
static void copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 0x20 && c < 0x7f)
            dst[j++] = (char)c;
        else
            dst[j++] = '?';
    }
    dst[j] = '\0';
}

void tm_etcd_parse_error(const char *body, size_t len, int *code, char *msg, size_t cap)
{
    json_t *root = NULL;
    *code = -1;
    if (cap == 0) return;
    msg[0] = '\0';
    if (!body || len > TM_ETCD_MAX_BODY || !(root = json_loadb(body, len, 0, NULL)) ||
        !json_is_object(root)) {
        copy_printable(msg, cap, body ? body : "", body ? len : 0);
        json_decref(root);
        return;
    }
    const json_t *c = json_object_get(root, "code");
    if (json_is_integer(c) && json_integer_value(c) >= 0 && json_integer_value(c) <= 64)
        *code = (int)json_integer_value(c);
    const json_t *m = json_object_get(root, "message");
    if (!json_is_string(m)) m = json_object_get(root, "error");
    if (json_is_string(m)) copy_printable(msg, cap, json_string_value(m), json_string_length(m));
    json_decref(root);
}
