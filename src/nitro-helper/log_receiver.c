/* See log_receiver.h. The text was validated (printable ASCII, bounded) by msg.c. */
#include "log_receiver.h"

#include <stdio.h>

#include "tmkms/log.h"
#include "tmkms/nitro/msg.h"

void log_receiver_run(tm_vsock_listener *l)
{
    for (;;) {
        tm_conn *conn = NULL;
        tm_status status = tm_vsock_accept(l, -1, 0, &conn);
        if (status == TM_ERR_TIMEOUT) continue;
        if (status != TM_OK) {
            tm_log_error("enclave-log", "log port: %s", tm_err_msg());
            return;
        }
        tm_nitro_msg *m = NULL;
        while ((status = tm_nitro_recv_expect(conn, TMKMS__NITRO__MESSAGE__BODY_LOG_LINE, &m)) == TM_OK) {
            fprintf(stderr, "enclave| %s\n", m->log_line->text);
            tm_nitro_msg_free(m);
        }
        if (status != TM_ERR_EOF) tm_log_warn("enclave-log", "log connection: %s", tm_err_msg());
        tm_conn_close(conn);
    }
}
