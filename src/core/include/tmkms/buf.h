/* Bounds-checked byte reader and writer. Every parser of untrusted bytes reads through a
 * tm_reader; every encoder writes through a tm_writer over a caller-owned buffer. No
 * function here reads or writes outside [data, data + len). */
#ifndef TMKMS_BUF_H
#define TMKMS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} tm_reader;

typedef struct {
    uint8_t *data;
    size_t cap;
    size_t len;
} tm_writer;

static inline tm_reader tm_reader_init(const void *data, size_t len)
{
    tm_reader r = {(const uint8_t *)data, len, 0};
    return r;
}

static inline size_t tm_reader_left(const tm_reader *r)
{
    return r->len - r->pos;
}

tm_status tm_read_bytes(tm_reader *r, void *out, size_t n);
tm_status tm_read_u8(tm_reader *r, uint8_t *out);
tm_status tm_read_u16be(tm_reader *r, uint16_t *out);
tm_status tm_read_u32le(tm_reader *r, uint32_t *out);
tm_status tm_read_u64le(tm_reader *r, uint64_t *out);
/* Borrow n bytes without copying: *out points into the reader's buffer. */
tm_status tm_read_view(tm_reader *r, const uint8_t **out, size_t n);
/* Protobuf base-128 varint, at most 10 bytes; overlong or overflowing input is invalid. */
tm_status tm_read_uvarint(tm_reader *r, uint64_t *out);

static inline tm_writer tm_writer_init(void *data, size_t cap)
{
    tm_writer w = {(uint8_t *)data, cap, 0};
    return w;
}

tm_status tm_write_bytes(tm_writer *w, const void *data, size_t n);
tm_status tm_write_u8(tm_writer *w, uint8_t v);
tm_status tm_write_u16be(tm_writer *w, uint16_t v);
tm_status tm_write_u32le(tm_writer *w, uint32_t v);
tm_status tm_write_u64le(tm_writer *w, uint64_t v);
tm_status tm_write_uvarint(tm_writer *w, uint64_t v);

/* Number of bytes tm_write_uvarint would write for v (1..10). */
size_t tm_uvarint_size(uint64_t v);

#endif
