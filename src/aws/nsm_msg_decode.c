/* NSM request/response messages: decoding. Every message is a text string (a unit
 * variant) or a one-entry map {variant name: body}. */
#include <stdlib.h>
#include <string.h>

#include "cbor_util.h"
#include "tmkms/aws/nsm.h"

#define MSG_MAX_CONTAINERS 16

static tm_status split_variant(const cbor_item_t *item, const cbor_item_t **name, const cbor_item_t **body)
{
    *body = NULL;
    if (cbor_isa_string(item)) {
        *name = item;
        return TM_OK;
    }
    TM_ENSURE(cbor_isa_map(item) && cbor_map_size(item) == 1, TM_ERR_INVALID,
              "NSM message: not a variant name or a one-entry map");
    const struct cbor_pair *p = cbor_map_handle(item);
    TM_ENSURE(cbor_isa_string(p[0].key), TM_ERR_INVALID, "NSM message: variant name is not text");
    *name = p[0].key;
    *body = p[0].value;
    return TM_OK;
}

static const cbor_item_t *map_get(const cbor_item_t *map, const char *key)
{
    if (map == NULL || !cbor_isa_map(map)) return NULL;
    const struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++)
        if (tm_cbor_text_is(p[i].key, key)) return p[i].value;
    return NULL;
}

static tm_status get_u16(const cbor_item_t *map, const char *key, uint16_t *out)
{
    uint64_t v = 0;
    TM_ENSURE(tm_cbor_get_uint(map_get(map, key), &v) && v <= UINT16_MAX, TM_ERR_INVALID,
              "NSM message: %s is not a u16", key);
    *out = (uint16_t)v;
    return TM_OK;
}

static tm_status get_bstr(const cbor_item_t *map, const char *key, uint8_t **data, size_t *len)
{
    const cbor_item_t *v = map_get(map, key);
    TM_ENSURE(v != NULL && cbor_isa_bytestring(v), TM_ERR_INVALID, "NSM message: %s is not a byte string",
              key);
    return tm_cbor_copy_string(v, false, data, len);
}

static tm_status load_message(const uint8_t *in, size_t len, cbor_item_t **item)
{
    TM_ENSURE(len <= TM_NSM_RESPONSE_MAX, TM_ERR_TOO_LARGE, "NSM message: %zu bytes", len);
    return tm_cbor_load(in, len, MSG_MAX_CONTAINERS, item);
}

/* ---- requests ---- */

/* One optional field of Attestation: absent or null, or a byte string. */
static tm_status opt_field(const cbor_item_t *body, const char *key, tm_nsm_opt_bytes *out, size_t *total)
{
    const cbor_item_t *v = map_get(body, key);
    memset(out, 0, sizeof(*out));
    if (v == NULL || tm_cbor_is_null(v)) return TM_OK;
    TM_ENSURE(cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v), TM_ERR_INVALID,
              "NSM Attestation: %s is not a byte string or null", key);
    out->present = true;
    out->data = cbor_bytestring_handle(v); /* borrowed until copied below */
    out->len = cbor_bytestring_length(v);
    *total += out->len;
    return TM_OK;
}

static tm_status attestation_request(const cbor_item_t *body, tm_nsm_request *req)
{
    size_t total = 1;
    TM_ENSURE(body != NULL && cbor_isa_map(body), TM_ERR_INVALID, "NSM Attestation: body is not a map");
    TM_TRY(opt_field(body, "user_data", &req->user_data, &total));
    TM_TRY(opt_field(body, "nonce", &req->nonce, &total));
    TM_TRY(opt_field(body, "public_key", &req->public_key, &total));
    uint8_t *block = malloc(total);
    TM_ENSURE(block != NULL, TM_ERR_NOMEM, "out of memory");
    size_t pos = 0;
    tm_nsm_opt_bytes *fields[3] = {&req->user_data, &req->nonce, &req->public_key};
    for (size_t i = 0; i < 3; i++) {
        if (fields[i]->len > 0) memcpy(block + pos, fields[i]->data, fields[i]->len);
        fields[i]->data = fields[i]->present ? block + pos : NULL;
        pos += fields[i]->len;
    }
    req->owned_ = block;
    return TM_OK;
}

static tm_status request_from(const cbor_item_t *item, tm_nsm_request *req)
{
    const cbor_item_t *name = NULL, *body = NULL;
    TM_TRY(split_variant(item, &name, &body));
    if (tm_cbor_text_is(name, "GetRandom") && body == NULL) {
        req->kind = TM_NSM_REQ_GET_RANDOM;
    } else if (tm_cbor_text_is(name, "DescribeNSM") && body == NULL) {
        req->kind = TM_NSM_REQ_DESCRIBE_NSM;
    } else if (tm_cbor_text_is(name, "DescribePCR") && body != NULL) {
        req->kind = TM_NSM_REQ_DESCRIBE_PCR;
        TM_TRY(get_u16(body, "index", &req->index));
    } else if (tm_cbor_text_is(name, "Attestation") && body != NULL) {
        req->kind = TM_NSM_REQ_ATTESTATION;
        TM_TRY(attestation_request(body, req));
    } else {
        return tm_err_set(TM_ERR_INVALID, "NSM request: unknown or malformed variant");
    }
    return TM_OK;
}

tm_status tm_nsm_decode_request(const uint8_t *in, size_t len, tm_nsm_request *req)
{
    cbor_item_t *item = NULL;
    memset(req, 0, sizeof(*req));
    TM_ENSURE(len <= TM_NSM_REQUEST_MAX, TM_ERR_TOO_LARGE, "NSM request: %zu bytes", len);
    TM_TRY(load_message(in, len, &item));
    tm_status st = request_from(item, req);
    cbor_decref(&item);
    if (st != TM_OK) tm_nsm_request_free(req);
    return st;
}

