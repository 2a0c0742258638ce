/* The enclave's log port: its LogLine messages, printed to the helper's stderr as lines
 * from the enclave ("enclave| " before the line, or a JSON object with "source":"enclave"
 * under --log-format json) so one journal holds both sides; and its MetricsReports,
 * mirrored into the helper's registry (metrics_mirror.h). */
#ifndef TMKMS_NITRO_HELPER_LOG_RECEIVER_H
#define TMKMS_NITRO_HELPER_LOG_RECEIVER_H

#include "metrics_mirror.h"
#include "tmkms/conn.h"
#include "tmkms/nitro/vsock.h"

/* Accept loop; one connection at a time (the enclave keeps one open). mirror may be NULL
 * (metrics off: reports are read and dropped). */
void log_receiver_run(tm_vsock_listener *l, metrics_mirror *mirror);

/* One connection until it ends (TM_ERR_EOF: closed by the enclave). A message refused by
 * validation (a malformed report) is dropped with one warning naming the field, and the
 * connection goes on; a broken frame ends it. */
tm_status log_receiver_serve(tm_conn *conn, metrics_mirror *mirror);

#endif
