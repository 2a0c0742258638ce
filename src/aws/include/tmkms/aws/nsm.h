/* The Nitro Secure Module (NSM): one interface, two implementations.
 *
 * - the driver: /dev/nsm inside an enclave. One ioctl per request (NSM_IOCTL_RAW =
 *   _IOWR(0x0A, 0, struct nsm_raw)); struct nsm_raw is two iovecs of two u64 each
 *   {request.addr, request.len, response.addr, response.len}; the request holds at most
 *   TM_NSM_REQUEST_MAX bytes of CBOR, the response buffer is TM_NSM_RESPONSE_MAX bytes and
 *   the driver writes the response's real length back into response.len.
 * - the simulator: the same CBOR API in process, for machines without Nitro. Its
 *   attestation documents are COSE_Sign1 ES384 documents signed by a simulated P-384 CA
 *   chain (root -> intermediate -> leaf) kept in a directory, so they verify with
 *   tm_att_verify against the simulator's root (and never against the AWS root).
 *
 * Messages are CBOR in the encoding of the AWS NSM API (serde externally tagged enums):
 *   requests   "GetRandom" | "DescribeNSM" | {"DescribePCR": {"index": u16}} |
 *              {"Attestation": {"user_data": bstr|null, "nonce": bstr|null,
 *                               "public_key": bstr|null}}
 *   responses  {"GetRandom": {"random": bstr}} | {"DescribePCR": {"lock": bool, "data": bstr}} |
 *              {"Attestation": {"document": bstr}} | {"Error": "InvalidArgument" | ...} |
 *              {"DescribeNSM": {"version_major", "version_minor", "version_patch": u16,
 *                "module_id": tstr, "max_pcrs": u16, "locked_pcrs": [u16...],
 *                "digest": "SHA256" | "SHA384" | "SHA512"}}
 *
 * Everything above the transport (tm_nsm_attestation, tm_nsm_get_random, ...) encodes a
 * request, calls ops->process and decodes the response, so the simulator exercises the
 * same encoders and decoders as the device. */
#ifndef TMKMS_AWS_NSM_H
#define TMKMS_AWS_NSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_NSM_DEVICE "/dev/nsm"
#define TM_NSM_IOCTL_MAGIC 0x0A
#define TM_NSM_REQUEST_MAX 0x1000
#define TM_NSM_RESPONSE_MAX 0x3000
#define TM_NSM_MAX_PCRS 32
#define TM_NSM_PCR_MAX_LEN 64 /* SHA-512; Nitro uses SHA-384 (48 bytes) */
#define TM_NSM_MODULE_ID_MAX 128

/* The kernel's struct nsm_iovec / struct nsm_raw (linux/nsm.h), byte for byte. */
typedef struct {
    uint64_t addr;
    uint64_t len;
} tm_nsm_iovec;

typedef struct {
    tm_nsm_iovec request;
    tm_nsm_iovec response;
} tm_nsm_raw;

/* The ioctl request number: _IOWR(TM_NSM_IOCTL_MAGIC, 0, tm_nsm_raw). */
unsigned long tm_nsm_ioctl_request(void);

/* ErrorCode of the NSM API, in its order. */
typedef enum {
    TM_NSM_SUCCESS = 0,
    TM_NSM_INVALID_ARGUMENT,
    TM_NSM_INVALID_INDEX,
    TM_NSM_INVALID_RESPONSE,
    TM_NSM_READ_ONLY_INDEX,
    TM_NSM_INVALID_OPERATION,
    TM_NSM_BUFFER_TOO_SMALL,
    TM_NSM_INPUT_TOO_LARGE,
    TM_NSM_INTERNAL_ERROR,
} tm_nsm_error_code;

/* "InvalidArgument" etc.; NULL for an out-of-range value. */
const char *tm_nsm_error_code_name(tm_nsm_error_code code);

/* An optional byte string: absent (CBOR null) when present == false. */
typedef struct {
    bool present;
    const uint8_t *data;
    size_t len;
} tm_nsm_opt_bytes;

typedef enum {
    TM_NSM_REQ_ATTESTATION = 1,
    TM_NSM_REQ_GET_RANDOM,
    TM_NSM_REQ_DESCRIBE_PCR,
    TM_NSM_REQ_DESCRIBE_NSM,
} tm_nsm_request_kind;

/* A request. For a decoded request the byte views point into memory owned by the
 * request (free with tm_nsm_request_free); for one to encode they are the caller's. */
typedef struct {
    tm_nsm_request_kind kind;
    uint16_t index; /* DescribePCR */
    tm_nsm_opt_bytes user_data, nonce, public_key; /* Attestation */
    void *owned_;   /* internal */
} tm_nsm_request;

typedef enum {
    TM_NSM_RESP_ATTESTATION = 1,
    TM_NSM_RESP_GET_RANDOM,
    TM_NSM_RESP_DESCRIBE_PCR,
    TM_NSM_RESP_DESCRIBE_NSM,
    TM_NSM_RESP_ERROR,
} tm_nsm_response_kind;

typedef struct {
    uint16_t version_major, version_minor, version_patch;
    char module_id[TM_NSM_MODULE_ID_MAX + 1];
    uint16_t max_pcrs;
    size_t n_locked;
    uint16_t locked_pcrs[TM_NSM_MAX_PCRS];
    char digest[8]; /* "SHA256", "SHA384" or "SHA512" */
} tm_nsm_description;

/* A response. `data` is the document (Attestation), the random bytes (GetRandom) or the
 * PCR value (DescribePCR); a decoded response owns it (tm_nsm_response_free). */
