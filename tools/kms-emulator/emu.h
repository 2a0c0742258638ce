/* The KMS emulator's request handling, independent of the HTTP server (main.c) so that it
 * can be fuzzed: SigV4 verification, JSON 1.1 dispatch, the operations, key policies,
 * keys on disk. */
#ifndef TMKMS_KMS_EMU_H
#define TMKMS_KMS_EMU_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tmkms/aws/sigv4.h"
#include "tmkms/error.h"

#define EMU_MAX_USERS 16
#define EMU_MAX_BODY (64 * 1024)
#define EMU_KEY_ID_LEN 36

typedef struct {
    char akid[129];
    char secret[129];
    char role_arn[256];
    char token[4097]; /* "" : no session token allowed; else this one required */
} emu_user;

typedef struct {
    char region[64];
    char account[16];
    char data_dir[4096];
    emu_user users[EMU_MAX_USERS];
    size_t n_users;
    uint8_t *attestation_root; /* DER; NULL: the AWS Nitro root G1 */
    size_t attestation_root_len;
    bool skip_auth;            /* fuzzing only: requests act as users[0] unsigned */
    time_t now;                /* 0: the clock */
} kms_emu;

typedef struct {
    const char *method;
    const char *path;
    const tm_http_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
} emu_request;

typedef struct {
    unsigned status;
    char *body; /* malloc'd JSON */
    size_t len;
} emu_response;

/* Handles one request; always fills `resp` (an AWS error body for failures). */
void kms_emu_handle(kms_emu *emu, const emu_request *req, emu_response *resp);
void emu_response_free(emu_response *resp);

/* An AWS error raised while handling: type + message, HTTP 400 unless said otherwise. */
typedef struct {
    unsigned status;
    char type[64];
    char message[8192]; /* a signature mismatch quotes the canonical request, as AWS does */
} emu_error;

/* Sets *e and returns false, for `return emu_fail(e, ...)` in bool handlers. */
bool emu_fail(emu_error *e, unsigned status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- keys (store.c) ---- */
typedef struct {
    char id[EMU_KEY_ID_LEN + 1];
    char arn[160];
    char description[256];
    double created;
    bool enabled;
    char *policy;          /* JSON text, malloc'd */
    uint8_t material[32];
} emu_key;

bool emu_key_id_valid(const char *id);
/* KeyId: a UUID or a key ARN of this region/account. */
bool emu_resolve_key_id(const kms_emu *emu, const char *key_id, char out[EMU_KEY_ID_LEN + 1], emu_error *e);
bool emu_key_load(const kms_emu *emu, const char *id, emu_key *key, emu_error *e);
bool emu_key_save(const kms_emu *emu, const emu_key *key, emu_error *e);
bool emu_key_create(const kms_emu *emu, const char *description, const char *policy, emu_key *key, emu_error *e);
void emu_key_clear(emu_key *key);
tm_status emu_store_init(const kms_emu *emu);

/* ---- policies (policy.c) ---- */
typedef struct {
    const char *key;   /* "kms:RecipientAttestation:PCR0" */
    const char *value;
} emu_context;

/* MalformedPolicyDocumentException when the text is not a policy we can evaluate. */
bool emu_policy_validate(const char *text, emu_error *e);
/* Deny wins; no matching Allow is a deny. */
bool emu_policy_allows(const char *text, const char *account, const char *principal_arn, const char *action,
                       const emu_context *ctx, size_t n_ctx);
char *emu_default_policy(const char *account);

/* ---- Recipient (recipient.c) ---- */
/* Verifies the attestation document, fills the condition context (PCR values as lower-case
 * hex, kept in `pcr_hex`), and later encrypts to its public key. */
typedef struct {
    char pcr_hex[9][97];
    char key_names[10][48];
    emu_context ctx[10];
    size_t n_ctx;
    uint8_t *public_key;
    size_t public_key_len;
} emu_recipient;

bool emu_recipient_open(const kms_emu *emu, json_t *recipient, emu_recipient *r, emu_error *e);
bool emu_recipient_encrypt(const emu_recipient *r, const uint8_t *pt, size_t len, char **b64_out, emu_error *e);
void emu_recipient_close(emu_recipient *r);

/* ---- TLS material (tls.c) ---- */
/* A fresh CA (written to DIR/ca.pem) and a server certificate for kms.REGION.amazonaws.com,
 * localhost and 127.0.0.1, as PEM strings (malloc'd). */
tm_status emu_tls_generate(const char *dir, const char *region, char **cert_pem, char **key_pem);

#endif
