/* The NSM: the ioctl request layout of the driver (against the simulator through a fake
 * ioctl), the CBOR messages byte for byte, and the simulator's documents (they verify
 * against its root, never against the AWS root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/aws/attestation.h"
#include "tmkms/aws/nsm.h"

#define INSTANCE_ID "i-0123456789abcdef0"
#define PCR4_HEX "d6432900ac1c343cb40286898792c55e962aef0cc35c4910c0c286145b51af19e782cb21cc31a042671d7dfbd398251c"
#define BINARY_PCR0 "cfcef038d4a6f3c38e45410966ea7a42b32f6192cccc4b9f6cd65a204775553d0dae5f8c5b7b213f6d96a50b4604eaf7"

static char tmpdir[256];

static void hex_of(const uint8_t *b, size_t n, char *out, size_t cap)
{
    assert_true(cap >= 2 * n + 1);
    sodium_bin2hex(out, cap, b, n);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_nsm.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[512];
    path_in_tmp(path, sizeof(path), "enclave.bin");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("hello enclave", f);
    assert_int_equal(fclose(f), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    // NOLINTNEXTLINE(cert-env33-c): test teardown; removes the test's own mkdtemp directory
    return system(cmd) == 0 ? 0 : -1;
}

/* A fake ioctl: checks the request number and the iovec layout, and answers through
 * the simulator as the kernel driver would (response length written back). */
