/* AWS KMS client: JSON 1.1 protocol (POST /, X-Amz-Target: TrentService.<Op>,
 * Content-Type: application/x-amz-json-1.1), SigV4-signed, over libcurl with an explicit CA
 * bundle and an optional connect-via hook (net.h) so that inside an enclave the TLS stream
 * runs over vsock while the certificate and host-name checks stay those of
 * kms.REGION.amazonaws.com. Operations: Encrypt, Decrypt (optionally with a Recipient
 * attestation document: the answer is CiphertextForRecipient, CMS EnvelopedData for cms.h),
 * GenerateRandom. AWS error bodies become typed errors ("AccessDeniedException: message");
 * throttling and 5xx answers are retried with capped exponential backoff and full jitter. */
#ifndef TMKMS_AWS_KMS_H
#define TMKMS_AWS_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tmkms/aws/credentials.h"
#include "tmkms/aws/net.h"
#include "tmkms/error.h"

#define TM_KMS_MAX_PLAINTEXT 4096     /* Encrypt accepts at most 4096 bytes */
#define TM_KMS_MAX_RANDOM 1024        /* GenerateRandom NumberOfBytes */
#define TM_KMS_MAX_CIPHERTEXT 6144    /* CiphertextBlob */
#define TM_KMS_MAX_ATTESTATION 16384  /* attestation document bytes */

typedef struct {
    const char *region;               /* required, e.g. "ap-southeast-1" */
    const char *endpoint;             /* NULL: https://kms.REGION.amazonaws.com */
    const char *ca_bundle;            /* PEM file of trusted CAs; NULL: the system store */
    const tm_aws_credentials *creds;  /* required */
    tm_aws_connect_fn connect;        /* NULL: connect to the endpoint's host */
    void *connect_ctx;
    unsigned max_attempts;            /* 0: 4 */
    unsigned base_delay_ms;           /* 0: 100 */
    unsigned max_delay_ms;            /* 0: 3000 */
    long timeout_ms;                  /* per attempt; 0: 10 s */
    size_t max_response;              /* 0: 64 KiB */
} tm_kms_config;

/* What the last call's answer said, when it was an AWS error. */
typedef struct {
    long http_status;                 /* 0: no HTTP answer */
    char type[96];                    /* "AccessDeniedException" */
    char message[512];
    unsigned attempts;
} tm_kms_error;

typedef struct {
    uint8_t *data;
    size_t len;
    bool secure;                      /* sodium_malloc memory (plaintexts, random bytes) */
} tm_kms_bytes;

void tm_kms_bytes_free(tm_kms_bytes *b);

/* Recipient = {KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256, AttestationDocument}. */
typedef struct {
    const uint8_t *attestation_document;
    size_t len;
} tm_kms_recipient;

/* Each call returns TM_OK or an error whose message is "Type: message" for AWS errors
 * (details in `err`, which may be NULL). */
tm_status tm_kms_encrypt(const tm_kms_config *cfg, const char *key_id, const uint8_t *plaintext, size_t len,
                         tm_kms_bytes *ciphertext_blob, tm_kms_error *err);
/* Without recipient: `out` = Plaintext (secure). With recipient: `out` =
 * CiphertextForRecipient (CMS EnvelopedData, DER/BER). `key_id` may be NULL. */
tm_status tm_kms_decrypt(const tm_kms_config *cfg, const char *key_id, const uint8_t *blob, size_t len,
                         const tm_kms_recipient *recipient, tm_kms_bytes *out, tm_kms_error *err);
/* `n` random bytes (1..1024), secure. */
tm_status tm_kms_generate_random(const tm_kms_config *cfg, size_t n, tm_kms_bytes *out, tm_kms_error *err);

/* ---- building blocks, exposed for tests and fuzzing ---- */

/* A signed request ready for tm_http_perform. */
typedef struct {
    char url[512];
    char host[300];
    char target[80];                  /* "TrentService.Encrypt" */
    char hdr_target[100];
    char hdr_date[40];
    char hdr_auth[1600];
    char hdr_token[4200];
    const char *headers[6];
    size_t n_headers;
} tm_kms_prepared;

/* Endpoint URL and host:port (SigV4 "host") for the config. */
tm_status tm_kms_endpoint(const tm_kms_config *cfg, char *url, size_t url_cap, char *host, size_t host_cap);
/* Signs a JSON 1.1 request for `op` with `body` at time `now`. */
tm_status tm_kms_prepare(const tm_kms_config *cfg, const char *op, const char *body, size_t body_len, time_t now,
                         tm_kms_prepared *out);
/* An AWS JSON error answer → `err` and a status; always returns an error status. The
 * type comes from "__type" (after '#'), else x-amzn-ErrorType (before ':'), else
 * "HTTP <status>"; the message from "message"/"Message", printable ASCII only. */
tm_status tm_kms_parse_error(long http_status, const uint8_t *body, size_t len, const char *amzn_error_type,
                             tm_kms_error *err);
/* Throttling (HTTP 429 or a throttling error type) or 5xx: worth another attempt. */
bool tm_kms_is_retryable(long http_status, const char *type);
/* Full-jitter backoff for attempt k (1-based): rnd mod min(cap, base * 2^(k-1)) + 1 ms. */
unsigned tm_kms_backoff_ms(unsigned attempt, unsigned base_ms, unsigned cap_ms, uint32_t rnd);
/* A 200 answer: a JSON object whose `field` is strict standard base64 of at most
 * `max_len` bytes once decoded (secure: decoded into sodium_malloc memory). */
tm_status tm_kms_parse_b64_field(const uint8_t *body, size_t len, const char *field, size_t max_len, bool secure,
                                 tm_kms_bytes *out);

#endif
