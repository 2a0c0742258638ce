/* launch-all's side of the helper's sd_notify(3) messages: an abstract Unix datagram
 * socket ("@tmkms-launch-all-PID-NONCE") given to the helper as its NOTIFY_SOCKET, so that
 * launch-all, the unit's main process, is the one that tells systemd (NotifyAccess=main).
 * The sender's PID comes with each message (SO_PASSCRED); the caller decides whose it
 * takes. Also the children's environments: without systemd's NOTIFY_SOCKET, WATCHDOG_USEC
 * and WATCHDOG_PID (the helper's with ours instead). */
#ifndef TMKMS_NITRO_HELPER_NOTIFY_RELAY_H
#define TMKMS_NITRO_HELPER_NOTIFY_RELAY_H

#include <stdbool.h>
#include <sys/types.h>

#include "tmkms/error.h"

#define NOTIFY_STATUS_MAX 255

typedef struct {
    int fd;            /* -1 when not open */
    char name[64];     /* the abstract name, "@..." as NOTIFY_SOCKET spells it */
    char **helper_env; /* NULL-terminated; the strings are env's, but for ours */
    char **proxy_env;
    char *notify_var; /* "NOTIFY_SOCKET=@..." */
} notify_relay;

typedef struct {
    pid_t pid;                          /* the sender; 0 when unknown */
    bool ready;                         /* READY=1 */
    char status[NOTIFY_STATUS_MAX + 1]; /* STATUS=..., printable ASCII, cut; "" none */
} notify_msg;

tm_status notify_relay_open(notify_relay *r, char **env);
/* One waiting message (never blocks); false when there is none. */
bool notify_relay_recv(notify_relay *r, notify_msg *m);
void notify_relay_close(notify_relay *r);

#endif