void tm_nsm_request_free(tm_nsm_request *req)
{
    if (req == NULL) return;
    free(req->owned_);
    memset(req, 0, sizeof(*req));
}

/* ---- responses ---- */

static tm_status error_response(const cbor_item_t *body, tm_nsm_response *r)
{
    for (int c = 0; tm_nsm_error_code_name((tm_nsm_error_code)c) != NULL; c++) {
        if (tm_cbor_text_is(body, tm_nsm_error_code_name((tm_nsm_error_code)c))) {
            r->kind = TM_NSM_RESP_ERROR;
            r->error = (tm_nsm_error_code)c;
            return TM_OK;
        }
    }
    return tm_err_set(TM_ERR_INVALID, "NSM Error: unknown error code");
}

static tm_status pcr_response(const cbor_item_t *body, tm_nsm_response *r)
{
    TM_ENSURE(tm_cbor_get_bool(map_get(body, "lock"), &r->lock), TM_ERR_INVALID,
              "NSM DescribePCR: lock is not a bool");
    TM_TRY(get_bstr(body, "data", &r->data, &r->len));
    TM_ENSURE(r->len <= TM_NSM_PCR_MAX_LEN, TM_ERR_INVALID, "NSM DescribePCR: %zu-byte PCR", r->len);
    r->kind = TM_NSM_RESP_DESCRIBE_PCR;
    return TM_OK;
}

static tm_status copy_text(const cbor_item_t *v, char *out, size_t cap, const char *what)
{
    TM_ENSURE(v != NULL && cbor_isa_string(v) && cbor_string_is_definite(v) && cbor_string_length(v) < cap &&
                  memchr(cbor_string_handle(v), 0, cbor_string_length(v)) == NULL,
              TM_ERR_INVALID, "NSM DescribeNSM: %s is not a text of fewer than %zu bytes", what, cap);
    memcpy(out, cbor_string_handle(v), cbor_string_length(v));
    out[cbor_string_length(v)] = 0;
    return TM_OK;
}

static tm_status locked_pcrs(const cbor_item_t *v, tm_nsm_description *d)
{
    TM_ENSURE(v != NULL && cbor_isa_array(v) && cbor_array_size(v) <= TM_NSM_MAX_PCRS, TM_ERR_INVALID,
              "NSM DescribeNSM: locked_pcrs is not an array of at most %d", TM_NSM_MAX_PCRS);
    cbor_item_t **items = cbor_array_handle(v);
    for (size_t i = 0; i < cbor_array_size(v); i++) {
        uint64_t x = 0;
        TM_ENSURE(tm_cbor_get_uint(items[i], &x) && x <= UINT16_MAX, TM_ERR_INVALID,
                  "NSM DescribeNSM: locked_pcrs entry is not a u16");
        d->locked_pcrs[i] = (uint16_t)x;
    }
    d->n_locked = cbor_array_size(v);
    return TM_OK;
}

static tm_status describe_response(const cbor_item_t *body, tm_nsm_response *r)
{
    tm_nsm_description *d = &r->description;
    TM_TRY(get_u16(body, "version_major", &d->version_major));
    TM_TRY(get_u16(body, "version_minor", &d->version_minor));
    TM_TRY(get_u16(body, "version_patch", &d->version_patch));
    TM_TRY(get_u16(body, "max_pcrs", &d->max_pcrs));
    TM_TRY(copy_text(map_get(body, "module_id"), d->module_id, sizeof(d->module_id), "module_id"));
    TM_TRY(copy_text(map_get(body, "digest"), d->digest, sizeof(d->digest), "digest"));
    TM_TRY(locked_pcrs(map_get(body, "locked_pcrs"), d));
    r->kind = TM_NSM_RESP_DESCRIBE_NSM;
    return TM_OK;
}

static tm_status response_from(const cbor_item_t *item, tm_nsm_response *r)
{
    const cbor_item_t *name = NULL, *body = NULL;
    TM_TRY(split_variant(item, &name, &body));
    TM_ENSURE(body != NULL, TM_ERR_INVALID, "NSM response: unexpected unit variant");
    if (tm_cbor_text_is(name, "Error")) return error_response(body, r);
    TM_ENSURE(cbor_isa_map(body), TM_ERR_INVALID, "NSM response: body is not a map");
    if (tm_cbor_text_is(name, "Attestation")) {
        r->kind = TM_NSM_RESP_ATTESTATION;
        return get_bstr(body, "document", &r->data, &r->len);
    }
    if (tm_cbor_text_is(name, "GetRandom")) {
        r->kind = TM_NSM_RESP_GET_RANDOM;
        return get_bstr(body, "random", &r->data, &r->len);
    }
    if (tm_cbor_text_is(name, "DescribePCR")) return pcr_response(body, r);
    if (tm_cbor_text_is(name, "DescribeNSM")) return describe_response(body, r);
    return tm_err_set(TM_ERR_INVALID, "NSM response: unknown variant");
}

tm_status tm_nsm_decode_response(const uint8_t *in, size_t len, tm_nsm_response *resp)
{
    cbor_item_t *item = NULL;
    memset(resp, 0, sizeof(*resp));
    TM_TRY(load_message(in, len, &item));
    tm_status st = response_from(item, resp);
    cbor_decref(&item);
    if (st != TM_OK) tm_nsm_response_free(resp);
    return st;
}

void tm_nsm_response_free(tm_nsm_response *resp)
{
    if (resp == NULL) return;
    free(resp->data);
    memset(resp, 0, sizeof(*resp));
}
