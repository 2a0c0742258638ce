#include "secure.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tmkms/conn.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"

struct secure_listener {
    bool noise; /* noise:// (libp2p Noise), else tcp:// (Secret Connection) */
    int lfd;
    uint8_t *seed; /* locked memory */
    char expect[TM_NOISE_PEER_ID_SIZE]; /* the KMS's node ID (tcp://) or peer ID (noise://) */
};

/* The ID a KMS or node is known by on this transport. */
static void transport_id(const secure_listener *l, const uint8_t pub[32], char id[TM_NOISE_PEER_ID_SIZE])
{
    if (l->noise) tm_noise_peer_id(pub, id);
    else tm_sc_node_id(pub, id);
}

typedef struct {
    tm_conn *secured;
    int tcp_fd;  /* below `secured`; shut down to wake its reader */
    int local;   /* our end of the socketpair */
    atomic_int refs;
} relay;

static bool split_host_port(const char *hp, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp) return false;
    const char *h = hp;
    size_t hlen = (size_t)(colon - hp);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hcap || strlen(colon + 1) >= pcap || !colon[1]) return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return true;
}

static int bind_tcp(const char *host, const char *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (end == port || *end != '\0' || p < 0 || p > 65535) {
        fprintf(stderr, "validator-sim: %s is not a port number\n", port);
        return -1;
    }
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        len = sizeof(*v6);
    } else {
        fprintf(stderr, "validator-sim: %s is not an IP address\n", host);
        return -1;
    }
    int one = 1, fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4) != 0) {
        perror("validator-sim: tcp listen");
        close(fd);
        return -1;
    }
    return fd;
}

static bool load_identity(secure_listener *l, const char *identity_key)
{
    l->seed = sodium_malloc(32);
    if (!l->seed) return false;
    if (!identity_key) {
        randombytes_buf(l->seed, 32);
        return true;
    }
    if (tm_keyfile_read_seed(identity_key, l->seed) != TM_OK) {
        fprintf(stderr, "validator-sim: --identity-key: %s\n", tm_err_msg());
        return false;
    }
    return true;
}

static bool write_id_file(const secure_listener *l, const char *id_file)
{
    uint8_t pub[32], *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!sk) return false;
    crypto_sign_seed_keypair(pub, sk, l->seed);
    sodium_free(sk);
    char id[TM_NOISE_PEER_ID_SIZE];
    transport_id(l, pub, id);
    printf("validator-sim: %s %s\n", l->noise ? "peer ID" : "node ID", id);
    if (!id_file) return true;
    FILE *f = fopen(id_file, "w");
    if (!f || fprintf(f, "%s\n", id) < 0 || fclose(f) != 0) {
        perror("validator-sim: --node-id-file");
        return false;
    }
    return true;
}

secure_listener *secure_listen(const char *url, const char *identity_key, const char *expect_id, const char *id_file)
{
    char host[64], port[16];
    bool noise = strncmp(url, "noise://", 8) == 0;
    const char *hostport = noise ? url + 8 : url + 6;
    if ((!noise && strncmp(url, "tcp://", 6) != 0) || !split_host_port(hostport, host, sizeof(host), port, sizeof(port))) {
        fprintf(stderr, "validator-sim: --listen wants tcp://HOST:PORT or noise://HOST:PORT, got %s\n", url);
        return NULL;
    }
    uint8_t pin[32];
    if (noise && expect_id && tm_noise_peer_id_decode(expect_id, pin) != TM_OK) {
        fprintf(stderr, "validator-sim: --expect-kms-id: %s\n", tm_err_msg());
        return NULL;
    }
    secure_listener *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->noise = noise;
    l->lfd = -1;
    if (expect_id) snprintf(l->expect, sizeof(l->expect), "%s", expect_id);
    if (!load_identity(l, identity_key) || (l->lfd = bind_tcp(host, port)) < 0 || !write_id_file(l, id_file)) {
        secure_close(l);
        return NULL;
    }
    return l;
}

int secure_listen_fd(const secure_listener *l)
{
    return l->lfd;
}

static void relay_release(relay *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    tm_conn_close(r->secured);
    close(r->local);
    free(r);
}

/* KMS → simulator. Ends when the KMS closes (or the other direction shut the socket). */
static void *relay_up(void *arg)
{
    relay *r = arg;
    uint8_t buf[4096];
    size_t got = 0;
    while (tm_conn_read(r->secured, buf, sizeof(buf), &got) == TM_OK)
        if (send(r->local, buf, got, MSG_NOSIGNAL) != (ssize_t)got) break;
    shutdown(r->local, SHUT_RDWR);
    relay_release(r);
    return NULL;
}

/* Simulator → KMS. Ends when the simulator drops the connection. */
static void *relay_down(void *arg)
{
    relay *r = arg;
    uint8_t buf[4096];
    ssize_t n;
    while ((n = read(r->local, buf, sizeof(buf))) > 0)
        if (tm_conn_write_all(r->secured, buf, (size_t)n) != TM_OK) break;
    shutdown(r->tcp_fd, SHUT_RDWR);
    relay_release(r);
    return NULL;
}

static int start_relay(tm_conn *secured, int tcp_fd)
{
    int sv[2];
    relay *r = calloc(1, sizeof(*r));
    if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(r);
        tm_conn_close(secured);
        return -1;
    }
    r->secured = secured;
    r->tcp_fd = tcp_fd;
    r->local = sv[1];
    atomic_init(&r->refs, 2);
    pthread_t up, down;
    pthread_create(&up, NULL, relay_up, r);
    pthread_create(&down, NULL, relay_down, r);
    pthread_detach(up);
    pthread_detach(down);
    return sv[0];
}

int secure_accept(secure_listener *l, int tcp_fd, int timeout_ms)
{
    int one = 1;
    setsockopt(tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tm_conn *raw = NULL, *secured = NULL;
    uint8_t remote[32];
    tm_status st = tm_conn_from_fd(tcp_fd, "kms", 0, &raw);
    if (st == TM_OK && l->noise) st = tm_noise_handshake(raw, l->seed, false, NULL, timeout_ms, &secured, remote);
    else if (st == TM_OK) st = tm_sc_handshake(raw, l->seed, timeout_ms, &secured, remote);
    if (st != TM_OK) {
        printf("validator-sim: handshake with the KMS failed: %s\n", tm_err_msg());
        return -1;
    }
    char id[TM_NOISE_PEER_ID_SIZE];
    transport_id(l, remote, id);
    /* Node IDs are hex (any case); peer IDs are base58, where case matters. */
    if (l->expect[0] && (l->noise ? strcmp(l->expect, id) : strcasecmp(l->expect, id)) != 0) {
        printf("validator-sim: refusing KMS %s: only %s is allowed\n", id, l->expect);
        tm_conn_close(secured);
        return -1;
    }
    printf("validator-sim: KMS %s authenticated\n", id);
    return start_relay(secured, tcp_fd);
}

void secure_close(secure_listener *l)
{
    if (!l) return;
    if (l->lfd >= 0) close(l->lfd);
    sodium_free(l->seed);
    free(l);
}
