/* Connect-via targets for the KMS client. See net.h. */
#include "tmkms/aws/net.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tm_status parse_u32(const char *s, uint32_t max, const char *what, uint32_t *out)
{
    char *end;
    errno = 0;
    TM_ENSURE(*s >= '0' && *s <= '9', TM_ERR_INVALID, "connect via: %s \"%s\" is not a number", what, s);
    unsigned long v = strtoul(s, &end, 10);
    TM_ENSURE(errno == 0 && *end == '\0' && v <= max, TM_ERR_INVALID, "connect via: %s \"%s\" out of range", what, s);
    *out = (uint32_t)v;
    return TM_OK;
}

static tm_status parse_tcp(const char *rest, tm_aws_via *out)
{
    const char *colon = strrchr(rest, ':');
    TM_ENSURE(colon && colon != rest, TM_ERR_INVALID, "connect via: \"tcp:%s\" is not tcp:HOST:PORT", rest);
    const char *host = rest;
    size_t hlen = (size_t)(colon - rest);
    if (host[0] == '[') {
        TM_ENSURE(hlen > 2 && host[hlen - 1] == ']', TM_ERR_INVALID, "connect via: bad IPv6 address in \"%s\"", rest);
        host++;
        hlen -= 2;
    }
    TM_ENSURE(hlen < sizeof(out->host), TM_ERR_INVALID, "connect via: host too long");
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    uint32_t port;
    TM_TRY(parse_u32(colon + 1, 65535, "port", &port));
    TM_ENSURE(port > 0, TM_ERR_INVALID, "connect via: port 0");
    out->port = (uint16_t)port;
    out->kind = TM_VIA_TCP;
    return TM_OK;
}

static tm_status parse_vsock(const char *rest, tm_aws_via *out)
{
    out->kind = TM_VIA_VSOCK;
    out->cid = TM_VSOCK_PARENT_CID;
    out->port = TM_VSOCK_PROXY_PORT;
    if (*rest == '\0') return TM_OK;
    TM_ENSURE(*rest == ':', TM_ERR_INVALID, "connect via: \"vsock%s\" is not vsock:CID:PORT", rest);
    char buf[32];
    TM_ENSURE(strlen(rest + 1) < sizeof(buf), TM_ERR_INVALID, "connect via: vsock address too long");
    snprintf(buf, sizeof(buf), "%s", rest + 1);
    char *colon = strchr(buf, ':');
    TM_ENSURE(colon, TM_ERR_INVALID, "connect via: \"vsock:%s\" is not vsock:CID:PORT", buf);
    *colon = '\0';
    uint32_t port;
    TM_TRY(parse_u32(buf, UINT32_MAX, "CID", &out->cid));
    TM_TRY(parse_u32(colon + 1, 65535, "port", &port));
    out->port = (uint16_t)port;
    return TM_OK;
}

tm_status tm_aws_via_parse(const char *spec, tm_aws_via *out)
{
    memset(out, 0, sizeof(*out));
    TM_ENSURE(spec, TM_ERR_INVALID, "connect via: empty");
    if (strncmp(spec, "tcp:", 4) == 0) return parse_tcp(spec + 4, out);
    if (strncmp(spec, "vsock", 5) == 0) return parse_vsock(spec + 5, out);
    return tm_err_set(TM_ERR_INVALID, "connect via: \"%.64s\" is neither tcp:HOST:PORT nor vsock:CID:PORT", spec);
}

tm_status tm_vsock_addr(uint32_t cid, uint32_t port, struct sockaddr_storage *out, socklen_t *len)
{
    struct sockaddr_vm vm;
    memset(&vm, 0, sizeof(vm));
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = cid;
    vm.svm_port = port;
    memset(out, 0, sizeof(*out));
    memcpy(out, &vm, sizeof(vm));
    *len = (socklen_t)sizeof(vm);
    return TM_OK;
}

static int connect_vsock(const tm_aws_via *via)
{
    struct sockaddr_storage ss;
    socklen_t len;
    tm_vsock_addr(via->cid, via->port, &ss, &len);
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int connect_tcp(const tm_aws_via *via)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)via->port);
    if (getaddrinfo(via->host, port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int tm_aws_via_connect(void *ctx)
{
    const tm_aws_via *via = ctx;
    if (!via) {
        errno = EINVAL;
        return -1;
    }
    if (via->kind == TM_VIA_VSOCK) return connect_vsock(via);
    if (via->kind == TM_VIA_TCP) return connect_tcp(via);
    errno = EINVAL;
    return -1;
}
