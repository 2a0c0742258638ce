/* Signals as readable bytes: the handlers of the given signals write the signal number
 * (one byte) into a pipe, so a poll loop sees them with its other file descriptors. */
#ifndef TMKMS_NITRO_HELPER_SIGNAL_PIPE_H
#define TMKMS_NITRO_HELPER_SIGNAL_PIPE_H

#include <stddef.h>

#include "tmkms/error.h"

/* Installs the handlers (SA_RESTART) and returns the pipe's non-blocking read end.
 * Call once per process. SIGPIPE is ignored as well. */
tm_status helper_signal_pipe(const int *signals, size_t n, int *read_fd);

/* Reads one pending signal number, or 0 when none is pending. */
int helper_signal_next(int read_fd);

#endif
