/* bench_sign: sequential durable signatures over one transport (unix://, tcp:// Secret
 * Connection, noise:// libp2p Noise), against the physical floor measured in the same run.
 *
 * Plays the node: listens (--socket, or --listen for tcp), accepts the KMS, then sends --n
 * SignVoteRequests, each a new (height, step) so each costs the KMS one signature and one
 * durable state write. Interleaved with them, in blocks, it samples the floor: (a) an
 * ed25519 signature of a vote-sized message, (b) a round trip of request/response-sized
 * messages between two threads over the same transport (for tcp and noise: loopback TCP
 * through a pair of that transport's connections, so the floor includes the frame
 * encryption the protocol demands), (c) a pwrite of a state-sized record + fdatasync in
 * --state-dir. A durable signature cannot cost less than a + b + c. For tcp and noise it
 * also times complete handshakes between two threads over loopback.
 *
 * --floor-round-trips K counts K Unix round trips in the floor instead of one, for a
 * signer whose path has more hops than the node's socket (the Nitro enclave: node ⇄
 * helper relay ⇄ enclave, and the enclave's state round trip to the helper: K = 3).
 * --kms-start-file names a file holding the CLOCK_REALTIME nanoseconds at which the
 * signer was started; the time from then to the first signature is reported (cold start).
 *
 * --etcd-endpoint URL (the HA row: a tmkms with [ha] pointing at that etcd) adds to the
 * floor what each new signature of a cluster member costs on top of the local path: one
 * linearizable range read and one compare-and-swap transaction, sampled in the same
 * blocks through tmkms's own etcd client (tm_etcd_get, tm_etcd_cas) on a key of its own
 * (--etcd-key, default /bench/etcd-floor) with an ETCD_VALUE_BYTES value, about the size
 * of a chain's record. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/conn.h"
#include "tmkms/ha/etcd.h"
#include "tmkms/noise.h"
#include "tmkms/privval.h"
#include "tmkms/secretconn.h"
#include "tmkms/signer.h"

#define BLOCK 100
#define REQUEST_BYTES 160
#define RESPONSE_BYTES 240
#define RECORD_BYTES 700
#define HANDSHAKES 30
#define ETCD_VALUE_BYTES 500

typedef enum { T_UNIX, T_TCP, T_NOISE } transport;
static const char *const transport_names[] = {"unix", "tcp", "noise"};

typedef struct {
    double *v;
    size_t n;
} samples;

static double realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(samples *s, double q)
{
    qsort(s->v, s->n, sizeof(double), cmp_double);
    size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static void die(const char *what)
{
    fprintf(stderr, "bench_sign: %s\n", what);
    exit(1);
}

/* The decimal number on the first line of the file `path`, or -1. */
static long long read_number_file(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[32];
    long long v = -1;
    if (f && fgets(line, sizeof(line), f)) {
        char *end = NULL;
        errno = 0;
        long long got = strtoll(line, &end, 10);
        if (end != line && (*end == '\n' || *end == '\0') && errno == 0) v = got;
    }
    if (f) (void)fclose(f);
    return v;
}

/* A decimal number in min..max, or the end of the benchmark. */
static long long parse_num(const char *s, long long min, long long max, const char *what)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < min || v > max) die(what);
    return v;
}

/* ---- the KMS side ---- */

typedef struct {
    tm_conn *conn;
    tm_frame_reader fr;
    const char *chain_id;
    uint8_t pubkey[32];
    uint8_t hash[32];
} kms_link;

static void request_pubkey(kms_link *k)
{
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PubKeyRequest r = TENDERMINT__PRIVVAL__PUB_KEY_REQUEST__INIT;
    r.chain_id = (char *)k->chain_id;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_REQUEST;
    m.pub_key_request = &r;
    tm_pv_msg *resp = NULL;
    if (tm_privval_write(k->conn, &m) != TM_OK || tm_privval_read(k->conn, &k->fr, &resp) != TM_OK)
        die(tm_err_msg());
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE || resp->pub_key_response->error ||
        !resp->pub_key_response->pub_key || resp->pub_key_response->pub_key->ed25519.len != 32)
        die("bad pubkey response");
    memcpy(k->pubkey, resp->pub_key_response->pub_key->ed25519.data, 32);
    tm_pv_msg_free(resp);
}

