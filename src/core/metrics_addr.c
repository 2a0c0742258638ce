/* The metrics endpoint's address (metrics.h), parsed here and not in metrics_http.c so that
 * the config check and the endpoint accept exactly the same addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "tmkms/metrics.h"

tm_status tm_metrics_parse_addr(const char *addr, struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_str;
    bool v6 = false;
    TM_ENSURE(addr != NULL && addr[0] != '\0', TM_ERR_CONFIG, "metrics address: empty");
    size_t len = strlen(addr);
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        TM_ENSURE(close != NULL && close[1] == ':', TM_ERR_CONFIG,
                  "metrics address \"%s\": expected [IPv6]:PORT", addr);
        size_t n = (size_t)(close - addr - 1);
        TM_ENSURE(n > 0 && n < sizeof host, TM_ERR_CONFIG, "metrics address \"%s\": bad IPv6 address", addr);
        memcpy(host, addr + 1, n);
        host[n] = '\0';
        port_str = close + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(addr, ':');
        TM_ENSURE(colon != NULL, TM_ERR_CONFIG, "metrics address \"%s\": expected HOST:PORT", addr);
        TM_ENSURE(memchr(addr, ':', (size_t)(colon - addr)) == NULL, TM_ERR_CONFIG,
                  "metrics address \"%s\": an IPv6 address goes in brackets: [ADDR]:PORT", addr);
        size_t n = (size_t)(colon - addr);
        TM_ENSURE(n > 0 && n < sizeof host, TM_ERR_CONFIG, "metrics address \"%s\": bad host", addr);
        memcpy(host, addr, n);
        host[n] = '\0';
        port_str = colon + 1;
    }
    TM_ENSURE(port_str < addr + len && port_str[0] != '\0', TM_ERR_CONFIG, "metrics address \"%s\": no port",
              addr);
    unsigned long port = 0;
    for (const char *p = port_str; *p != '\0'; p++) {
        TM_ENSURE(*p >= '0' && *p <= '9' && p - port_str < 5, TM_ERR_CONFIG,
                  "metrics address \"%s\": bad port \"%s\"", addr, port_str);
        port = port * 10 + (unsigned long)(*p - '0');
    }
    TM_ENSURE(port <= 65535, TM_ERR_CONFIG, "metrics address \"%s\": port %lu above 65535", addr, port);

    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        TM_ENSURE(inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1, TM_ERR_CONFIG,
                  "metrics address \"%s\": \"%s\" is not an IPv6 address", addr, host);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        TM_ENSURE(inet_pton(AF_INET, host, &sin->sin_addr) == 1, TM_ERR_CONFIG,
                  "metrics address \"%s\": \"%s\" is not an IPv4 address (or [IPv6])", addr, host);
    }
    return TM_OK;
}
