/* See log_receiver.h. The text was validated (printable ASCII, bounded) by msg.c. */
#include "log_receiver.h"

#include <stdio.h>

#include "tmkms/log.h"
#include "tmkms/nitro/msg.h"

#define MOD "enclave-log"

static void handle(const tm_nitro_msg *m, metrics_mirror *mirror)
{
    if (m->body_case == TMKMS__NITRO__MESSAGE__BODY_LOG_LINE) {
        tm_log_forwarded((tm_log_level)m->log_line->level, "enclave", m->log_line->text);
        return;
    }
    if (m->body_case != TMKMS__NITRO__MESSAGE__BODY_METRICS_REPORT) {
        tm_log_warn(MOD, "log port: a %s message, dropped", tm_nitro_body_name(m->body_case));
        return;
    }
    if (metrics_mirror_apply(mirror, m->metrics_report, NULL) != TM_OK)
        tm_log_warn(MOD, "enclave metrics report dropped: %s", tm_err_msg());
}

tm_status log_receiver_serve(tm_conn *conn, metrics_mirror *mirror)
{
    for (;;) {
        tm_nitro_msg *m = NULL;
        bool in_sync = false;
        tm_status status = tm_nitro_recv_sync(conn, &m, &in_sync);
        if (status != TM_OK && !in_sync) return status;
        if (status != TM_OK) {
            tm_log_warn(MOD, "enclave message dropped: %s", tm_err_msg());
            continue;
        }
        handle(m, mirror);
        tm_nitro_msg_free(m);
    }
}

void log_receiver_run(tm_vsock_listener *l, metrics_mirror *mirror)
{
    for (;;) {
        tm_conn *conn = NULL;
        tm_status status = tm_vsock_accept(l, -1, 0, &conn);
        if (status == TM_ERR_TIMEOUT) continue;
        if (status != TM_OK) {
            tm_log_error(MOD, "log port: %s", tm_err_msg());
            return;
        }
        status = log_receiver_serve(conn, mirror);
        if (status != TM_ERR_EOF) tm_log_warn(MOD, "log connection: %s", tm_err_msg());
        tm_conn_close(conn);
    }
}