/* One new vote: height h, prevote or precommit; returns the round trip in us. */
static double sign_vote(kms_link *k, int64_t h, int precommit, int verify)
{
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__SignVoteRequest r = TENDERMINT__PRIVVAL__SIGN_VOTE_REQUEST__INIT;
    Tendermint__Types__Vote v = TENDERMINT__TYPES__VOTE__INIT;
    Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t addr[20] = {0};
    memcpy(k->hash, &h, sizeof(h));
    v.type = precommit ? 2 : 1;
    v.height = h;
    bid.hash = (ProtobufCBinaryData){32, k->hash};
    psh.total = 1;
    psh.hash = (ProtobufCBinaryData){32, k->hash};
    bid.part_set_header = &psh;
    v.block_id = &bid;
    ts.seconds = 1700000000 + h;
    v.timestamp = &ts;
    v.validator_address = (ProtobufCBinaryData){20, addr};
    r.vote = &v;
    r.chain_id = (char *)k->chain_id;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST;
    m.sign_vote_request = &r;
    tm_pv_msg *resp = NULL;
    double t0 = now_us();
    if (tm_privval_write(k->conn, &m) != TM_OK || tm_privval_read(k->conn, &k->fr, &resp) != TM_OK)
        die(tm_err_msg());
    double dt = now_us() - t0;
    const Tendermint__Privval__SignedVoteResponse *sv = resp->signed_vote_response;
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE || sv->error || !sv->vote ||
        sv->vote->signature.len != 64) {
        fprintf(stderr, "bench_sign: vote %lld refused: %s\n", (long long)h,
                sv && sv->error ? sv->error->description : "malformed response");
        exit(1);
    }
    if (verify) {
        uint8_t sb[TM_MAX_SIGN_BYTES];
        size_t len = 0;
        if (tm_vote_sign_bytes(k->chain_id, &v, sb, sizeof(sb), &len) != TM_OK ||
            crypto_sign_verify_detached(sv->vote->signature.data, sb, len, k->pubkey) != 0)
            die("a signature does not verify");
    }
    tm_pv_msg_free(resp);
    return dt;
}

/* ---- the floor ---- */

typedef struct {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    tm_conn *ping, *echo; /* two ends of the transport: ours and the echo thread's */
    int state_fd;
    char probe_path[4096];
    tm_etcd *etcd; /* NULL: no HA row */
    const char *etcd_key;
    int64_t etcd_rev; /* the key's mod_revision, for the next compare-and-swap */
} floor_ctx;

static void *echo_thread(void *arg)
{
    tm_conn *echo = arg;
    uint8_t buf[RESPONSE_BYTES] = {0};
    while (tm_conn_read_exact(echo, buf, REQUEST_BYTES) == TM_OK && tm_conn_write_all(echo, buf, RESPONSE_BYTES) == TM_OK) {
    }
    return NULL;
}

static double floor_sign(floor_ctx *f)
{
    uint8_t msg[REQUEST_BYTES], sig[64];
    randombytes_buf(msg, sizeof(msg));
    double t0 = now_us();
    crypto_sign_detached(sig, NULL, msg, 120, f->sk);
    return now_us() - t0;
}

static double floor_ping(floor_ctx *f)
{
    uint8_t req[REQUEST_BYTES] = {1}, resp[RESPONSE_BYTES];
    double t0 = now_us();
    if (tm_conn_write_all(f->ping, req, sizeof(req)) != TM_OK || tm_conn_read_exact(f->ping, resp, sizeof(resp)) != TM_OK)
        die(tm_err_msg());
    return now_us() - t0;
}

static double floor_sync(floor_ctx *f, unsigned i)
{
    uint8_t rec[RECORD_BYTES];
    memset(rec, (int)i, sizeof(rec));
    double t0 = now_us();
    if (pwrite(f->state_fd, rec, sizeof(rec), (off_t)(i % 2) * 4096) != (ssize_t)sizeof(rec)) die("pwrite");
    if (fdatasync(f->state_fd) != 0) die("fdatasync");
    return now_us() - t0;
}

