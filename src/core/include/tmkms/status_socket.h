/* A local control socket: a Unix stream socket (mode 0600) where every connection gets
 * one document (JSON, rendered when the client connects) and is closed. Read-only:
 * nothing a client sends is read. `tmkms start` (tmkms-status.sock) and
 * `tmkms-nitro-helper start` (tmkms-nitro-helper-status.sock) serve one each; their
 * `status` subcommands read it with tm_status_socket_fetch. */
#ifndef TMKMS_STATUS_SOCKET_H
#define TMKMS_STATUS_SOCKET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tmkms/error.h"

/* The largest document a client reads. */
#define TM_STATUS_MAX_BYTES (1u << 20)

/* Renders the document; the caller frees it. NULL on allocation failure. */
typedef char *(*tm_status_render_fn)(void *ctx);

/* Binds the socket (replacing a stale socket, never another kind of file) and serves it
 * from a thread of its own for the rest of the process. One socket per process. */
tm_status tm_status_server_start(const char *path, tm_status_render_fn render, void *ctx);
/* Removes the socket (at exit), so a client says "not running" rather than "refused". */
void tm_status_server_remove(void);

/* `<folder of file>/<name>`, checked to fit a Unix socket path. */
tm_status tm_status_socket_path_beside(const char *file, const char *name, char *out, size_t cap);

/* The whole document from the socket at path, NUL-terminated; the caller frees *out.
 * TM_ERR_NOT_FOUND when nothing accepts there (the server is not running; the message
 * names `program`). */
tm_status tm_status_socket_fetch(const char *path, const char *program, char **out);

/* For the `status` subcommands (status_print.c). */
/* A duration as an operator reads it: 45s, 12m, 3h05m, 2d. */
void tm_status_print_duration(int64_t seconds);
/* "chain ID: last VERB H/R/STEP, AGE ago; persistence ok" (or the failures and the last
 * error) from a chain object of a status document. */
void tm_status_print_chain(const json_t *chain, const char *verb);
/* "PROGRAM VERSION (pid N, up D[EXTRA])" and a newline, from a status document's head. */
void tm_status_print_head(const json_t *doc, const char *extra);
/* A string member of a status object, "?" when it is missing. */
const char *tm_status_str(const json_t *o, const char *key);
/* "connected for 3h04m (1 session)" or "DOWN for 5m (3 sessions): LAST ERROR" and a
 * newline, from a validator object of a status document (status_doc.h). */
void tm_status_print_link(const json_t *validator);
/* -c/--config FILE, --json, -h/--help. 0: parsed; 1: help printed; 2: usage error
 * (printed, prefixed with `command`). */
int tm_status_parse_args(int argc, char **argv, const char *command, void (*usage)(FILE *out),
                         const char **config_path, bool *as_json);

#endif
