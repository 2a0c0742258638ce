/* NSM request/response messages: CBOR in the AWS NSM API's encoding (serde externally
 * tagged enums: unit variants are text strings, struct variants one-entry maps). */
#include <stdlib.h>
#include <string.h>

#include "cbor_util.h"
#include "tmkms/aws/nsm.h"


static const char *const error_names[] = {"Success",         "InvalidArgument",  "InvalidIndex",
                                          "InvalidResponse", "ReadOnlyIndex",    "InvalidOperation",
                                          "BufferTooSmall",  "InputTooLarge",    "InternalError"};
#define N_ERRORS (sizeof(error_names) / sizeof(error_names[0]))

const char *tm_nsm_error_code_name(tm_nsm_error_code code)
{
    return (unsigned)code < N_ERRORS ? error_names[code] : NULL;
}

/* ---- building ---- */

static cbor_item_t *opt_bstr(const tm_nsm_opt_bytes *b)
{
    if (b == NULL || !b->present) return cbor_new_null();
    return cbor_build_bytestring(b->data, b->len);
}

/* {name: body}; takes ownership of body. */
static cbor_item_t *variant(const char *name, cbor_item_t *body)
{
    cbor_item_t *m = cbor_new_definite_map(1);
    if (m == NULL) {
        if (body) cbor_decref(&body);
        return NULL;
    }
    if (tm_cbor_map_put(m, name, body) != TM_OK) cbor_decref(&m);
    return m;
}

static tm_status serialize_into(cbor_item_t *item, uint8_t *out, size_t cap, size_t *out_len, const char *what)
{
    tm_status status = TM_OK;
    TM_ENSURE_GOTO(item != NULL, TM_ERR_NOMEM, "%s: out of memory", what);
    size_t n = cbor_serialize(item, out, cap);
    TM_ENSURE_GOTO(n > 0, TM_ERR_TOO_LARGE, "%s: does not fit in %zu bytes", what, cap);
    *out_len = n;
out:
    if (item) cbor_decref(&item);
    return status;
}

static cbor_item_t *attestation_request(const tm_nsm_request *req)
{
    cbor_item_t *body = cbor_new_definite_map(3);
    if (body == NULL || tm_cbor_map_put(body, "user_data", opt_bstr(&req->user_data)) != TM_OK ||
        tm_cbor_map_put(body, "nonce", opt_bstr(&req->nonce)) != TM_OK ||
        tm_cbor_map_put(body, "public_key", opt_bstr(&req->public_key)) != TM_OK) {
        if (body) cbor_decref(&body);
        return NULL;
    }
    return variant("Attestation", body);
}

static cbor_item_t *describe_pcr_request(uint16_t index)
{
    cbor_item_t *body = cbor_new_definite_map(1);
    if (body == NULL || tm_cbor_map_put(body, "index", tm_cbor_build_uint(index)) != TM_OK) {
        if (body) cbor_decref(&body);
        return NULL;
    }
    return variant("DescribePCR", body);
}

tm_status tm_nsm_encode_request(const tm_nsm_request *req, uint8_t *out, size_t cap, size_t *out_len)
{
    cbor_item_t *item = NULL;
    if (cap > TM_NSM_REQUEST_MAX) cap = TM_NSM_REQUEST_MAX;
    switch (req->kind) {
    case TM_NSM_REQ_ATTESTATION: item = attestation_request(req); break;
    case TM_NSM_REQ_GET_RANDOM: item = cbor_build_string("GetRandom"); break;
    case TM_NSM_REQ_DESCRIBE_PCR: item = describe_pcr_request(req->index); break;
    case TM_NSM_REQ_DESCRIBE_NSM: item = cbor_build_string("DescribeNSM"); break;
    default: return tm_err_set(TM_ERR_INVALID, "NSM request: unknown kind %d", (int)req->kind);
    }
    return serialize_into(item, out, cap, out_len, "NSM request");
}

static cbor_item_t *bstr_body(const char *key, const uint8_t *data, size_t len)
{
    cbor_item_t *body = cbor_new_definite_map(1);
    if (body == NULL || tm_cbor_map_put(body, key, cbor_build_bytestring(data, len)) != TM_OK) {
        if (body) cbor_decref(&body);
        return NULL;
    }
    return body;
}

static cbor_item_t *pcr_body(const tm_nsm_response *r)
{
    cbor_item_t *body = cbor_new_definite_map(2);
    if (body == NULL || tm_cbor_map_put(body, "lock", cbor_build_bool(r->lock)) != TM_OK ||
        tm_cbor_map_put(body, "data", cbor_build_bytestring(r->data, r->len)) != TM_OK) {
        if (body) cbor_decref(&body);
        return NULL;
    }
    return body;
}

static cbor_item_t *locked_array(const tm_nsm_description *d)
{
    cbor_item_t *arr = cbor_new_definite_array(d->n_locked);
    for (size_t i = 0; arr != NULL && i < d->n_locked && i < TM_NSM_MAX_PCRS; i++) {
        cbor_item_t *v = tm_cbor_build_uint(d->locked_pcrs[i]);
        bool ok = v != NULL && cbor_array_push(arr, v);
        if (v) cbor_decref(&v);
        if (!ok) cbor_decref(&arr);
    }
    return arr;
}

static cbor_item_t *describe_body(const tm_nsm_description *d)
{
    cbor_item_t *b = cbor_new_definite_map(7);
    if (b == NULL || tm_cbor_map_put(b, "version_major", tm_cbor_build_uint(d->version_major)) != TM_OK ||
        tm_cbor_map_put(b, "version_minor", tm_cbor_build_uint(d->version_minor)) != TM_OK ||
        tm_cbor_map_put(b, "version_patch", tm_cbor_build_uint(d->version_patch)) != TM_OK ||
        tm_cbor_map_put(b, "module_id", cbor_build_string(d->module_id)) != TM_OK ||
        tm_cbor_map_put(b, "max_pcrs", tm_cbor_build_uint(d->max_pcrs)) != TM_OK ||
        tm_cbor_map_put(b, "locked_pcrs", locked_array(d)) != TM_OK ||
        tm_cbor_map_put(b, "digest", cbor_build_string(d->digest)) != TM_OK) {
        if (b) cbor_decref(&b);
        return NULL;
    }
    return b;
}

tm_status tm_nsm_encode_response(const tm_nsm_response *r, uint8_t *out, size_t cap, size_t *out_len)
{
    cbor_item_t *item = NULL;
    switch (r->kind) {
    case TM_NSM_RESP_ATTESTATION: item = variant("Attestation", bstr_body("document", r->data, r->len)); break;
    case TM_NSM_RESP_GET_RANDOM: item = variant("GetRandom", bstr_body("random", r->data, r->len)); break;
    case TM_NSM_RESP_DESCRIBE_PCR: item = variant("DescribePCR", pcr_body(r)); break;
    case TM_NSM_RESP_DESCRIBE_NSM: item = variant("DescribeNSM", describe_body(&r->description)); break;
    case TM_NSM_RESP_ERROR:
        if (tm_nsm_error_code_name(r->error) == NULL) return tm_err_set(TM_ERR_INVALID, "NSM error code %d", r->error);
        item = variant("Error", cbor_build_string(tm_nsm_error_code_name(r->error)));
        break;
    default: return tm_err_set(TM_ERR_INVALID, "NSM response: unknown kind %d", (int)r->kind);
    }
    return serialize_into(item, out, cap, out_len, "NSM response");
}