static tm_etcd_kv etcd_kv; /* 16 KiB: not on the stack */

/* One linearizable read of the floor key, as sign_in_cluster's read of the record. */
static double floor_etcd_range(floor_ctx *f)
{
    double t0 = now_us();
    if (tm_etcd_get(f->etcd, f->etcd_key, &etcd_kv) != TM_OK) die(tm_err_msg());
    double dt = now_us() - t0;
    f->etcd_rev = etcd_kv.mod_revision;
    return dt;
}

/* One compare-and-swap of the floor key (won: nobody else writes it), as the record's. */
static double floor_etcd_txn(floor_ctx *f, unsigned i)
{
    uint8_t value[ETCD_VALUE_BYTES];
    memset(value, 'a' + (int)(i % 26), sizeof(value));
    bool swapped = false;
    double t0 = now_us();
    if (tm_etcd_cas(f->etcd, f->etcd_key, f->etcd_rev, value, sizeof(value), &swapped, &etcd_kv) != TM_OK)
        die(tm_err_msg());
    double dt = now_us() - t0;
    if (!swapped) die("the etcd floor key was written by someone else");
    f->etcd_rev = etcd_kv.mod_revision;
    return dt;
}

/* ---- transports: a connected pair of each, for the floor and the handshake timing ---- */

static int tcp_listener(const char *host, const char *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)parse_num(port, 0, 65535, "bad port"))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("--listen wants IPv4 HOST:PORT");
    int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 4) != 0) die("tcp listen");
    return ls;
}

static tm_conn *tcp_accept(int ls, int timeout_ms)
{
    int one = 1, fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) die("accept");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tm_conn *c = NULL;
    if (tm_conn_from_fd(fd, "tcp-peer", timeout_ms, &c) != TM_OK) die(tm_err_msg());
    return c;
}

/* A loopback TCP pair: *a dialled, *b accepted. */
static void tcp_pair(tm_conn **a, tm_conn **b)
{
    int ls = tcp_listener("127.0.0.1", "0");
    struct sockaddr_in addr = {0}; /* the analyzer does not see getsockname fill it */
    socklen_t len = sizeof(addr);
    char port[16];
    if (getsockname(ls, (struct sockaddr *)&addr, &len) != 0) die("getsockname");
    snprintf(port, sizeof(port), "%u", ntohs(addr.sin_port));
    if (tm_conn_dial_tcp("127.0.0.1", port, 30000, a) != TM_OK) die(tm_err_msg());
    *b = tcp_accept(ls, 30000);
    close(ls);
}

typedef struct {
    transport t;
    bool initiator;
    tm_conn *raw, *secured;
    uint8_t seed[32];
    tm_status status;
} handshake_side;

/* The node's (or the KMS's) side of a network transport's handshake. */
static tm_status secure(transport t, tm_conn *raw, const uint8_t seed[32], bool initiator, tm_conn **out)
{
    uint8_t remote[32];
    if (t == T_NOISE) return tm_noise_handshake(raw, seed, initiator, NULL, 30000, out, remote);
    return tm_sc_handshake(raw, seed, 30000, out, remote);
}

static void *handshake_thread(void *arg)
{
    handshake_side *h = arg;
    h->status = secure(h->t, h->raw, h->seed, h->initiator, &h->secured);
    return NULL;
}

/* Run the handshake on both ends of a fresh loopback pair at once; returns its time. */
static double secure_pair(transport t, tm_conn **a, tm_conn **b)
{
    handshake_side sa = {.t = t, .initiator = true}, sb = {.t = t};
    randombytes_buf(sa.seed, sizeof(sa.seed));
    randombytes_buf(sb.seed, sizeof(sb.seed));
    tcp_pair(&sa.raw, &sb.raw);
    pthread_t tid;
    double t0 = now_us();
    pthread_create(&tid, NULL, handshake_thread, &sb);
    handshake_thread(&sa);
    pthread_join(tid, NULL);
    double dt = now_us() - t0;
    if (sa.status != TM_OK || sb.status != TM_OK) die("loopback handshake failed");
    *a = sa.secured;
    *b = sb.secured;
    return dt;
}

