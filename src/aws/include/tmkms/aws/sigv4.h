/* AWS Signature Version 4 (AWS4-HMAC-SHA256): canonical request, string to sign, signing
 * key, Authorization header. The client signs with it (tm_sigv4_sign); the KMS emulator
 * parses an Authorization header and recomputes the signature over what it received
 * (tm_sigv4_parse_authorization + tm_sigv4_signature). Proven equal to botocore's
 * SigV4Auth and to the AWS SigV4 test-suite vectors (tests/unit/test_sigv4.c). */
#ifndef TMKMS_AWS_SIGV4_H
#define TMKMS_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tmkms/error.h"

#define TM_SIGV4_MAX_HEADERS 40
#define TM_SIGV4_CANONICAL_MAX 16384 /* canonical request and string-to-sign bound */
#define TM_SIGV4_SIGNED_HEADERS_MAX 1024
#define TM_SIGV4_AUTH_MAX 1536
#define TM_SIGV4_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */

typedef struct {
    const char *name;
    const char *value;
} tm_http_header;

/* One request as signed. `headers` are the headers to sign, in any order and case,
 * duplicates allowed (joined with ',' in order): for a signature they must include host
 * and x-amz-date (and x-amz-security-token with session credentials). */
typedef struct {
    const char *method;       /* "POST" */
    const char *path;         /* URL path as sent, "/" for KMS */
    const char *query;        /* query string as sent without '?', or NULL */
    const tm_http_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *region;       /* "us-east-1" */
    const char *service;      /* "kms" */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ"; the scope date is its first 8 chars */
} tm_sigv4_input;

/* The canonical request and its signed-headers list ("content-type;host;x-amz-date"). */
tm_status tm_sigv4_canonical_request(const tm_sigv4_input *in, char *out, size_t cap,
                                     char *signed_headers, size_t sh_cap);
/* "AWS4-HMAC-SHA256\nDATE\nSCOPE\nhex(sha256(canonical request))". */
tm_status tm_sigv4_string_to_sign(const tm_sigv4_input *in, const char *canonical_request,
                                  char *out, size_t cap);
/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date8), region), service), "aws4_request"). */
tm_status tm_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                               const char *service, uint8_t out[32]);
/* Lower-case hex signature (65 bytes with NUL) and the signed-headers list. */
tm_status tm_sigv4_signature(const tm_sigv4_input *in, const char *secret, char sig_hex[65],
                             char *signed_headers, size_t sh_cap);

/* "YYYYMMDDTHHMMSSZ" for a UNIX time (UTC). */
tm_status tm_sigv4_format_date(time_t t, char out[TM_SIGV4_DATE_LEN + 1]);
/* Parses "YYYYMMDDTHHMMSSZ" strictly. */
tm_status tm_sigv4_parse_date(const char *s, time_t *out);

/* What a client adds to its request. */
typedef struct {
    char amz_date[TM_SIGV4_DATE_LEN + 1];
    char authorization[TM_SIGV4_AUTH_MAX];
} tm_sigv4_signed;

/* Signs a request: `in->headers` are the request's own headers to sign (content-type,
 * x-amz-target, host ...; host is required); x-amz-date (from `now`) and, when
 * `session_token` is non-NULL and non-empty, x-amz-security-token are added to the signed
 * set. `in->amz_date` is ignored. The caller sends X-Amz-Date, Authorization and the token. */
tm_status tm_sigv4_sign(const tm_sigv4_input *in, const char *access_key_id,
                        const char *secret_access_key, const char *session_token, time_t now,
                        tm_sigv4_signed *out);

/* A parsed "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=hex" header. */
typedef struct {
    char access_key_id[129];
    char date8[9];
    char region[64];
    char service[64];
    char signed_headers[TM_SIGV4_SIGNED_HEADERS_MAX];
    char signature[65];
} tm_sigv4_auth;

tm_status tm_sigv4_parse_authorization(const char *value, tm_sigv4_auth *out);

#endif
