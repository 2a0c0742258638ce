/* AWS credentials: explicit, from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or from IMDSv2 (token PUT, role name, role
 * credentials). Held in sodium_malloc memory (locked, guarded), wiped when freed, never
 * logged. The enclave has no IMDS: the helper fetches credentials and hands them over. */
#ifndef TMKMS_AWS_CREDENTIALS_H
#define TMKMS_AWS_CREDENTIALS_H

#include <stddef.h>

#include "tmkms/error.h"

#define TM_AWS_AKID_MAX 128
#define TM_AWS_SECRET_MAX 128
#define TM_AWS_TOKEN_MAX 4096
#define TM_IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"

typedef struct {
    char access_key_id[TM_AWS_AKID_MAX + 1];
    char secret_access_key[TM_AWS_SECRET_MAX + 1];
    char session_token[TM_AWS_TOKEN_MAX + 1]; /* "" when none */
    char expiration[64];                      /* IMDS "Expiration", "" otherwise */
} tm_aws_credentials;

/* Allocates zeroed credentials in sodium_malloc memory. */
tm_status tm_aws_credentials_new(tm_aws_credentials **out);
/* Wipes and frees (NULL is fine). */
void tm_aws_credentials_free(tm_aws_credentials *creds);
/* Explicit credentials; `token` may be NULL or "". Checks lengths and characters. */
tm_status tm_aws_credentials_set(tm_aws_credentials *creds, const char *akid, const char *secret,
                                 const char *token);
/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. */
tm_status tm_aws_credentials_from_env(tm_aws_credentials *creds);

typedef struct {
    const char *endpoint;  /* NULL: TM_IMDS_DEFAULT_ENDPOINT; e.g. "http://127.0.0.1:8080" */
    long timeout_ms;       /* per HTTP exchange; 0: 2 s */
    unsigned token_ttl;    /* X-aws-ec2-metadata-token-ttl-seconds; 0: 21600 */
} tm_imds_config;

/* IMDSv2: token, role name (first line of .../iam/security-credentials/), role credentials.
 * `role` (may be NULL) receives the role name. */
tm_status tm_imds_credentials(const tm_imds_config *cfg, tm_aws_credentials *creds, char *role,
                              size_t role_cap);
/* IMDSv2: /latest/meta-data/instance-id ("i-0123456789abcdef0"). */
tm_status tm_imds_instance_id(const tm_imds_config *cfg, char *out, size_t cap);

/* The role-credentials JSON of IMDS: Code must be "Success"; AccessKeyId, SecretAccessKey,
 * Token required, Expiration kept. */
tm_status tm_imds_parse_credentials(const char *json, size_t len, tm_aws_credentials *creds);
/* A role name line: the first line, [A-Za-z0-9+=,.@_-]{1,64}. */
tm_status tm_imds_parse_role(const char *body, size_t len, char *out, size_t cap);

#endif
