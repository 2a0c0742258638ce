/* kms-emulator: a local AWS KMS over HTTPS (libmicrohttpd + GnuTLS). See usage. */
#include <errno.h>
#include <microhttpd.h>
#include <sodium.h>

#include "tmkms/signer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_common.h"
#include "tmkms/aws/attestation.h"
#include "tmkms/clock.h"
#include "tmkms/metrics.h"

static const char usage[] =
    "usage: kms-emulator --listen HOST:PORT --data DIR [--region R] [--account ID]\n"
    "                    [--user AKID:SECRET:ROLE_ARN]... [--token AKID:TOKEN]...\n"
    "                    [--attestation-root PEM]\n"
    "  A local AWS KMS speaking the real wire protocol: HTTPS, JSON 1.1 (X-Amz-Target:\n"
    "  TrentService.<Op>), SigV4 verified for every request. Operations: CreateKey,\n"
    "  DescribeKey, GetKeyPolicy, PutKeyPolicy, Encrypt, Decrypt (with or without Recipient),\n"
    "  GenerateRandom. Keys persist in DIR/keys/ (0600 files). Key policies are evaluated:\n"
    "  Effect, Principal (the caller's role ARN, or the account root), Action, and\n"
    "  StringEquals / StringEqualsIgnoreCase conditions on kms:RecipientAttestation:ImageSha384\n"
    "  and kms:RecipientAttestation:PCR0..PCR8.\n"
    "  --listen HOST:PORT   port 0 picks a free port\n"
    "  --data DIR           keys; DIR/ca.pem receives the test CA of this run's certificate,\n"
    "                       which names kms.REGION.amazonaws.com, localhost and 127.0.0.1\n"
    "  --region R           default us-east-1\n"
    "  --account ID         default 111122223333\n"
    "  --user AKID:SECRET:ROLE_ARN   a caller; split at the first two colons (ARNs have colons)\n"
    "  --token AKID:TOKEN   that caller must send this X-Amz-Security-Token\n"
    "  --attestation-root PEM   root certificate for Recipient attestation documents\n"
    "                       (default: the AWS Nitro Enclaves root G1)\n"
    "  --metrics HOST:PORT  Prometheus /metrics (plain HTTP): kms_emulator_requests_total\n"
    "                       by operation and HTTP status, kms_emulator_request_seconds\n"
    "  Writes DIR/ca.pem, then prints \"LISTENING https://HOST:PORT\" (flushed) once it accepts\n"
    "  requests; SIGINT/SIGTERM stop it.\n"
    "  AWS errors: InvalidSignatureException (bad signature), UnrecognizedClientException\n"
    "  (unknown key id or wrong session token), AccessDeniedException (policy), ...\n";

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int too_large;
} upload;

typedef struct {
    tm_http_header h[TM_SIGV4_MAX_HEADERS + 8];
    size_t n;
} header_list;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    header_list *l = cls;
    if (l->n < sizeof(l->h) / sizeof(l->h[0])) l->h[l->n++] = (tm_http_header){key, value ? value : ""};
    return MHD_YES;
}

static enum MHD_Result send_answer(struct MHD_Connection *c, emu_response *r)
{
    char id[37];
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(id, 33, raw, sizeof(raw));
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/x-amz-json-1.1");
    MHD_add_response_header(resp, "x-amzn-RequestId", id);
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int append(upload *u, const char *data, size_t n)
{
    if (n > EMU_MAX_BODY + 1 - u->len) {
        u->too_large = 1;
        return 0;
    }
    if (u->len + n > u->cap) {
        size_t cap = u->cap ? u->cap : 4096;
        while (cap < u->len + n)
            cap *= 2;
        uint8_t *p = realloc(u->data, cap);
        if (!p) return -1;
        u->data = p;
        u->cap = cap;
    }
    memcpy(u->data + u->len, data, n);
    u->len += n;
    return 0;
}

/* The operations the emulator knows, as metric labels; anything else is "unknown", so a
 * client cannot create series at will. */
static const char *operation_label(const header_list *l)
{
    static const char *const known[] = {"CreateKey", "DescribeKey", "GetKeyPolicy",  "PutKeyPolicy",
                                        "Encrypt",   "Decrypt",     "GenerateRandom"};
    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(l->h[i].name, "X-Amz-Target") != 0) continue;
        const char *op = strncmp(l->h[i].value, "TrentService.", 13) == 0 ? l->h[i].value + 13 : "";
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(op, known[k]) == 0) return known[k];
    }
    return "unknown";
}

