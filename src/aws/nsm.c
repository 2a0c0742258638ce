/* The NSM interface: the operations every implementation shares (encode, process,
 * decode) and the /dev/nsm driver. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tmkms/aws/nsm.h"

_Static_assert(sizeof(tm_nsm_raw) == 32, "struct nsm_raw is four u64");

unsigned long tm_nsm_ioctl_request(void)
{
    return (unsigned long)_IOWR(TM_NSM_IOCTL_MAGIC, 0, tm_nsm_raw);
}

void tm_nsm_close(tm_nsm *nsm)
{
    if (nsm != NULL) nsm->ops->close(nsm);
}

/* ---- the driver ---- */

typedef struct {
    tm_nsm base;
    int fd;
    tm_nsm_ioctl_fn ioctl_fn;
    void *ctx;
} nsm_dev;

static int real_ioctl(int fd, unsigned long request, tm_nsm_raw *raw, void *ctx)
{
    (void)ctx;
    return ioctl(fd, request, raw);
}

static tm_status dev_process(tm_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap,
                             size_t *resp_len)
{
    nsm_dev *d = (nsm_dev *)nsm;
    TM_ENSURE(req_len <= TM_NSM_REQUEST_MAX, TM_ERR_TOO_LARGE, "NSM request: %zu bytes", req_len);
    tm_nsm_raw raw = {
        .request = {.addr = (uint64_t)(uintptr_t)req, .len = req_len},
        .response = {.addr = (uint64_t)(uintptr_t)resp, .len = resp_cap},
    };
    if (d->ioctl_fn(d->fd, tm_nsm_ioctl_request(), &raw, d->ctx) != 0) {
        int e = errno;
        if (e == EMSGSIZE) return tm_err_set(TM_ERR_TOO_LARGE, "NSM ioctl: input too large");
        return tm_err_set(TM_ERR_IO, "NSM ioctl: %s", strerror(e));
    }
    TM_ENSURE(raw.response.len <= resp_cap, TM_ERR_INVALID, "NSM ioctl: response length %llu above %zu",
              (unsigned long long)raw.response.len, resp_cap);
    *resp_len = (size_t)raw.response.len;
    return TM_OK;
}

static void dev_close(tm_nsm *nsm)
{
    nsm_dev *d = (nsm_dev *)nsm;
    if (d->fd >= 0) close(d->fd);
    free(d);
}

static const tm_nsm_ops dev_ops = {dev_process, dev_close};

tm_status tm_nsm_open_fd(int fd, tm_nsm_ioctl_fn ioctl_fn, void *ctx, tm_nsm **out)
{
    nsm_dev *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        close(fd);
        return tm_err_set(TM_ERR_NOMEM, "out of memory");
    }
    d->base.ops = &dev_ops;
    d->fd = fd;
    d->ioctl_fn = ioctl_fn ? ioctl_fn : real_ioctl;
    d->ctx = ctx;
    *out = &d->base;
    return TM_OK;
}

tm_status tm_nsm_open_device(const char *path, tm_nsm **out)
{
    const char *p = path ? path : TM_NSM_DEVICE;
    *out = NULL;
    int fd = open(p, O_RDWR | O_CLOEXEC);
    TM_ENSURE(fd >= 0, TM_ERR_IO, "%s: %s", p, strerror(errno));
    return tm_nsm_open_fd(fd, NULL, NULL, out);
}

/* ---- operations ---- */

/* Encodes `req`, runs it, decodes the response and checks it is of kind `want` (an NSM
 * "Error" response is TM_ERR_REFUSED naming the code). */
