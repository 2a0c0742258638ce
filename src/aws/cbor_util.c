/* Internal helpers over libcbor: bounded loading, string copies, small builders. */
#include "cbor_util.h"

#include <stdlib.h>
#include <string.h>

struct scan {
    size_t containers;
    size_t left;   /* bytes after the current head */
    bool oversize; /* a head declared more items than bytes remain */
};

/* libcbor allocates an array or map of the declared size before reading it: a head
 * claiming 2^30 items in a 10-byte input would allocate gigabytes. Each item needs at
 * least one byte, so a declared size above the bytes left is malformed anyway. */
static void count_array(void *ctx, uint64_t n)
{
    struct scan *sc = ctx;
    sc->containers++;
    if (n > sc->left) sc->oversize = true;
}

static void count_map(void *ctx, uint64_t n)
{
    struct scan *sc = ctx;
    sc->containers++;
    if (n > sc->left / 2) sc->oversize = true;
}

static void count_tag(void *ctx, uint64_t n)
{
    (void)n;
    ((struct scan *)ctx)->containers++;
}

static void count_indef(void *ctx)
{
    ((struct scan *)ctx)->containers++;
}

static tm_status count_containers(const uint8_t *in, size_t len, size_t max, size_t *items_end)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    struct scan sc = {0, len, false};
    cb.array_start = count_array;
    cb.map_start = count_map;
    cb.tag = count_tag;
    cb.indef_array_start = count_indef;
    cb.indef_map_start = count_indef;
    cb.byte_string_start = count_indef;
    cb.string_start = count_indef;
    size_t pos = 0;
    while (pos < len) {
        struct cbor_decoder_result r = cbor_stream_decode(in + pos, len - pos, &cb, &sc);
        TM_ENSURE(r.status == CBOR_DECODER_FINISHED && r.read > 0 && r.read <= len - pos, TM_ERR_INVALID,
                  "malformed CBOR at byte %zu", pos);
        pos += r.read;
        TM_ENSURE(!sc.oversize, TM_ERR_INVALID, "CBOR: a head at byte %zu declares more items than bytes remain",
                  pos - r.read);
        sc.left = len - pos;
        TM_ENSURE(sc.containers <= max, TM_ERR_INVALID, "CBOR nests more than %zu containers", max);
    }
    *items_end = pos;
    return TM_OK;
}

tm_status tm_cbor_load(const uint8_t *in, size_t len, size_t max_containers, cbor_item_t **out)
{
    size_t end = 0;
    *out = NULL;
    TM_ENSURE(in != NULL && len > 0, TM_ERR_INVALID, "empty CBOR input");
    TM_TRY(count_containers(in, len, max_containers, &end));
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(in, len, &res);
    if (item == NULL) {
        if (res.error.code == CBOR_ERR_MEMERROR) return tm_err_set(TM_ERR_NOMEM, "CBOR: out of memory");
        return tm_err_set(TM_ERR_INVALID, "malformed CBOR at byte %zu", res.error.position);
    }
    if (res.read != len) {
        cbor_decref(&item);
        return tm_err_set(TM_ERR_INVALID, "CBOR: %zu trailing bytes", len - res.read);
    }
    *out = item;
    return TM_OK;
}

static tm_status append(uint8_t **buf, size_t *len, const uint8_t *data, size_t n)
{
    TM_ENSURE(n <= SIZE_MAX - *len - 1, TM_ERR_TOO_LARGE, "CBOR string too long");
    uint8_t *p = realloc(*buf, *len + n + 1);
    TM_ENSURE(p != NULL, TM_ERR_NOMEM, "out of memory");
    if (n > 0) memcpy(p + *len, data, n);
    *len += n;
    p[*len] = 0;
    *buf = p;
    return TM_OK;
}

static bool is_string_type(const cbor_item_t *item, bool text)
{
    return text ? cbor_isa_string(item) : cbor_isa_bytestring(item);
}

static tm_status string_parts(const cbor_item_t *item, bool text, uint8_t **buf, size_t *len)
{
    if (text ? cbor_string_is_definite(item) : cbor_bytestring_is_definite(item)) {
        const uint8_t *h = text ? cbor_string_handle(item) : cbor_bytestring_handle(item);
        size_t n = text ? cbor_string_length(item) : cbor_bytestring_length(item);
        return append(buf, len, h, n);
    }
    size_t count = text ? cbor_string_chunk_count(item) : cbor_bytestring_chunk_count(item);
    cbor_item_t **chunks = text ? cbor_string_chunks_handle(item) : cbor_bytestring_chunks_handle(item);
    for (size_t i = 0; i < count; i++) {
        TM_ENSURE(is_string_type(chunks[i], text), TM_ERR_INVALID, "CBOR: bad string chunk");
        TM_TRY(string_parts(chunks[i], text, buf, len));
    }
    return TM_OK;
}

tm_status tm_cbor_copy_string(const cbor_item_t *item, bool text, uint8_t **out, size_t *len)
{
    tm_status status = TM_OK;
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *len = 0;
    TM_ENSURE(item != NULL && is_string_type(item, text), TM_ERR_INVALID, "expected a %s string",
              text ? "text" : "byte");
    TM_TRY_GOTO(append(&buf, &n, NULL, 0));
    TM_TRY_GOTO(string_parts(item, text, &buf, &n));
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    return status;
}

bool tm_cbor_text_is(const cbor_item_t *item, const char *s)
{
    if (item == NULL || !cbor_isa_string(item) || !cbor_string_is_definite(item)) return false;
    size_t n = strlen(s);
    return cbor_string_length(item) == n && memcmp(cbor_string_handle(item), s, n) == 0;
}

static bool is_ctrl(const cbor_item_t *item)
{
    return item != NULL && cbor_isa_float_ctrl(item) && cbor_float_get_width(item) == CBOR_FLOAT_0;
}

bool tm_cbor_is_null(const cbor_item_t *item)
{
    return is_ctrl(item) && cbor_is_null(item);
}

bool tm_cbor_get_bool(const cbor_item_t *item, bool *out)
{
    if (!is_ctrl(item) || !cbor_is_bool(item)) return false;
    *out = cbor_get_bool(item);
    return true;
}

bool tm_cbor_get_uint(const cbor_item_t *item, uint64_t *out)
{
    if (item == NULL || !cbor_isa_uint(item)) return false;
    *out = cbor_get_int(item);
    return true;
}

tm_status tm_cbor_serialize(const cbor_item_t *item, uint8_t **out, size_t *len)
{
    size_t cap = 0;
    unsigned char *buf = NULL;
    size_t n = cbor_serialize_alloc(item, &buf, &cap);
    if (n == 0) {
        free(buf);
        *out = NULL;
        *len = 0;
        return tm_err_set(TM_ERR_NOMEM, "CBOR serialization failed");
    }
    *out = buf;
    *len = n;
    return TM_OK;
}

tm_status tm_cbor_map_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    cbor_item_t *k = cbor_build_string(key);
    bool ok = value != NULL && k != NULL && cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});
    if (k) cbor_decref(&k);
    if (value) cbor_decref(&value);
    return ok ? TM_OK : tm_err_set(TM_ERR_NOMEM, "CBOR: out of memory");
}

cbor_item_t *tm_cbor_build_uint(uint64_t v)
{
    if (v <= UINT8_MAX) return cbor_build_uint8((uint8_t)v);
    if (v <= UINT16_MAX) return cbor_build_uint16((uint16_t)v);
    if (v <= UINT32_MAX) return cbor_build_uint32((uint32_t)v);
    return cbor_build_uint64(v);
}