static void count_request(const header_list *l, unsigned status, uint64_t ns)
{
    tm_metrics *m = tm_metrics_global();
    if (!m) return;
    char code[8];
    snprintf(code, sizeof(code), "%u", status);
    const char *op = operation_label(l);
    tm_labels rl = {{"operation", "status"}, {op, code}};
    tm_counter_add(tm_metrics_counter(m, "kms_emulator_requests_total",
                                      "KMS requests answered, by operation and HTTP status.", &rl),
                   1);
    tm_labels hl = {{"operation"}, {op}};
    tm_histogram_observe_ns(tm_metrics_histogram(m, "kms_emulator_request_seconds",
                                                 "Time to answer a KMS request, by operation.", &hl,
                                                 tm_metrics_latency_bounds, tm_metrics_latency_bounds_n),
                            ns);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)version;
    upload *u = *state;
    if (!u) {
        u = calloc(1, sizeof(*u));
        *state = u;
        return u ? MHD_YES : MHD_NO;
    }
    if (*size) {
        if (append(u, data, *size) < 0) return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    header_list l = {.n = 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &l);
    emu_request req = {method,
                       url,
                       l.h,
                       l.n,
                       u->data ? u->data : (const uint8_t *)"",
                       u->too_large ? EMU_MAX_BODY + 1 : u->len};
    emu_response r;
    uint64_t t0 = tm_monotonic_ns();
    kms_emu_handle(cls, &req, &r);
    count_request(&l, r.status, tm_monotonic_ns() - t0);
    enum MHD_Result ret = send_answer(c, &r);
    emu_response_free(&r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    upload *u = *state;
    if (u) {
        free(u->data);
        free(u);
    }
    *state = NULL;
}

/* --user AKID:SECRET:ROLE_ARN, split at the first two colons. */
static int add_user(kms_emu *emu, const char *v)
{
    const char *a = strchr(v, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!b || emu->n_users >= EMU_MAX_USERS) return -1;
    emu_user *u = &emu->users[emu->n_users];
    size_t la = (size_t)(a - v), ls = (size_t)(b - a - 1);
    if (!la || la >= sizeof(u->akid) || !ls || ls >= sizeof(u->secret) || !b[1] ||
        strlen(b + 1) >= sizeof(u->role_arn))
        return -1;
    memcpy(u->akid, v, la);
    memcpy(u->secret, a + 1, ls);
    snprintf(u->role_arn, sizeof(u->role_arn), "%s", b + 1);
    emu->n_users++;
    return 0;
}

/* --token AKID:TOKEN for a user given before or after. */
static int add_token(const char *v, const char **pending, size_t *n_pending)
{
    if (!strchr(v, ':') || *n_pending >= EMU_MAX_USERS) return -1;
    pending[(*n_pending)++] = v;
    return 0;
}

static int apply_tokens(kms_emu *emu, const char **pending, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(pending[i], ':');
        size_t la = (size_t)(colon - pending[i]);
        size_t k = 0;
        while (k < emu->n_users &&
               !(strlen(emu->users[k].akid) == la && !strncmp(emu->users[k].akid, pending[i], la)))
            k++;
        if (k == emu->n_users || !colon[1] || strlen(colon + 1) >= sizeof(emu->users[k].token)) return -1;
        snprintf(emu->users[k].token, sizeof(emu->users[k].token), "%s", colon + 1);
    }
    return 0;
}

static int load_root(kms_emu *emu, const char *path)
{
    FILE *f = fopen(path, "rb");
    static char pem[65536];
    if (!f) return -1;
    size_t n = fread(pem, 1, sizeof(pem) - 1, f);
    (void)fclose(f);
    pem[n] = '\0';
    return tm_att_pem_cert_to_der(pem, n, &emu->attestation_root, &emu->attestation_root_len) == TM_OK ? 0
                                                                                                       : -1;
}