typedef struct {
    tm_nsm_response_kind kind;
    tm_nsm_error_code error; /* TM_NSM_RESP_ERROR */
    bool lock;               /* DescribePCR */
    uint8_t *data;
    size_t len;
    tm_nsm_description description; /* DescribeNSM */
} tm_nsm_response;

/* CBOR encoders and decoders of the messages above. Encoders write into out[0..cap) and
 * fail with TM_ERR_TOO_LARGE when it does not fit (a request above TM_NSM_REQUEST_MAX is
 * refused the same way). Decoders refuse anything but the shapes above
 * (TM_ERR_INVALID), accept definite and indefinite lengths, ignore unknown map keys. */
tm_status tm_nsm_encode_request(const tm_nsm_request *req, uint8_t *out, size_t cap, size_t *out_len);
tm_status tm_nsm_decode_request(const uint8_t *in, size_t len, tm_nsm_request *req);
void tm_nsm_request_free(tm_nsm_request *req);
tm_status tm_nsm_encode_response(const tm_nsm_response *resp, uint8_t *out, size_t cap, size_t *out_len);
tm_status tm_nsm_decode_response(const uint8_t *in, size_t len, tm_nsm_response *resp);
void tm_nsm_response_free(tm_nsm_response *resp);

/* ---- the interface ---- */

typedef struct tm_nsm tm_nsm;

typedef struct {
    /* One CBOR request in, one CBOR response out (resp_cap is TM_NSM_RESPONSE_MAX). A
     * transport failure is a tm_status; an NSM-level error is a CBOR "Error" response. */
    tm_status (*process)(tm_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap,
                         size_t *resp_len);
    void (*close)(tm_nsm *nsm);
} tm_nsm_ops;

struct tm_nsm {
    const tm_nsm_ops *ops;
};

/* The device. tm_nsm_open_device opens `path` (NULL: TM_NSM_DEVICE) read-write. */
tm_status tm_nsm_open_device(const char *path, tm_nsm **out);

/* The ioctl the driver calls; replaceable so that tests can check the request layout
 * without /dev/nsm. Returns 0 or -1 with errno, like ioctl(2). */
typedef int (*tm_nsm_ioctl_fn)(int fd, unsigned long request, tm_nsm_raw *raw, void *ctx);
/* A driver over an already open fd (owned: closed by tm_nsm_close) and an ioctl
 * function (NULL: the real ioctl). */
tm_status tm_nsm_open_fd(int fd, tm_nsm_ioctl_fn ioctl_fn, void *ctx, tm_nsm **out);

/* Frees the NSM (and closes its fd / wipes its simulator keys). NULL is fine. */
void tm_nsm_close(tm_nsm *nsm);

/* ---- operations (any implementation) ---- */

/* An attestation document (COSE_Sign1 bytes, malloc'd into *doc, free()). Any of the
 * three fields may be NULL (absent). An "Error" response is TM_ERR_REFUSED with the
 * NSM's error code name in the message. */
tm_status tm_nsm_attestation(tm_nsm *nsm, const tm_nsm_opt_bytes *user_data, const tm_nsm_opt_bytes *nonce,
                             const tm_nsm_opt_bytes *public_key, uint8_t **doc, size_t *doc_len);
/* Fills out[0..len) with NSM entropy (as many GetRandom requests as it takes). */
tm_status tm_nsm_get_random(tm_nsm *nsm, uint8_t *out, size_t len);
/* PCR `index`: its value (up to TM_NSM_PCR_MAX_LEN bytes) and whether it is locked. */
tm_status tm_nsm_describe_pcr(tm_nsm *nsm, uint16_t index, bool *locked, uint8_t *value, size_t cap,
                              size_t *value_len);
tm_status tm_nsm_describe(tm_nsm *nsm, tm_nsm_description *out);

/* ---- the simulator ---- */

typedef struct {
    /* Directory with the simulated CA: root.pem, intermediate.pem (certificates) and
     * root.key, intermediate.key (PKCS#8 PEM, mode 0600). Missing ones are generated
     * (P-384) and written; existing ones are used as given. The leaf (the document
     * signer) is generated fresh for each simulator, valid for three hours from the
     * document time, like the real NSM's per-enclave leaf. NULL: an in-memory chain for
     * this simulator only. */
    const char *ca_dir;
    /* PCR0: SHA-384 of the file `enclave_binary`, or the 96 hex digits `pcr0_hex`, or (both
     * NULL) 48 zero bytes as in a debug-mode enclave. */
    const char *enclave_binary;
    const char *pcr0_hex;
    /* PCR4 = SHA-384(48 zero bytes || instance_id); NULL: PCR4 is 48 zero bytes. */
    const char *instance_id;
    /* The module_id in documents and DescribeNSM; NULL: "i-sim-enc0000000000000001". */
    const char *module_id;
    /* Document timestamp in ms since the epoch; 0: the current time. */
    uint64_t timestamp_ms;
} tm_nsm_sim_config;

tm_status tm_nsm_sim_open(const tm_nsm_sim_config *cfg, tm_nsm **out);
/* The simulator's root certificate (DER), to pass as the root to tm_att_verify. The
 * pointer lives as long as the simulator. TM_ERR_INVALID for a non-simulator tm_nsm. */
tm_status tm_nsm_sim_root_der(const tm_nsm *nsm, const uint8_t **der, size_t *len);

/* PCR4 of an EC2 instance: SHA-384(48 zero bytes || instance_id). */
tm_status tm_nsm_pcr4(const char *instance_id, uint8_t out[48]);

#endif
