/* The local control socket of `tmkms start` (tmkms/status_socket.h): tmkms-status.sock
 * next to the first chain's state file; every connection gets one JSON document (what
 * `tmkms status` prints) and is closed. */
#ifndef TMKMS_STATUS_SERVER_H
#define TMKMS_STATUS_SERVER_H

#include "tmkms/config.h"
#include "tmkms/error.h"
#include "tmkms/status_socket.h"

/* The socket's path for a config: <folder of the first chain's state file>/tmkms-status.sock. */
tm_status tm_status_socket_path(const tm_config *config, char *out, size_t cap);

#endif