static const char *metrics_on;

static int parse_args(kms_emu *emu, int argc, char **argv, const char **listen_on)
{
    const char *tokens[EMU_MAX_USERS], *root = NULL;
    size_t n_tokens = 0;
    snprintf(emu->region, sizeof(emu->region), "us-east-1");
    snprintf(emu->account, sizeof(emu->account), "111122223333");
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        int bad = !v;
        if (bad) return -1;
        if (strcmp(a, "--listen") == 0)
            *listen_on = v;
        else if (strcmp(a, "--data") == 0)
            bad = strlen(v) >= sizeof(emu->data_dir) - 64 ||
                  !snprintf(emu->data_dir, sizeof(emu->data_dir), "%s", v);
        else if (strcmp(a, "--region") == 0)
            bad = strlen(v) >= sizeof(emu->region) || !snprintf(emu->region, sizeof(emu->region), "%s", v);
        else if (strcmp(a, "--account") == 0)
            bad = strlen(v) != 12 || strspn(v, "0123456789") != 12 ||
                  !snprintf(emu->account, sizeof(emu->account), "%s", v);
        else if (strcmp(a, "--user") == 0)
            bad = add_user(emu, v) != 0;
        else if (strcmp(a, "--token") == 0)
            bad = add_token(v, tokens, &n_tokens) != 0;
        else if (strcmp(a, "--attestation-root") == 0)
            root = v;
        else if (strcmp(a, "--metrics") == 0)
            metrics_on = v;
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "kms-emulator: bad %s %s\n", a, v);
            return -1;
        }
    }
    if (apply_tokens(emu, tokens, n_tokens) != 0) {
        fprintf(stderr, "kms-emulator: --token AKID:TOKEN names no --user\n");
        return -1;
    }
    if (root && load_root(emu, root) != 0) {
        fprintf(stderr, "kms-emulator: --attestation-root %s: not a PEM certificate\n", root);
        return -1;
    }
    return *listen_on && emu->data_dir[0] ? 0 : -1;
}

static struct MHD_Daemon *start(kms_emu *emu, int fd, const char *cert, const char *key)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            handle, emu, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_HTTPS_MEM_CERT, cert,
                            MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
}

int main(int argc, char **argv)
{
    static kms_emu emu;
    const char *listen_on = NULL;
    char shown[300], *cert = NULL, *key = NULL;
    int fd = -1;
    /* libsodium, and jansson frees that wipe (keys and credentials pass through JSON). */
    if (tm_crypto_init() != TM_OK || parse_args(&emu, argc, argv, &listen_on) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (emu_store_init(&emu) != TM_OK || emu_tls_generate(emu.data_dir, emu.region, &cert, &key) != TM_OK ||
        emu_listen(listen_on, &fd, shown, sizeof(shown)) != TM_OK) {
        fprintf(stderr, "kms-emulator: %s\n", tm_err_msg());
        return 1;
    }
    emu_block_signals();
    tm_metrics *metrics = NULL;
    tm_metrics_server *metrics_server = NULL;
    if (metrics_on && (tm_metrics_open_process("kms-emulator", 0, &metrics) != TM_OK ||
                       tm_metrics_server_start(metrics, metrics_on, &metrics_server) != TM_OK)) {
        fprintf(stderr, "kms-emulator: --metrics %s: %s\n", metrics_on, tm_err_msg());
        return 1;
    }
    struct MHD_Daemon *d = start(&emu, fd, cert, key);
    if (!d) {
        fprintf(stderr, "kms-emulator: cannot start the HTTPS server (libmicrohttpd without TLS?)\n");
        return 1;
    }
    printf("LISTENING https://%s\n", shown);
    fflush(stdout);
    emu_wait_for_signal();
    MHD_stop_daemon(d);
    tm_metrics_server_stop(metrics_server);
    tm_metrics_close_process(metrics);
    sodium_memzero(key, strlen(key));
    free(key);
    free(cert);
    free(emu.attestation_root);
    sodium_memzero(&emu, sizeof(emu));
    return 0;
}
