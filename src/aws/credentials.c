/* AWS credentials: explicit, environment, IMDSv2. See credentials.h. */
#include "tmkms/signer.h"
#include "tmkms/aws/credentials.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/http.h"

#define IMDS_TIMEOUT_MS 2000L
#define IMDS_TTL 21600u
#define IMDS_MAX_BODY (64u * 1024u)
#define IMDS_TOKEN_MAX 256

tm_status tm_aws_credentials_new(tm_aws_credentials **out)
{
    TM_TRY(tm_crypto_init()); /* libsodium; jansson frees that wipe */
    tm_aws_credentials *c = sodium_malloc(sizeof(*c));
    TM_ENSURE(c, TM_ERR_NOMEM, "out of memory for credentials");
    sodium_memzero(c, sizeof(*c));
    *out = c;
    return TM_OK;
}

void tm_aws_credentials_free(tm_aws_credentials *creds)
{
    if (creds) sodium_free(creds); /* sodium_free wipes */
}

/* Printable ASCII without spaces: what AWS key ids, secrets and tokens are made of. */
static tm_status copy_field(char *dst, size_t cap, const char *src, const char *what, bool required)
{
    size_t len = src ? strlen(src) : 0;
    TM_ENSURE(len > 0 || !required, TM_ERR_INVALID, "credentials: %s is empty", what);
    TM_ENSURE(len < cap, TM_ERR_TOO_LARGE, "credentials: %s longer than %zu characters", what, cap - 1);
    for (size_t i = 0; i < len; i++)
        TM_ENSURE(src[i] > ' ' && src[i] < 127, TM_ERR_INVALID, "credentials: %s has a character outside printable ASCII",
                  what);
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
    return TM_OK;
}

tm_status tm_aws_credentials_set(tm_aws_credentials *creds, const char *akid, const char *secret,
                                 const char *token)
{
    tm_status status = TM_OK;
    TM_TRY_GOTO(copy_field(creds->access_key_id, sizeof(creds->access_key_id), akid, "access key id", true));
    TM_ENSURE_GOTO(!strpbrk(creds->access_key_id, "/,:"), TM_ERR_INVALID,
                   "credentials: access key id has '/', ',' or ':'");
    TM_TRY_GOTO(copy_field(creds->secret_access_key, sizeof(creds->secret_access_key), secret, "secret access key", true));
    TM_TRY_GOTO(copy_field(creds->session_token, sizeof(creds->session_token), token, "session token", false));
    creds->expiration[0] = '\0';
out:
    if (status != TM_OK) sodium_memzero(creds, sizeof(*creds));
    return status;
}

tm_status tm_aws_credentials_from_env(tm_aws_credentials *creds)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    TM_ENSURE(akid && *akid, TM_ERR_NOT_FOUND, "credentials: AWS_ACCESS_KEY_ID is not set");
    TM_ENSURE(secret && *secret, TM_ERR_NOT_FOUND, "credentials: AWS_SECRET_ACCESS_KEY is not set");
    tm_status st = tm_aws_credentials_set(creds, akid, secret, getenv("AWS_SESSION_TOKEN"));
    if (st != TM_OK) return tm_err_prefix(st, "environment: ");
    return TM_OK;
}

static tm_status json_field(json_t *obj, const char *name, const char **out)
{
    *out = json_string_value(json_object_get(obj, name));
    TM_ENSURE(*out, TM_ERR_INVALID, "IMDS credentials: \"%s\" missing or not a string", name);
    return TM_OK;
}

tm_status tm_imds_parse_credentials(const char *json, size_t len, tm_aws_credentials *creds)
{
    tm_status status = TM_OK;
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    const char *code, *akid, *secret, *token, *exp = NULL;
    TM_ENSURE(root, TM_ERR_INVALID, "IMDS credentials: not JSON (%s at %d)", err.text, err.position);
    TM_ENSURE_GOTO(json_is_object(root), TM_ERR_INVALID, "IMDS credentials: not a JSON object");
    TM_TRY_GOTO(json_field(root, "Code", &code));
    TM_ENSURE_GOTO(strcmp(code, "Success") == 0, TM_ERR_REFUSED, "IMDS credentials: Code is \"%.64s\", not Success", code);
    TM_TRY_GOTO(json_field(root, "AccessKeyId", &akid));
    TM_TRY_GOTO(json_field(root, "SecretAccessKey", &secret));
    TM_TRY_GOTO(json_field(root, "Token", &token));
    TM_TRY_GOTO(tm_aws_credentials_set(creds, akid, secret, token));
    exp = json_string_value(json_object_get(root, "Expiration"));
    if (exp && strlen(exp) < sizeof(creds->expiration)) snprintf(creds->expiration, sizeof(creds->expiration), "%s", exp);
out:
    json_decref(root); /* jansson's copies of the secret are freed unwiped: see docs/AWS.md */
    return status;
}

