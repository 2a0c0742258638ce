/* See signal_pipe.h. */
#include "signal_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int write_end = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write_end >= 0) (void)!write(write_end, &b, 1);
    errno = saved;
}

tm_status helper_signal_pipe(const int *signals, size_t n, int *read_fd)
{
    int p[2];
    TM_ENSURE(write_end < 0, TM_ERR_INVALID, "signal pipe installed twice");
    TM_ENSURE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, TM_ERR_IO, "pipe: %s", strerror(errno));
    write_end = p[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < n; i++) sigaction(signals[i], &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    *read_fd = p[0];
    return TM_OK;
}

int helper_signal_next(int read_fd)
{
    unsigned char b;
    ssize_t r = read(read_fd, &b, 1);
    return r == 1 ? (int)b : 0;
}
