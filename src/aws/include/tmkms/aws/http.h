/* One HTTP(S) exchange over libcurl, for the KMS client and the IMDS client: bounded
 * response body (optionally in sodium_malloc memory for secrets), explicit CA bundle,
 * optional connect-via hook (net.h), per-exchange timeout. No retries here. */
#ifndef TMKMS_AWS_HTTP_H
#define TMKMS_AWS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/aws/net.h"
#include "tmkms/error.h"

#define TM_HTTP_MAX_HEADERS 16

typedef struct {
    const char *method;               /* "GET", "PUT", "POST" */
    const char *url;
    const char *headers[TM_HTTP_MAX_HEADERS]; /* "Name: value" lines */
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *ca_bundle;            /* PEM file of trusted CAs; NULL: curl's default */
    tm_aws_connect_fn connect;        /* NULL: curl connects to the URL's host itself */
    void *connect_ctx;
    long timeout_ms;                  /* whole exchange; 0: 10 s */
    size_t max_response;              /* body bound; a longer body is an error; 0: 256 KiB */
    bool secure_body;                 /* keep the response body in sodium_malloc memory */
} tm_http_request;

typedef struct {
    long status;
    uint8_t *body;                    /* NUL-terminated (not counted in len) */
    size_t len;
    size_t cap;
    bool secure;
    char amzn_error_type[128];        /* x-amzn-ErrorType header, "" when absent */
} tm_http_response;

/* Performs the exchange. TM_OK whatever the HTTP status (read resp->status); transport
 * failures (connect, TLS, timeout, body over the bound) are errors naming what failed. */
tm_status tm_http_perform(const tm_http_request *req, tm_http_response *resp);
/* Frees (and wipes) the body. */
void tm_http_response_free(tm_http_response *resp);

#endif
