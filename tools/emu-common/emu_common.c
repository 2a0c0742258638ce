/* See emu_common.h. */
#include "emu_common.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static tm_status split_host_port(const char *s, char *host, size_t cap, char *port, size_t pcap)
{
    const char *colon = strrchr(s, ':');
    TM_ENSURE(colon && colon != s && colon[1], TM_ERR_INVALID, "--listen \"%s\" is not HOST:PORT", s);
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[') {
        TM_ENSURE(hlen > 2 && h[hlen - 1] == ']', TM_ERR_INVALID, "--listen \"%s\": bad [IPv6] host", s);
        h++;
        hlen -= 2;
    }
    TM_ENSURE(hlen < cap && strlen(colon + 1) < pcap, TM_ERR_INVALID, "--listen \"%s\" too long", s);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return TM_OK;
}

static tm_status show(const struct sockaddr_storage *ss, char *shown, size_t cap)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    TM_ENSURE(getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), port, sizeof(port),
                          NI_NUMERICHOST | NI_NUMERICSERV) == 0,
              TM_ERR_IO, "getnameinfo failed");
    int n = ss->ss_family == AF_INET6 ? snprintf(shown, cap, "[%s]:%s", host, port) : snprintf(shown, cap, "%s:%s", host, port);
    TM_ENSURE(n > 0 && (size_t)n < cap, TM_ERR_TOO_LARGE, "listen address too long");
    return TM_OK;
}

tm_status emu_listen(const char *host_port, int *fd, char *shown, size_t cap)
{
    char host[256], port[16];
    TM_TRY(split_host_port(host_port, host, sizeof(host), port, sizeof(port)));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    TM_ENSURE(rc == 0, TM_ERR_INVALID, "--listen %s: %s", host_port, gai_strerror(rc));
    int s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s >= 0) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s < 0 || bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 64) != 0) {
        if (s >= 0) close(s);
        freeaddrinfo(res);
        return tm_err_set(TM_ERR_IO, "--listen %s: cannot bind or listen", host_port);
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss = {0}; /* the analyzer does not see getsockname fill it */
    socklen_t len = sizeof(ss);
    tm_status st = TM_ERR_IO;
    if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
        tm_err_set(TM_ERR_IO, "--listen %s: getsockname: %s", host_port, strerror(errno));
    else
        st = show(&ss, shown, cap);
    if (st != TM_OK) {
        close(s);
        return st;
    }
    *fd = s;
    return TM_OK;
}

void emu_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
}

void emu_wait_for_signal(void)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &sig);
}
