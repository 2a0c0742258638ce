/* The enclave's log lines (LogLine messages on the log port), printed to the helper's
 * stderr with an "enclave" prefix so one journal holds both sides. */
#ifndef TMKMS_NITRO_HELPER_LOG_RECEIVER_H
#define TMKMS_NITRO_HELPER_LOG_RECEIVER_H

#include "tmkms/nitro/vsock.h"

/* Accept loop; one connection at a time (the enclave keeps one open). */
void log_receiver_run(tm_vsock_listener *l);

#endif
