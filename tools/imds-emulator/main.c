/* imds-emulator: IMDSv2 on HOST:PORT. A PUT /latest/api/token with
 * X-aws-ec2-metadata-token-ttl-seconds (1..21600) returns a session token; every GET needs
 * X-aws-ec2-metadata-token with a live token (401 otherwise). Serves
 * /latest/meta-data/instance-id, /latest/meta-data/iam/security-credentials/ (the role)
 * and .../ROLE (the credentials JSON). */
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "tmkms/signer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu_common.h"
#include "tmkms/metrics.h"

#define MAX_TOKENS 256
#define TOKEN_LEN 56

static const char usage[] =
    "usage: imds-emulator --listen HOST:PORT --instance-id ID --role NAME --user AKID:SECRET[:TOKEN]\n"
    "                     [--metrics HOST:PORT]  (Prometheus /metrics: answers by HTTP status)\n"
    "  Emulates the EC2 instance metadata service, IMDSv2 only, over HTTP. Prints\n"
    "  \"LISTENING http://HOST:PORT\" (the real port when PORT is 0) once it accepts requests;\n"
    "  SIGINT/SIGTERM stop it.\n"
    "  PUT /latest/api/token                              X-aws-ec2-metadata-token-ttl-seconds: 1..21600\n"
    "  GET /latest/meta-data/instance-id                  (needs X-aws-ec2-metadata-token)\n"
    "  GET /latest/meta-data/iam/security-credentials/    the role name\n"
    "  GET /latest/meta-data/iam/security-credentials/NAME  {Code, LastUpdated, Type, AccessKeyId,\n"
    "                                                      SecretAccessKey, Token, Expiration}\n";

typedef struct {
    char value[TOKEN_LEN + 1];
    time_t expires;
} token;

typedef struct {
    const char *instance_id, *role;
    char akid[129], secret[129], session[4097];
    token tokens[MAX_TOKENS];
    size_t next_token;
} imds;

/* Every answer, by HTTP status (a no-op without --metrics). */
static void count_response(unsigned code)
{
    char status[8];
    snprintf(status, sizeof(status), "%u", code);
    tm_labels l = {{"status"}, {status}};
    tm_counter_add(tm_metrics_counter(tm_metrics_global(), "imds_emulator_responses_total",
                                      "IMDS answers, by HTTP status.", &l),
                   1);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body)
{
    count_response(code);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Server", "EC2ws");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result new_token(imds *s, struct MHD_Connection *c)
{
    const char *ttl_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token-ttl-seconds");
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"))
        return reply(c, 403, "text/plain", "Forbidden");
    char *end = NULL;
    long ttl = ttl_s ? strtol(ttl_s, &end, 10) : 0;
    if (!ttl_s || !*ttl_s || *end || ttl < 1 || ttl > 21600) return reply(c, 400, "text/plain", "Bad Request");
    token *t = &s->tokens[s->next_token++ % MAX_TOKENS];
    uint8_t raw[TOKEN_LEN / 4 * 3];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(t->value, sizeof(t->value), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE);
    t->expires = time(NULL) + ttl;
    char ttl_out[24];
    snprintf(ttl_out, sizeof(ttl_out), "%ld", ttl);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(t->value), t->value, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "X-aws-ec2-metadata-token-ttl-seconds", ttl_out);
    MHD_add_response_header(r, "Content-Type", "text/plain");
    count_response(200);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int token_ok(const imds *s, struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");
    if (!v || strlen(v) != TOKEN_LEN) return 0;
    time_t now = time(NULL);
    for (size_t i = 0; i < MAX_TOKENS; i++)
        if (s->tokens[i].expires > now && sodium_memcmp(s->tokens[i].value, v, TOKEN_LEN) == 0) return 1;
    return 0;
}

static void iso8601(time_t t, char *out, size_t cap)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) snprintf(out, cap, "?");
}

static enum MHD_Result credentials(imds *s, struct MHD_Connection *c)
{
    char updated[32], expires[32];
    time_t now = time(NULL);
    iso8601(now, updated, sizeof(updated));
    iso8601(now + 6 * 3600, expires, sizeof(expires));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Code", "Success", "LastUpdated", updated, "Type",
                          "AWS-HMAC", "AccessKeyId", s->akid, "SecretAccessKey", s->secret, "Token", s->session,
                          "Expiration", expires);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!text) return MHD_NO;
    enum MHD_Result ret = reply(c, 200, "text/plain", text);
    free(text);
    return ret;
}

