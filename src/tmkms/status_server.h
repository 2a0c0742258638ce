/* The local control socket of `tmkms start`: a Unix stream socket (mode 0600) next to the
 * first chain's state file, where every connection gets one JSON document (what
 * `tmkms status` prints) and is closed. Read-only: nothing a client sends is read. */
#ifndef TMKMS_STATUS_SERVER_H
#define TMKMS_STATUS_SERVER_H

#include "tmkms/config.h"
#include "tmkms/error.h"

/* The socket's path for a config: <folder of the first chain's state file>/tmkms-status.sock. */
tm_status tm_status_socket_path(const tm_config *config, char *out, size_t cap);

/* Renders the document; the caller frees it. NULL on allocation failure. */
typedef char *(*tm_status_render_fn)(void *ctx);

/* Binds the socket (replacing a stale one) and serves it from a thread of its own for the
 * rest of the process. */
tm_status tm_status_server_start(const char *path, tm_status_render_fn render, void *ctx);
/* Removes the socket (at exit), so `tmkms status` says "not running" rather than "refused". */
void tm_status_server_remove(void);

#endif
