/* The node's side of the socket: listen on a Unix path, accept tmkms, exchange
 * uvarint-length-delimited tendermint.privval.Message frames with timeouts. */
#ifndef SIM_WIRE_H
#define SIM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "secure.h"
#include "tendermint/privval/types.pb-c.h"

typedef enum {
    WS_OK = 0,
    WS_CLOSED,   /* the peer closed or reset the connection */
    WS_TIMEOUT,  /* nothing within the timeout */
    WS_STOPPED,  /* a stop signal arrived while waiting */
    WS_BADFRAME, /* the peer sent something that is not a privval message */
    WS_SYS,      /* a local error */
} wire_status;

typedef struct {
    int lfd;
    int fd;
    char path[108];
    int timeout_ms;
    secure_listener *secure; /* tcp://: lfd is its TCP listener, fd a relayed plaintext end */
    uint8_t *rbuf; /* bytes received and not yet consumed */
    size_t rlen;
    size_t rcap;
} wire;

const char *wire_status_name(wire_status st);
/* Set by the SIGINT/SIGTERM handler; waits return WS_STOPPED when it is set. */
extern volatile int wire_stop_requested;
void wire_install_signal_handlers(void);

wire_status wire_listen(wire *w, const char *path, int timeout_ms);
/* Listen through a network transport instead (takes ownership of l). */
wire_status wire_listen_secure(wire *w, secure_listener *l, int timeout_ms);
/* Drops any current connection and waits up to timeout_ms for the next one. */
wire_status wire_accept(wire *w, int timeout_ms);
void wire_drop(wire *w);
void wire_close(wire *w);

wire_status wire_send_raw(wire *w, const uint8_t *p, size_t n);
/* Encodes msg with its length prefix; `chunk` > 0 writes it in pieces of that size with a
 * short pause between them, so the reader sees a split frame. */
wire_status wire_send(wire *w, const Tendermint__Privval__Message *msg, size_t chunk);
/* Encodes msg with its length prefix into a malloc'd buffer. */
int wire_encode(const Tendermint__Privval__Message *msg, uint8_t **out, size_t *len);
wire_status wire_recv(wire *w, Tendermint__Privval__Message **out);
/* Waits until the peer closes the connection, draining what it sends meanwhile; WS_OK when
 * it closed, WS_BADFRAME when it answered with a message instead. Writes `p` (may be large)
 * while waiting, stopping quietly when the peer goes away. */
wire_status wire_send_expect_close(wire *w, const uint8_t *p, size_t n);

#endif