static int fake_calls;
static int fake_ioctl(int fd, unsigned long request, tm_nsm_raw *raw, void *ctx)
{
    tm_nsm *sim = ctx;
    (void)fd;
    fake_calls++;
    if (request != 0xC0200A00UL || raw->request.len > TM_NSM_REQUEST_MAX || raw->response.len != TM_NSM_RESPONSE_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t out = 0;
    if (sim->ops->process(sim, (const uint8_t *)(uintptr_t)raw->request.addr, (size_t)raw->request.len,
                          (uint8_t *)(uintptr_t)raw->response.addr, (size_t)raw->response.len, &out) != TM_OK) {
        errno = EIO;
        return -1;
    }
    raw->response.len = out;
    return 0;
}

static int failing_ioctl(int fd, unsigned long request, tm_nsm_raw *raw, void *ctx)
{
    (void)fd;
    (void)request;
    if (ctx != NULL) {
        raw->response.len = TM_NSM_RESPONSE_MAX + 1; /* a lying driver */
        return 0;
    }
    errno = EMSGSIZE;
    return -1;
}

static void driver_errors(void **state)
{
    (void)state;
    tm_nsm *dev = NULL;
    uint8_t buf[8];
    assert_int_equal(tm_nsm_open_device("/nonexistent/nsm", &dev), TM_ERR_IO);
    assert_null(dev);
    assert_int_equal(tm_nsm_open_fd(-1, failing_ioctl, NULL, &dev), TM_OK);
    assert_int_equal(tm_nsm_get_random(dev, buf, sizeof(buf)), TM_ERR_TOO_LARGE);
    tm_nsm_close(dev);
    assert_int_equal(tm_nsm_open_fd(-1, failing_ioctl, buf, &dev), TM_OK);
    assert_int_equal(tm_nsm_get_random(dev, buf, sizeof(buf)), TM_ERR_INVALID);
    tm_nsm_close(dev);
    tm_nsm_close(NULL);
}

static void ioctl_layout(void **state)
{
    (void)state;
    assert_int_equal(tm_nsm_ioctl_request(), 0xC0200A00UL); /* _IOWR(0x0A, 0, 32 bytes) */
    assert_int_equal(sizeof(tm_nsm_raw), 32);
    assert_int_equal(offsetof(tm_nsm_raw, request.addr), 0);
    assert_int_equal(offsetof(tm_nsm_raw, request.len), 8);
    assert_int_equal(offsetof(tm_nsm_raw, response.addr), 16);
    assert_int_equal(offsetof(tm_nsm_raw, response.len), 24);
}

static void encode_hex(const tm_nsm_request *req, const char *want)
{
    uint8_t buf[256];
    size_t n = 0;
    char hex[513];
    assert_int_equal(tm_nsm_encode_request(req, buf, sizeof(buf), &n), TM_OK);
    hex_of(buf, n, hex, sizeof(hex));
    assert_string_equal(hex, want);
    tm_nsm_request back;
    assert_int_equal(tm_nsm_decode_request(buf, n, &back), TM_OK);
    assert_int_equal(back.kind, req->kind);
    assert_int_equal(back.index, req->index);
    assert_int_equal(back.nonce.present, req->nonce.present);
    tm_nsm_request_free(&back);
}

static void request_encodings(void **state)
{
    (void)state;
    tm_nsm_request r = {.kind = TM_NSM_REQ_GET_RANDOM};
    encode_hex(&r, "6947657452616e646f6d"); /* "GetRandom" */
    r.kind = TM_NSM_REQ_DESCRIBE_NSM;
    encode_hex(&r, "6b44657363726962654e534d"); /* "DescribeNSM" */
    r.kind = TM_NSM_REQ_DESCRIBE_PCR;
    r.index = 4;
    encode_hex(&r, "a16b4465736372696265504352a165696e64657804");
}

static void messages(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = 0;
    /* DescribePCR {index: 4} */
    tm_nsm_request r = {.kind = TM_NSM_REQ_DESCRIBE_PCR, .index = 4};
    char hex[1025];
    assert_int_equal(tm_nsm_encode_request(&r, buf, sizeof(buf), &n), TM_OK);
    hex_of(buf, n, hex, sizeof(hex));
    assert_string_equal(hex, "a16b4465736372696265504352a165696e64657804");
    /* Attestation {user_data: h'01', nonce: null, public_key: null} */
    uint8_t one = 1;
    tm_nsm_request a = {.kind = TM_NSM_REQ_ATTESTATION, .user_data = {true, &one, 1}};
    assert_int_equal(tm_nsm_encode_request(&a, buf, sizeof(buf), &n), TM_OK);
    hex_of(buf, n, hex, sizeof(hex));
    assert_string_equal(hex, "a16b4174746573746174696f6ea369757365725f646174614101656e6f6e6365f66a7075626c69635f6b6579f6");
    tm_nsm_request back;
    assert_int_equal(tm_nsm_decode_request(buf, n, &back), TM_OK);
    assert_true(back.user_data.present && back.user_data.len == 1 && back.user_data.data[0] == 1);
    assert_false(back.nonce.present);
    tm_nsm_request_free(&back);
    /* an Attestation body without the optional keys is all None */
    static const uint8_t empty_att[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n', 0xa0};
    assert_int_equal(tm_nsm_decode_request(empty_att, sizeof(empty_att), &back), TM_OK);
    assert_false(back.user_data.present || back.nonce.present || back.public_key.present);
    tm_nsm_request_free(&back);
    /* too large for the request buffer */
    static uint8_t big[TM_NSM_REQUEST_MAX];
    tm_nsm_request b = {.kind = TM_NSM_REQ_ATTESTATION, .user_data = {true, big, sizeof(big)}};
    static uint8_t out[2 * TM_NSM_REQUEST_MAX];
    assert_int_equal(tm_nsm_encode_request(&b, out, sizeof(out), &n), TM_ERR_TOO_LARGE);
}

static void response_messages(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = 0;
    char hex[1025];
    tm_nsm_response e = {.kind = TM_NSM_RESP_ERROR, .error = TM_NSM_INVALID_INDEX};
    assert_int_equal(tm_nsm_encode_response(&e, buf, sizeof(buf), &n), TM_OK);
    hex_of(buf, n, hex, sizeof(hex));
    assert_string_equal(hex, "a1654572726f726c496e76616c6964496e646578"); /* {"Error": "InvalidIndex"} */
    tm_nsm_response d;
    assert_int_equal(tm_nsm_decode_response(buf, n, &d), TM_OK);
    assert_int_equal(d.kind, TM_NSM_RESP_ERROR);
    assert_int_equal(d.error, TM_NSM_INVALID_INDEX);
    tm_nsm_response_free(&d);
    uint8_t pcr[48] = {7};
    tm_nsm_response p = {.kind = TM_NSM_RESP_DESCRIBE_PCR, .lock = true, .data = pcr, .len = sizeof(pcr)};
    assert_int_equal(tm_nsm_encode_response(&p, buf, sizeof(buf), &n), TM_OK);
    assert_int_equal(tm_nsm_decode_response(buf, n, &d), TM_OK);
    assert_true(d.lock && d.len == 48 && d.data[0] == 7);
    tm_nsm_response_free(&d);
    static const uint8_t garbage[][4] = {{0xa1, 0x61, 'X', 0xa0}, {0x61, 'X', 0, 0}, {0xff, 0, 0, 0}};
    assert_int_equal(tm_nsm_decode_response(garbage[0], 4, &d), TM_ERR_INVALID);
    assert_int_equal(tm_nsm_decode_response(garbage[1], 2, &d), TM_ERR_INVALID);
    assert_int_equal(tm_nsm_decode_response(garbage[2], 1, &d), TM_ERR_INVALID);
    /* fuzzing found this: an array head of 2^28 items (libcbor allocates before reading) */
    static const uint8_t huge[] = {0xa1, 0x47, 0xdc, 0x90, 0x92, 0x9c, 0x8d, 0x96, 0x9d, 0x9a, 0x50, 0x43, 0x52, 0xa1};
    tm_nsm_request q;
    assert_int_equal(tm_nsm_decode_request(huge, sizeof(huge), &q), TM_ERR_INVALID);
    /* and this: a half float where null or bytes belong (libcbor's cbor_is_null aborts on it) */
    static const uint8_t half[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n',
                                   0xa1, 0x69, 'u', 's', 'e', 'r', '_', 'd', 'a', 't', 'a', 0xf9, 0x41, 0x01};
    assert_int_equal(tm_nsm_decode_request(half, sizeof(half), &q), TM_ERR_INVALID);
    static const uint8_t lockf[] = {0xa1, 0x6b, 'D', 'e', 's', 'c', 'r', 'i', 'b', 'e', 'P', 'C', 'R', 0xa2, 0x64,
                                    'l', 'o', 'c', 'k', 0xf9, 0x3c, 0x00, 0x64, 'd', 'a', 't', 'a', 0x40};
    assert_int_equal(tm_nsm_decode_response(lockf, sizeof(lockf), &d), TM_ERR_INVALID);
}

static tm_nsm *open_sim(const char *dir)
{
    char bin[512];
    path_in_tmp(bin, sizeof(bin), "enclave.bin");
    tm_nsm_sim_config cfg = {.ca_dir = dir, .enclave_binary = bin, .instance_id = INSTANCE_ID};
    tm_nsm *sim = NULL;
    assert_int_equal(tm_nsm_sim_open(&cfg, &sim), TM_OK);
    return sim;
}

static void driver_over_simulator(void **state)
{
    (void)state;
    tm_nsm *sim = open_sim(NULL);
    tm_nsm *dev = NULL;
    assert_int_equal(tm_nsm_open_fd(-1, fake_ioctl, sim, &dev), TM_OK);
    fake_calls = 0;
    uint8_t rnd[1000] = {0}, zero[1000] = {0};
    assert_int_equal(tm_nsm_get_random(dev, rnd, sizeof(rnd)), TM_OK);
    assert_int_equal(fake_calls, 4); /* 256 bytes per GetRandom */
    assert_memory_not_equal(rnd, zero, sizeof(rnd));
    bool locked = false;
    uint8_t pcr[64];
    size_t plen = 0;
    char hex[129];
    assert_int_equal(tm_nsm_describe_pcr(dev, 4, &locked, pcr, sizeof(pcr), &plen), TM_OK);
    hex_of(pcr, plen, hex, sizeof(hex));
    assert_string_equal(hex, PCR4_HEX);
    assert_true(locked);
    assert_int_equal(tm_nsm_describe_pcr(dev, 40, &locked, pcr, sizeof(pcr), &plen), TM_ERR_REFUSED);
    tm_nsm_description desc;
    assert_int_equal(tm_nsm_describe(dev, &desc), TM_OK);
    assert_string_equal(desc.digest, "SHA384");
    assert_int_equal(desc.max_pcrs, 32);
    tm_nsm_close(dev);
    tm_nsm_close(sim);
}

static void documents_verify_against_sim_root_only(void **state)
{
    (void)state;
    tm_nsm *sim = open_sim(NULL);
    tm_nsm *dev = NULL;
    assert_int_equal(tm_nsm_open_fd(-1, fake_ioctl, sim, &dev), TM_OK);
    static const uint8_t ud[] = "{\"pubkey\":\"x\"}", nonce[] = {1, 2, 3}, pk[] = {9, 9};
    tm_nsm_opt_bytes u = {true, ud, sizeof(ud) - 1}, no = {true, nonce, 3}, k = {true, pk, 2};
    uint8_t *doc = NULL;
    size_t len = 0;
    assert_int_equal(tm_nsm_attestation(dev, &u, &no, &k, &doc, &len), TM_OK);
    const uint8_t *root = NULL;
    size_t root_len = 0;
    assert_int_equal(tm_nsm_sim_root_der(sim, &root, &root_len), TM_OK);
    tm_att_verify_opts opts = {.root_der = root, .root_len = root_len};
    tm_att_doc d;
    tm_att_error err = tm_att_verify(doc, len, &opts, &d, NULL);
    if (err != TM_ATT_OK) fail_msg("%s: %s", tm_att_error_name(err), tm_err_msg());
    char hex[129];
    hex_of(d.pcrs[0].value, d.pcrs[0].len, hex, sizeof(hex));
    assert_string_equal(hex, BINARY_PCR0);
    hex_of(d.pcrs[4].value, d.pcrs[4].len, hex, sizeof(hex));
    assert_string_equal(hex, PCR4_HEX);
    assert_true(d.user_data.present && d.user_data.len == sizeof(ud) - 1);
    assert_memory_equal(d.nonce.data, nonce, 3);
    assert_memory_equal(d.public_key.data, pk, 2);
    tm_att_doc_free(&d);
    assert_int_equal(tm_att_verify(doc, len, NULL, NULL, NULL), TM_ATT_ERR_ROOT_MISMATCH);
    free(doc);
    /* absent fields are CBOR null */
    assert_int_equal(tm_nsm_attestation(dev, NULL, NULL, NULL, &doc, &len), TM_OK);
    assert_int_equal(tm_att_verify(doc, len, &opts, &d, NULL), TM_ATT_OK);
    assert_false(d.user_data.present || d.nonce.present || d.public_key.present);
    tm_att_doc_free(&d);
    free(doc);
    tm_nsm_close(dev);
    tm_nsm_close(sim);
}

static void ca_dir_persists(void **state)
{
    (void)state;
    char dir[512], key[600];
    path_in_tmp(dir, sizeof(dir), "ca");
    tm_nsm *a = open_sim(dir);
    tm_nsm *b = open_sim(dir);
    const uint8_t *ra = NULL, *rb = NULL;
    size_t la = 0, lb = 0;
    assert_int_equal(tm_nsm_sim_root_der(a, &ra, &la), TM_OK);
    assert_int_equal(tm_nsm_sim_root_der(b, &rb, &lb), TM_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ra, rb, la);
    snprintf(key, sizeof(key), "%s/root.key", dir);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a document from b verifies with a's root (same CA) */
    uint8_t *doc = NULL;
    size_t len = 0;
    assert_int_equal(tm_nsm_attestation(b, NULL, NULL, NULL, &doc, &len), TM_OK);
    tm_att_verify_opts opts = {.root_der = ra, .root_len = la};
    assert_int_equal(tm_att_verify(doc, len, &opts, NULL, NULL), TM_ATT_OK);
    free(doc);
    tm_nsm_close(a);
    tm_nsm_close(b);
    assert_int_equal(tm_nsm_sim_root_der(NULL, &ra, &la), TM_ERR_INVALID);
}

static void pcr0_hex_and_debug(void **state)
{
    (void)state;
    tm_nsm_sim_config cfg = {.pcr0_hex = BINARY_PCR0, .timestamp_ms = 1700000000000ULL};
    tm_nsm *sim = NULL;
    assert_int_equal(tm_nsm_sim_open(&cfg, &sim), TM_OK);
    uint8_t *doc = NULL;
    size_t len = 0;
    assert_int_equal(tm_nsm_attestation(sim, NULL, NULL, NULL, &doc, &len), TM_OK);
    const uint8_t *root = NULL;
    size_t root_len = 0;
    assert_int_equal(tm_nsm_sim_root_der(sim, &root, &root_len), TM_OK);
    tm_att_verify_opts opts = {.root_der = root, .root_len = root_len};
    tm_att_doc d;
    assert_int_equal(tm_att_verify(doc, len, &opts, &d, NULL), TM_ATT_OK);
    assert_int_equal(d.timestamp_ms, 1700000000000ULL);
    uint8_t zero[48] = {0};
    assert_memory_equal(d.pcrs[4].value, zero, 48); /* no instance id */
    tm_att_doc_free(&d);
    free(doc);
    tm_nsm_close(sim);
    cfg.pcr0_hex = "abcd";
    assert_int_equal(tm_nsm_sim_open(&cfg, &sim), TM_ERR_CONFIG);
    assert_null(sim);
    char hex[97];
    uint8_t p4[48];
    assert_int_equal(tm_nsm_pcr4(INSTANCE_ID, p4), TM_OK);
    hex_of(p4, 48, hex, sizeof(hex));
    assert_string_equal(hex, PCR4_HEX);
}

static void garbage_requests_get_error_responses(void **state)
{
    (void)state;
    tm_nsm *sim = open_sim(NULL);
    static const uint8_t bad[] = {0x63, 'F', 'o', 'o'};
    uint8_t resp[256];
    size_t n = 0;
    assert_int_equal(sim->ops->process(sim, bad, sizeof(bad), resp, sizeof(resp), &n), TM_OK);
    tm_nsm_response r;
    assert_int_equal(tm_nsm_decode_response(resp, n, &r), TM_OK);
    assert_int_equal(r.kind, TM_NSM_RESP_ERROR);
    assert_int_equal(r.error, TM_NSM_INVALID_ARGUMENT);
    tm_nsm_close(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ioctl_layout),
        cmocka_unit_test(request_encodings),
        cmocka_unit_test(messages),
        cmocka_unit_test(response_messages),
        cmocka_unit_test(driver_over_simulator),
        cmocka_unit_test(driver_errors),
        cmocka_unit_test(documents_verify_against_sim_root_only),
        cmocka_unit_test(ca_dir_persists),
        cmocka_unit_test(pcr0_hex_and_debug),
        cmocka_unit_test(garbage_requests_get_error_responses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