static void transport_pair(transport t, tm_conn **a, tm_conn **b)
{
    if (t != T_UNIX) {
        secure_pair(t, a, b);
        return;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    /* No timeout, as tmkms's own unix:// connections: no poll() before each read. */
    if (tm_conn_from_fd(sv[0], "ping", 0, a) != TM_OK || tm_conn_from_fd(sv[1], "echo", 0, b) != TM_OK)
        die(tm_err_msg());
}

static double handshake_p50(transport t)
{
    samples s = {calloc(HANDSHAKES, sizeof(double)), 0};
    for (int i = 0; i < HANDSHAKES; i++) {
        tm_conn *a, *b;
        s.v[s.n++] = secure_pair(t, &a, &b);
        tm_conn_close(a);
        tm_conn_close(b);
    }
    double p50 = quantile(&s, 0.5);
    free(s.v);
    return p50;
}

static void floor_open(floor_ctx *f, transport t, const char *state_dir)
{
    uint8_t pk[32];
    crypto_sign_keypair(pk, f->sk);
    transport_pair(t, &f->ping, &f->echo);
    pthread_t tid;
    pthread_create(&tid, NULL, echo_thread, f->echo);
    pthread_detach(tid);
    char path[4096];
    snprintf(path, sizeof(path), "%s/floor.probe", state_dir);
    f->state_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f->state_fd < 0) die("cannot create the floor probe file in the state directory");
    uint8_t zero[8192] = {0};
    if (write(f->state_fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero) || fsync(f->state_fd) != 0) die("probe file");
    /* The probe stays linked while it is measured, like the KMS's state file (a deleted
     * file could be cheaper to sync); main removes it at the end. */
    snprintf(f->probe_path, sizeof(f->probe_path), "%s", path);
}

static long peak_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            char *end = NULL;
            long v = strtol(line + 6, &end, 10);
            if (end != line + 6 && v >= 0) kib = v;
            break;
        }
    if (f) (void)fclose(f);
    return kib;
}

static tm_conn *accept_kms_net(transport t, const char *listen_addr, const char *identity_key)
{
    char host[64];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host)) die("--listen wants HOST:PORT");
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = '\0';
    int ls = tcp_listener(host, colon + 1);
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    if (!seed || tm_keyfile_read_seed(identity_key, seed) != TM_OK) die(tm_err_msg());
    tm_conn *raw = tcp_accept(ls, 30000), *c = NULL;
    close(ls);
    if (secure(t, raw, seed, false, &c) != TM_OK) die(tm_err_msg());
    sodium_free(seed);
    return c;
}