static tm_status roundtrip(tm_nsm *nsm, const tm_nsm_request *req, tm_nsm_response_kind want, tm_nsm_response *r)
{
    tm_status status = TM_OK;
    uint8_t reqbuf[TM_NSM_REQUEST_MAX];
    size_t req_len = 0, resp_len = 0;
    uint8_t *resp = malloc(TM_NSM_RESPONSE_MAX);
    memset(r, 0, sizeof(*r));
    TM_ENSURE_GOTO(resp != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(tm_nsm_encode_request(req, reqbuf, sizeof(reqbuf), &req_len));
    TM_TRY_GOTO(nsm->ops->process(nsm, reqbuf, req_len, resp, TM_NSM_RESPONSE_MAX, &resp_len));
    TM_TRY_GOTO(tm_nsm_decode_response(resp, resp_len, r));
    TM_ENSURE_GOTO(r->kind != TM_NSM_RESP_ERROR, TM_ERR_REFUSED, "NSM: %s", tm_nsm_error_code_name(r->error));
    TM_ENSURE_GOTO(r->kind == want, TM_ERR_INVALID, "NSM: the response does not answer the request");
out:
    if (status != TM_OK) tm_nsm_response_free(r);
    free(resp);
    return status;
}

static void opt_copy(tm_nsm_opt_bytes *dst, const tm_nsm_opt_bytes *src)
{
    if (src != NULL) *dst = *src;
    else memset(dst, 0, sizeof(*dst));
}

tm_status tm_nsm_attestation(tm_nsm *nsm, const tm_nsm_opt_bytes *user_data, const tm_nsm_opt_bytes *nonce,
                             const tm_nsm_opt_bytes *public_key, uint8_t **doc, size_t *doc_len)
{
    tm_nsm_request req = {.kind = TM_NSM_REQ_ATTESTATION};
    tm_nsm_response r;
    opt_copy(&req.user_data, user_data);
    opt_copy(&req.nonce, nonce);
    opt_copy(&req.public_key, public_key);
    TM_TRY(roundtrip(nsm, &req, TM_NSM_RESP_ATTESTATION, &r));
    *doc = r.data;
    *doc_len = r.len;
    return TM_OK;
}

tm_status tm_nsm_get_random(tm_nsm *nsm, uint8_t *out, size_t len)
{
    tm_nsm_request req = {.kind = TM_NSM_REQ_GET_RANDOM};
    size_t pos = 0;
    while (pos < len) {
        tm_nsm_response r;
        TM_TRY(roundtrip(nsm, &req, TM_NSM_RESP_GET_RANDOM, &r));
        size_t n = r.len < len - pos ? r.len : len - pos;
        if (n > 0) memcpy(out + pos, r.data, n);
        tm_nsm_response_free(&r);
        TM_ENSURE(n > 0, TM_ERR_INVALID, "NSM GetRandom: no bytes returned");
        pos += n;
    }
    return TM_OK;
}

tm_status tm_nsm_describe_pcr(tm_nsm *nsm, uint16_t index, bool *locked, uint8_t *value, size_t cap,
                              size_t *value_len)
{
    tm_nsm_request req = {.kind = TM_NSM_REQ_DESCRIBE_PCR, .index = index};
    tm_nsm_response r;
    TM_TRY(roundtrip(nsm, &req, TM_NSM_RESP_DESCRIBE_PCR, &r));
    tm_status status = TM_OK;
    if (r.len > cap) {
        status = tm_err_set(TM_ERR_TOO_LARGE, "NSM DescribePCR: %zu bytes, buffer %zu", r.len, cap);
    } else {
        if (r.len > 0) memcpy(value, r.data, r.len);
        *value_len = r.len;
        *locked = r.lock;
    }
    tm_nsm_response_free(&r);
    return status;
}

tm_status tm_nsm_describe(tm_nsm *nsm, tm_nsm_description *out)
{
    tm_nsm_request req = {.kind = TM_NSM_REQ_DESCRIBE_NSM};
    tm_nsm_response r;
    TM_TRY(roundtrip(nsm, &req, TM_NSM_RESP_DESCRIBE_NSM, &r));
    *out = r.description;
    tm_nsm_response_free(&r);
    return TM_OK;
}

