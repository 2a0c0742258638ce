#include "tmkms/buf.h"

#include <string.h>

tm_status tm_read_bytes(tm_reader *r, void *out, size_t n)
{
    TM_ENSURE(n <= tm_reader_left(r), TM_ERR_INVALID, "truncated input: need %zu bytes, %zu left", n,
              tm_reader_left(r));
    if (n) memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return TM_OK;
}

tm_status tm_read_view(tm_reader *r, const uint8_t **out, size_t n)
{
    TM_ENSURE(n <= tm_reader_left(r), TM_ERR_INVALID, "truncated input: need %zu bytes, %zu left", n,
              tm_reader_left(r));
    *out = r->data + r->pos;
    r->pos += n;
    return TM_OK;
}

tm_status tm_read_u8(tm_reader *r, uint8_t *out)
{
    return tm_read_bytes(r, out, 1);
}

tm_status tm_read_u16be(tm_reader *r, uint16_t *out)
{
    uint8_t b[2];
    TM_TRY(tm_read_bytes(r, b, 2));
    *out = (uint16_t)((b[0] << 8) | b[1]);
    return TM_OK;
}

tm_status tm_read_u32le(tm_reader *r, uint32_t *out)
{
    uint8_t b[4];
    TM_TRY(tm_read_bytes(r, b, 4));
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return TM_OK;
}

tm_status tm_read_u64le(tm_reader *r, uint64_t *out)
{
    uint32_t lo, hi;
    TM_TRY(tm_read_u32le(r, &lo));
    TM_TRY(tm_read_u32le(r, &hi));
    *out = (uint64_t)hi << 32 | lo;
    return TM_OK;
}

tm_status tm_read_uvarint(tm_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        uint8_t b;
        TM_TRY(tm_read_u8(r, &b));
        if (i == 9 && b > 1) return tm_err_set(TM_ERR_INVALID, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0) return tm_err_set(TM_ERR_INVALID, "overlong varint");
            *out = v;
            return TM_OK;
        }
    }
    return tm_err_set(TM_ERR_INVALID, "varint longer than 10 bytes");
}

tm_status tm_write_bytes(tm_writer *w, const void *data, size_t n)
{
    TM_ENSURE(n <= w->cap - w->len, TM_ERR_TOO_LARGE, "output buffer full: need %zu bytes, %zu left", n,
              w->cap - w->len);
    if (n) memcpy(w->data + w->len, data, n);
    w->len += n;
    return TM_OK;
}

tm_status tm_write_u8(tm_writer *w, uint8_t v)
{
    return tm_write_bytes(w, &v, 1);
}

tm_status tm_write_u16be(tm_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return tm_write_bytes(w, b, 2);
}

tm_status tm_write_u32le(tm_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return tm_write_bytes(w, b, 4);
}

tm_status tm_write_u64le(tm_writer *w, uint64_t v)
{
    TM_TRY(tm_write_u32le(w, (uint32_t)v));
    return tm_write_u32le(w, (uint32_t)(v >> 32));
}

size_t tm_uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

tm_status tm_write_uvarint(tm_writer *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    return tm_write_bytes(w, b, n);
}