static tm_conn *accept_kms(const char *socket_path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(addr.sun_path)) die("socket path too long");
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(socket_path);
    if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(ls, 1) != 0) die("listen");
    int fd = accept(ls, NULL, NULL);
    close(ls);
    if (fd < 0) die("accept");
    tm_conn *c = NULL;
    if (tm_conn_from_fd(fd, "kms", 30000, &c) != TM_OK) die(tm_err_msg());
    return c;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *state_dir = NULL, *chain_id = "bench-chain";
    long n = 5000;
    const char *kms_pid_file = NULL, *label = "tmkms", *listen_addr = NULL, *identity_key = NULL;
    const char *kms_start_file = NULL, *etcd_endpoint = NULL, *etcd_key = "/bench/etcd-floor";
    long round_trips = 1;
    transport t = T_UNIX;
    static const struct option opts[] = {{"label", required_argument, NULL, 'l'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"chain-id", required_argument, NULL, 'c'},
                                         {"n", required_argument, NULL, 'n'},
                                         {"kms-pid-file", required_argument, NULL, 'p'},
                                         {"transport", required_argument, NULL, 't'},
                                         {"listen", required_argument, NULL, 'L'},
                                         {"identity-key", required_argument, NULL, 'k'},
                                         {"floor-round-trips", required_argument, NULL, 'r'},
                                         {"kms-start-file", required_argument, NULL, 'S'},
                                         {"etcd-endpoint", required_argument, NULL, 'e'},
                                         {"etcd-key", required_argument, NULL, 'K'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 's') socket_path = optarg;
        else if (o == 'd') state_dir = optarg;
        else if (o == 'c') chain_id = optarg;
        else if (o == 'n') n = (long)parse_num(optarg, 1, 1000000000, "bad --n");
        else if (o == 'p') kms_pid_file = optarg;
        else if (o == 'l') label = optarg;
        else if (o == 'L') listen_addr = optarg;
        else if (o == 'k') identity_key = optarg;
        else if (o == 'r') round_trips = (long)parse_num(optarg, 1, 1000000000, "bad --floor-round-trips");
        else if (o == 'S') kms_start_file = optarg;
        else if (o == 'e') etcd_endpoint = optarg;
        else if (o == 'K') etcd_key = optarg;
        else if (o == 't' && strcmp(optarg, "unix") == 0) t = T_UNIX;
        else if (o == 't' && strcmp(optarg, "tcp") == 0) t = T_TCP;
        else if (o == 't' && strcmp(optarg, "noise") == 0) t = T_NOISE;
        else return 2;
    }
    bool endpoint_ok = t == T_UNIX ? socket_path != NULL : listen_addr && identity_key;
    if (!endpoint_ok || !state_dir || n < BLOCK || round_trips < 1 || round_trips > 10 || sodium_init() < 0) {
        fprintf(stderr, "usage: bench_sign --state-dir DIR [--transport unix] --socket PATH\n"
                        "       bench_sign --state-dir DIR --transport tcp|noise --listen HOST:PORT --identity-key FILE\n"
                        "       [--chain-id ID] [--n N] [--kms-pid-file F] [--kms-start-file F] [--label NAME]\n"
                        "       [--floor-round-trips K] [--etcd-endpoint URL [--etcd-key KEY]]\n");
        return 2;
    }
    n -= n % BLOCK;
    kms_link k = {.chain_id = chain_id};
    tm_frame_reader_init(&k.fr, TM_PRIVVAL_MAX_FRAME);
    k.conn = t == T_UNIX ? accept_kms(socket_path) : accept_kms_net(t, listen_addr, identity_key);
    request_pubkey(&k);
    floor_ctx f = {0};
    floor_open(&f, t, state_dir);
    if (etcd_endpoint) {
        tm_etcd_options eo = {.endpoints = {etcd_endpoint}, .n_endpoints = 1, .timeout_ms = 5000};
        if (tm_etcd_open(&eo, &f.etcd) != TM_OK) die(tm_err_msg());
        f.etcd_key = etcd_key;
        floor_etcd_range(&f); /* the key's revision (0: absent); warms the connection */
    }

    samples kms = {calloc((size_t)n, sizeof(double)), 0};
    samples fs = {calloc((size_t)n, sizeof(double)), 0}, fp = {calloc((size_t)n, sizeof(double)), 0},
            fd = {calloc((size_t)n, sizeof(double)), 0};
    samples er = {calloc((size_t)n, sizeof(double)), 0}, et = {calloc((size_t)n, sizeof(double)), 0};
    int64_t height = 1;
    sign_vote(&k, height++, 0, 1);
    double first_sig = realtime_us(); /* cold start: the signer's first signature */
    for (int i = 1; i < 2 * BLOCK; i++) sign_vote(&k, height++, i & 1, 1); /* warm-up */
    double start = now_us();
    double kms_time = 0;
    /* Blocks of KMS round trips and floor samples alternate, so noise hits both alike. */
    for (long b = 0; b < n / BLOCK; b++) {
        for (int i = 0; i < BLOCK; i++) {
            double dt = sign_vote(&k, height, i & 1, i % 10 == 0);
            if (i & 1) height++;
            kms.v[kms.n++] = dt;
            kms_time += dt;
        }
        for (int i = 0; i < BLOCK; i++) {
            fs.v[fs.n++] = floor_sign(&f);
            fp.v[fp.n++] = floor_ping(&f);
            fd.v[fd.n++] = floor_sync(&f, (unsigned)i);
            if (f.etcd) {
                er.v[er.n++] = floor_etcd_range(&f);
                et.v[et.n++] = floor_etcd_txn(&f, (unsigned)i);
            }
        }
    }
    double wall = now_us() - start;
    (void)wall;
    double a = quantile(&fs, 0.5), b = quantile(&fp, 0.5), c = quantile(&fd, 0.5);
    double local_floor_us = a + (double)round_trips * b + c;
    double etcd_range = f.etcd ? quantile(&er, 0.5) : 0, etcd_txn = f.etcd ? quantile(&et, 0.5) : 0;
    double floor_us = local_floor_us + etcd_range + etcd_txn;
    double p50 = quantile(&kms, 0.5), p99 = quantile(&kms, 0.99), max = quantile(&kms, 1.0);
    const char *tname = transport_names[t];
    printf("sequential durable signatures over %s://, %ld requests (floor sampled between blocks of %d)\n", tname, n,
           BLOCK);
    printf("  floor  ed25519 sign          p50 %8.1f us\n", a);
    static const char *const floor_notes[] = {"", "   (loopback TCP through a Secret Connection pair)",
                                              "   (loopback TCP through a Noise pair)"};
    printf("  floor  %-5s round trip       p50 %8.1f us%s\n", tname, b, floor_notes[t]);
    if (round_trips > 1)
        printf("  floor  %ld %s round trips              %8.1f us   (the signer's path has %ld hops)\n", round_trips,
               tname, (double)round_trips * b, round_trips);
    printf("  floor  pwrite + fdatasync    p50 %8.1f us\n", c);
    if (f.etcd) {
        printf("  floor  local (sign + round trip + sync) %8.1f us\n", local_floor_us);
        printf("  floor  etcd range p50            %8.1f us   (linearizable read, JSON gateway over loopback)\n",
               etcd_range);
        printf("  floor  etcd txn p50              %8.1f us   (compare-and-swap of a %d-byte value)\n", etcd_txn,
               ETCD_VALUE_BYTES);
    }
    printf("  floor  total                     %8.1f us\n", floor_us);
    printf("  %-6s sign round trip       p50 %8.1f us   p99 %8.1f us   max %8.1f us\n", label, p50, p99, max);
    printf("  %-6s throughput                %8.0f signatures/s\n", label, (double)n / (kms_time / 1e6));
    long long pid = read_number_file(kms_pid_file);
    int kms_pid = pid > 0 && pid <= INT_MAX ? (int)pid : 0;
    long rss = kms_pid > 0 ? peak_rss_kib(kms_pid) : -1;
    /* The printed targets are the plain signer's (one round trip, no cluster): not for a longer path. */
    if (rss >= 0)
        printf("  %-6s peak RSS (VmHWM)          %8.2f MiB%s\n", label, (double)rss / 1024.0,
               round_trips == 1 && !f.etcd ? "   (target < 8 MiB)" : "");
    double cold_ms = -1;
    long long start_ns = read_number_file(kms_start_file);
    if (start_ns > 0) cold_ms = (first_sig - (double)start_ns / 1e3) / 1e3;
    if (cold_ms >= 0) printf("  %-6s cold start (signer started -> first signature) %8.1f ms\n", label, cold_ms);
    double hs = t != T_UNIX ? handshake_p50(t) : 0;
    if (t != T_UNIX) printf("  handshake (loopback, both ends) p50 %8.1f us   (%d handshakes)\n", hs, HANDSHAKES);
    printf("ratio p50/floor = %.2f%s\n", p50 / floor_us, round_trips == 1 && !f.etcd ? " (target <= 1.30)" : "");
    unlink(f.probe_path);
    /* One line for scripts (bench/anchors.sh) to read. */
    printf("result label=%s transport=%s n=%ld p50_us=%.1f p99_us=%.1f sig_per_s=%.0f rss_mib=%.2f floor_us=%.1f "
           "handshake_us=%.1f round_trips=%ld rt_us=%.1f cold_start_ms=%.1f local_floor_us=%.1f etcd_range_us=%.1f "
           "etcd_txn_us=%.1f\n",
           label, tname, n, p50, p99, (double)n / (kms_time / 1e6), rss >= 0 ? (double)rss / 1024.0 : -1.0, floor_us,
           hs, round_trips, b, cold_ms, local_floor_us, etcd_range, etcd_txn);
    if (f.etcd) tm_etcd_close(f.etcd);
    tm_conn_close(k.conn);
    tm_frame_reader_free(&k.fr);
    return 0;
}
