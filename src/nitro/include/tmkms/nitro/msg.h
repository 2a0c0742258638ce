/* The host<->enclave protocol (proto/nitro/host.proto): framing, validation, state
 * conversion. Shared by the enclave and the helper, and each treats the other's messages
 * as untrusted: tm_nitro_recv returns only messages that passed tm_nitro_msg_validate.
 *
 * Frame: a 4-byte big-endian length, 1..TM_NITRO_FRAME_MAX, then that many bytes of a
 * protobuf `Message` whose version is TM_NITRO_PROTO_VERSION. A zero or oversize length,
 * a truncated frame, bytes that do not decode, an unknown version, a message without a
 * body or a field out of its bound is refused with an error naming the field, and the
 * caller drops the connection. */
#ifndef TMKMS_NITRO_MSG_H
#define TMKMS_NITRO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nitro/host.pb-c.h"
#include "tmkms/conn.h"
#include "tmkms/error.h"
#include "tmkms/types.h"

#define TM_NITRO_PROTO_VERSION 1u
#define TM_NITRO_FRAME_MAX (64u * 1024u)

/* Field bounds (also written in host.proto). */
#define TM_NITRO_MAX_REGION 32
#define TM_NITRO_MAX_KEY_ID 256
#define TM_NITRO_MAX_AKID 128
#define TM_NITRO_MAX_SECRET 128
#define TM_NITRO_MAX_TOKEN 4096
#define TM_NITRO_MAX_PEER_ID 128
#define TM_NITRO_MAX_LOG_LINE 1024
#define TM_NITRO_MAX_ERROR 512
#define TM_NITRO_MAX_SEALED 6144
#define TM_NITRO_MAX_ATTESTATION 16384
/* MetricsReport (the labels per series are TM_METRICS_MAX_LABELS, 4; a histogram has
 * tm_metrics_latency_bounds_n + 1 buckets). */
#define TM_NITRO_MAX_METRIC_SERIES 256
#define TM_NITRO_MAX_METRIC_NAME 64
#define TM_NITRO_MAX_LABEL_NAME 32
#define TM_NITRO_MAX_LABEL_VALUE 128
#define TM_NITRO_METRIC_COUNTER 0u
#define TM_NITRO_METRIC_GAUGE 1u
#define TM_NITRO_METRIC_HISTOGRAM 2u

typedef Tmkms__Nitro__Message tm_nitro_msg;
typedef Tmkms__Nitro__Message__BodyCase tm_nitro_body;

/* Decode and validate one message body (the bytes after the length). *out is the
 * caller's (tm_nitro_msg_free). */
tm_status tm_nitro_msg_decode(const uint8_t *buf, size_t len, tm_nitro_msg **out);
/* Every bound of host.proto on a decoded message. */
tm_status tm_nitro_msg_validate(const tm_nitro_msg *m);
void tm_nitro_msg_free(tm_nitro_msg *m);

/* Encode `m` (its version is set here) as one frame and write it. */
tm_status tm_nitro_send(tm_conn *conn, tm_nitro_msg *m);
/* Read one frame and decode it. */
tm_status tm_nitro_recv(tm_conn *conn, tm_nitro_msg **out);
/* The same; *in_sync tells whether the whole frame was read (a message refused by its
 * decoding or validation leaves the stream at the next frame, so a reader of a channel
 * where one bad message is not fatal, the log port, can go on). */
tm_status tm_nitro_recv_sync(tm_conn *conn, tm_nitro_msg **out, bool *in_sync);
/* Read one frame that must carry `want`; an `Error` message becomes TM_ERR_REFUSED (or
 * its code when that is a known status) with the peer's text, any other body
 * TM_ERR_INVALID. */
tm_status tm_nitro_recv_expect(tm_conn *conn, tm_nitro_body want, tm_nitro_msg **out);
/* The check of recv_expect on a message already read; takes `m` (freed unless it is
 * returned in *out). For a caller that must tell a lost connection from an answer. */
tm_status tm_nitro_expect(tm_nitro_msg *m, tm_nitro_body want, tm_nitro_msg **out);
/* Copies at most `max` bytes of `src` (NULL: none) into dst (room for max + 1), each byte
 * that is not printable ASCII as '?': text that crosses to the other side, which accepts
 * only printable ASCII. */
void tm_nitro_copy_printable(char *dst, const char *src, size_t max);
/* Send an Error message with `code` and `text` (cut to the bound); best effort. */
void tm_nitro_send_error(tm_conn *conn, tm_status code, const char *text);

/* A SignState message <-> the core's state. from_msg validates (height >= 0, round >= 0,
 * step 0..3, sign bytes and signature lengths). to_msg points into `state`. */
tm_status tm_nitro_state_from_msg(const Tmkms__Nitro__SignState *m, tm_sign_state *out);
void tm_nitro_state_to_msg(const tm_sign_state *state, Tmkms__Nitro__SignState *m);

/* The name of a body case, for log lines ("start_request"). */
const char *tm_nitro_body_name(tm_nitro_body body);

#endif