static enum MHD_Result get(imds *s, struct MHD_Connection *c, const char *url)
{
    static const char creds_prefix[] = "/latest/meta-data/iam/security-credentials/";
    if (!token_ok(s, c)) return reply(c, 401, "text/plain", "Unauthorized");
    if (strcmp(url, "/latest/meta-data/instance-id") == 0) return reply(c, 200, "text/plain", s->instance_id);
    if (strcmp(url, creds_prefix) == 0 || strcmp(url, "/latest/meta-data/iam/security-credentials") == 0)
        return reply(c, 200, "text/plain", s->role);
    if (strncmp(url, creds_prefix, sizeof(creds_prefix) - 1) == 0 &&
        strcmp(url + sizeof(creds_prefix) - 1, s->role) == 0)
        return credentials(s, c);
    return reply(c, 404, "text/plain", "Not Found");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)version, (void)upload;
    static int started;
    if (!*state) {
        *state = &started;
        return MHD_YES;
    }
    if (*upload_size) { /* bodies are ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    imds *s = cls;
    if (strcmp(method, "PUT") == 0 && strcmp(url, "/latest/api/token") == 0) return new_token(s, c);
    if (strcmp(method, "GET") == 0) return get(s, c, url);
    return reply(c, 405, "text/plain", "Method Not Allowed");
}

/* AKID:SECRET[:TOKEN] */
static int parse_user(imds *s, const char *arg)
{
    const char *a = strchr(arg, ':');
    if (!a || a == arg || (size_t)(a - arg) >= sizeof(s->akid)) return -1;
    memcpy(s->akid, arg, (size_t)(a - arg));
    const char *b = strchr(a + 1, ':');
    size_t slen = b ? (size_t)(b - a - 1) : strlen(a + 1);
    if (!slen || slen >= sizeof(s->secret)) return -1;
    memcpy(s->secret, a + 1, slen);
    if (b && strlen(b + 1) >= sizeof(s->session)) return -1;
    if (b) snprintf(s->session, sizeof(s->session), "%s", b + 1);
    return 0;
}

static const char *metrics_on;

static int parse_args(imds *s, int argc, char **argv, const char **listen_on)
{
    int user = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!v) return -1;
        if (strcmp(a, "--listen") == 0) *listen_on = v;
        else if (strcmp(a, "--metrics") == 0) metrics_on = v;
        else if (strcmp(a, "--instance-id") == 0) s->instance_id = v;
        else if (strcmp(a, "--role") == 0) s->role = v;
        else if (strcmp(a, "--user") == 0) {
            if (parse_user(s, v) != 0) {
                fprintf(stderr, "imds-emulator: --user must be AKID:SECRET[:TOKEN]\n");
                return -1;
            }
            user = 1;
        } else return -1;
    }
    return *listen_on && s->instance_id && s->role && user ? 0 : -1;
}

int main(int argc, char **argv)
{
    static imds s;
    const char *listen_on = NULL;
    char shown[300];
    int fd = -1;
    /* libsodium, and jansson frees that wipe (keys and credentials pass through JSON). */
    if (tm_crypto_init() != TM_OK || parse_args(&s, argc, argv, &listen_on) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (emu_listen(listen_on, &fd, shown, sizeof(shown)) != TM_OK) {
        fprintf(stderr, "imds-emulator: %s\n", tm_err_msg());
        return 1;
    }
    emu_block_signals();
    tm_metrics *metrics = NULL;
    tm_metrics_server *metrics_server = NULL;
    if (metrics_on && (tm_metrics_open_process("imds-emulator", 0, &metrics) != TM_OK ||
                       tm_metrics_server_start(metrics, metrics_on, &metrics_server) != TM_OK)) {
        fprintf(stderr, "imds-emulator: --metrics %s: %s\n", metrics_on, tm_err_msg());
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                                            &s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                                            (unsigned)30, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "imds-emulator: cannot start the HTTP server\n");
        return 1;
    }
    printf("LISTENING http://%s\n", shown);
    fflush(stdout);
    emu_wait_for_signal();
    MHD_stop_daemon(d);
    tm_metrics_server_stop(metrics_server);
    tm_metrics_close_process(metrics);
    sodium_memzero(&s, sizeof(s));
    return 0;
}