tm_status tm_imds_parse_role(const char *body, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    while (n < len && body[n] != '\n' && body[n] != '\r') n++;
    TM_ENSURE(n > 0 && n <= 64, TM_ERR_INVALID, "IMDS: role name empty or longer than 64 characters");
    TM_ENSURE(n < cap, TM_ERR_TOO_LARGE, "IMDS: role name does not fit");
    for (size_t i = 0; i < n; i++) {
        char c = body[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("+=,.@_-", c);
        TM_ENSURE(ok && c, TM_ERR_INVALID, "IMDS: role name has a forbidden character");
    }
    memcpy(out, body, n);
    out[n] = '\0';
    return TM_OK;
}

static const char *imds_base(const tm_imds_config *cfg)
{
    return cfg && cfg->endpoint ? cfg->endpoint : TM_IMDS_DEFAULT_ENDPOINT;
}

/* One IMDS exchange; `token` NULL for the token PUT itself. Non-200 is an error. */
static tm_status imds_call(const tm_imds_config *cfg, const char *method, const char *path, const char *token,
                           bool secure, tm_http_response *resp)
{
    char url[512], hdr[IMDS_TOKEN_MAX + 64];
    int n = snprintf(url, sizeof(url), "%s%s", imds_base(cfg), path);
    TM_ENSURE(n > 0 && (size_t)n < sizeof(url), TM_ERR_INVALID, "IMDS: endpoint URL too long");
    if (token)
        snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token);
    else
        snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token-ttl-seconds: %u",
                 cfg && cfg->token_ttl ? cfg->token_ttl : IMDS_TTL);
    tm_http_request req = {.method = method, .url = url, .headers = {hdr}, .n_headers = 1,
                           .timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : IMDS_TIMEOUT_MS,
                           .max_response = IMDS_MAX_BODY, .secure_body = secure};
    tm_status st = tm_http_perform(&req, resp);
    sodium_memzero(hdr, sizeof(hdr));
    if (st != TM_OK) return tm_err_prefix(st, "IMDS: ");
    if (resp->status != 200) {
        long code = resp->status;
        tm_http_response_free(resp);
        return tm_err_set(code == 401 || code == 403 ? TM_ERR_REFUSED : TM_ERR_IO, "IMDS: %s %s: HTTP %ld", method, path,
                          code);
    }
    return TM_OK;
}

/* The session token, into `out` (sodium memory from the caller). */
static tm_status imds_token(const tm_imds_config *cfg, char *out, size_t cap)
{
    tm_http_response r;
    TM_TRY(imds_call(cfg, "PUT", "/latest/api/token", NULL, true, &r));
    tm_status status = TM_OK;
    TM_ENSURE_GOTO(r.len > 0 && r.len < cap && r.len <= IMDS_TOKEN_MAX, TM_ERR_INVALID,
                   "IMDS: token empty or longer than %d bytes", IMDS_TOKEN_MAX);
    for (size_t i = 0; i < r.len; i++)
        TM_ENSURE_GOTO(r.body[i] > ' ' && r.body[i] < 127, TM_ERR_INVALID, "IMDS: token has a non-printable byte");
    memcpy(out, r.body, r.len);
    out[r.len] = '\0';
out:
    tm_http_response_free(&r);
    return status;
}

typedef struct {
    char token[IMDS_TOKEN_MAX + 1];
} imds_session;

static tm_status session_open(const tm_imds_config *cfg, imds_session **out)
{
    imds_session *s = sodium_malloc(sizeof(*s));
    TM_ENSURE(s, TM_ERR_NOMEM, "IMDS: out of memory");
    tm_status st = imds_token(cfg, s->token, sizeof(s->token));
    if (st != TM_OK) {
        sodium_free(s);
        return st;
    }
    *out = s;
    return TM_OK;
}

tm_status tm_imds_credentials(const tm_imds_config *cfg, tm_aws_credentials *creds, char *role,
                              size_t role_cap)
{
    tm_status status = TM_OK;
    imds_session *s = NULL;
    tm_http_response r = {0};
    char name[65], path[160];
    TM_TRY(session_open(cfg, &s));
    TM_TRY_GOTO(imds_call(cfg, "GET", "/latest/meta-data/iam/security-credentials/", s->token, false, &r));
    TM_TRY_GOTO(tm_imds_parse_role((const char *)r.body, r.len, name, sizeof(name)));
    tm_http_response_free(&r);
    snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", name);
    TM_TRY_GOTO(imds_call(cfg, "GET", path, s->token, true, &r));
    TM_TRY_GOTO(tm_imds_parse_credentials((const char *)r.body, r.len, creds));
    if (role) {
        TM_ENSURE_GOTO(strlen(name) < role_cap, TM_ERR_TOO_LARGE, "IMDS: role name does not fit");
        snprintf(role, role_cap, "%s", name);
    }
out:
    tm_http_response_free(&r);
    sodium_free(s);
    return status;
}

tm_status tm_imds_instance_id(const tm_imds_config *cfg, char *out, size_t cap)
{
    tm_status status = TM_OK;
    imds_session *s = NULL;
    tm_http_response r = {0};
    TM_TRY(session_open(cfg, &s));
    TM_TRY_GOTO(imds_call(cfg, "GET", "/latest/meta-data/instance-id", s->token, false, &r));
    TM_ENSURE_GOTO(r.len > 0 && r.len < cap && r.len <= 64, TM_ERR_INVALID, "IMDS: instance id empty or too long");
    for (size_t i = 0; i < r.len; i++)
        TM_ENSURE_GOTO((r.body[i] >= 'a' && r.body[i] <= 'z') || (r.body[i] >= '0' && r.body[i] <= '9') ||
                           r.body[i] == '-',
                       TM_ERR_INVALID, "IMDS: instance id has a character outside [a-z0-9-]");
    memcpy(out, r.body, r.len);
    out[r.len] = '\0';
out:
    tm_http_response_free(&r);
    sodium_free(s);
    return status;
}
