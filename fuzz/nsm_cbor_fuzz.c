/* libFuzzer target: NSM CBOR messages. Decoded requests and responses re-encode and
 * decode to the same message; the simulator answers any request bytes with a
 * well-formed response. Seeds: fuzz/corpus/nsm_cbor/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/nsm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tm_nsm *sim;
static uint8_t buf[TM_NSM_RESPONSE_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tm_nsm_sim_config cfg = {.instance_id = "i-0123456789abcdef0", .timestamp_ms = 1700000000000ULL};
    if (tm_nsm_sim_open(&cfg, &sim) != TM_OK) abort();
    return 0;
}

static void request_round_trip(const uint8_t *data, size_t size)
{
    tm_nsm_request a, b;
    size_t n = 0;
    if (tm_nsm_decode_request(data, size, &a) != TM_OK) return;
    if (tm_nsm_encode_request(&a, buf, TM_NSM_REQUEST_MAX, &n) == TM_OK) {
        if (tm_nsm_decode_request(buf, n, &b) != TM_OK || b.kind != a.kind || b.index != a.index ||
            b.user_data.len != a.user_data.len || b.nonce.present != a.nonce.present)
            abort();
        tm_nsm_request_free(&b);
    }
    tm_nsm_request_free(&a);
}

static void response_round_trip(const uint8_t *data, size_t size)
{
    tm_nsm_response a, b;
    size_t n = 0;
    if (tm_nsm_decode_response(data, size, &a) != TM_OK) return;
    if (tm_nsm_encode_response(&a, buf, sizeof(buf), &n) == TM_OK) {
        if (tm_nsm_decode_response(buf, n, &b) != TM_OK || b.kind != a.kind || b.len != a.len ||
            (a.len && memcmp(a.data, b.data, a.len) != 0))
            abort();
        tm_nsm_response_free(&b);
    }
    tm_nsm_response_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    if (size) memcpy(copy, data, size);
    request_round_trip(copy, size);
    response_round_trip(copy, size);
    size_t n = 0;
    tm_nsm_response r;
    if (size <= TM_NSM_REQUEST_MAX) {
        if (sim->ops->process(sim, copy, size, buf, sizeof(buf), &n) != TM_OK) abort();
        if (tm_nsm_decode_response(buf, n, &r) != TM_OK) abort();
        tm_nsm_response_free(&r);
    }
    free(copy);
    return 0;
}
