/* Connections to a validator node: a byte stream with read/write/close. Implementations:
 * a plain fd (unix://), later Secret Connection (tcp://) and Noise (noise://). */
#ifndef TMKMS_CONN_H
#define TMKMS_CONN_H

#include <stddef.h>

#include "tmkms/error.h"

typedef struct tm_conn tm_conn;

struct tm_conn_ops {
    /* Read at most cap bytes; *got > 0 on TM_OK; TM_ERR_EOF when the peer closed. */
    tm_status (*read)(tm_conn *conn, void *buf, size_t cap, size_t *got);
    tm_status (*write_all)(tm_conn *conn, const void *buf, size_t len);
    void (*close)(tm_conn *conn);
    /* Optional. From now on, reads and writes fail with TM_ERR_TIMEOUT once ms milliseconds
     * have passed, however the peer trickles bytes (0: no deadline). Handshakes use it so a
     * slow peer cannot hold them open one byte per read timeout at a time. */
    void (*set_deadline)(tm_conn *conn, int ms);
};

struct tm_conn {
    const struct tm_conn_ops *ops;
    char peer[128]; /* for log lines: "unix:///path" */
};

/* Dial a Unix socket (the node listens). timeout_ms bounds every later read/write too
 * (0: no timeout). */
tm_status tm_conn_dial_unix(const char *path, int timeout_ms, tm_conn **out);
/* Dial host:port over TCP (IPv4 or IPv6; numeric or resolvable host); the connect itself
 * also gives up after timeout_ms. */
tm_status tm_conn_dial_tcp(const char *host, const char *port, int timeout_ms, tm_conn **out);
/* Wrap a connected fd (takes ownership). */
tm_status tm_conn_from_fd(int fd, const char *peer, int timeout_ms, tm_conn **out);

static inline tm_status tm_conn_read(tm_conn *c, void *buf, size_t cap, size_t *got)
{
    return c->ops->read(c, buf, cap, got);
}
static inline tm_status tm_conn_write_all(tm_conn *c, const void *buf, size_t len)
{
    return c->ops->write_all(c, buf, len);
}
/* Split "host:port" or "[IPv6]:port" (port 1-65535) out of hp; errors name `addr`, the
 * whole address the operator wrote. */
tm_status tm_parse_host_port(const char *addr, const char *hp, char host[256], char port[8]);
/* Read exactly len bytes (a short stream is TM_ERR_EOF from the read that found the end). */
tm_status tm_conn_read_exact(tm_conn *c, void *buf, size_t len);
static inline void tm_conn_set_deadline(tm_conn *c, int ms)
{
    if (c->ops->set_deadline) c->ops->set_deadline(c, ms);
}
void tm_conn_close(tm_conn *conn);

#endif
