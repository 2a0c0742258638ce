/* Shared by the local AWS emulators (kms-emulator, imds-emulator): the listening socket
 * ("HOST:PORT", port 0 picks a free port) and waiting for SIGINT/SIGTERM. Loopback use. */
#ifndef TMKMS_EMU_COMMON_H
#define TMKMS_EMU_COMMON_H

#include <stddef.h>

#include "tmkms/error.h"

/* Binds and listens on HOST:PORT ("127.0.0.1:0", "[::1]:8080", "localhost:80"); *fd gets
 * the socket and `shown` the address with the real port, in URL form ("127.0.0.1:41234"). */
tm_status emu_listen(const char *host_port, int *fd, char *shown, size_t cap);
/* Blocks SIGINT/SIGTERM in the calling thread (call before starting threads). */
void emu_block_signals(void);
/* Waits for SIGINT or SIGTERM. */
void emu_wait_for_signal(void);

#endif
