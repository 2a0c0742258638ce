/* A tm_conn over a byte buffer, for unit tests and fuzz targets: each read hands out at
 * most `chunk` bytes (so frames arrive split as the test chooses), writes are discarded. */
#ifndef TMKMS_TEST_MEM_CONN_H
#define TMKMS_TEST_MEM_CONN_H

#include <string.h>

#include "tmkms/conn.h"

typedef struct {
    tm_conn base;
    const uint8_t *data;
    size_t len, pos, chunk;
    size_t reads;
} mem_conn;

static inline tm_status mem_conn_read(tm_conn *c, void *buf, size_t cap, size_t *got)
{
    mem_conn *m = (mem_conn *)c;
    if (m->pos == m->len) return tm_err_set(TM_ERR_EOF, "closed");
    size_t n = m->len - m->pos;
    if (n > cap) n = cap;
    if (n > m->chunk) n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    m->reads++;
    *got = n;
    return TM_OK;
}

static inline tm_status mem_conn_write(tm_conn *c, const void *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return TM_OK;
}

static inline void mem_conn_close(tm_conn *c)
{
    (void)c;
}

static const struct tm_conn_ops mem_conn_ops = {.read = mem_conn_read, .write_all = mem_conn_write, .close = mem_conn_close};

static inline mem_conn mem_conn_over(const uint8_t *data, size_t len, size_t chunk)
{
    mem_conn c = {.base = {.ops = &mem_conn_ops}, .data = data, .len = len, .chunk = chunk};
    return c;
}

#endif
