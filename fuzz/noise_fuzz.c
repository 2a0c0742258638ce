/* libFuzzer target: libp2p Noise (noise://) against a peer that sends arbitrary bytes.
 * data[0] picks what reads them, data[1] how they are split into reads:
 *   0  our responder's handshake      1  our initiator's handshake
 *   2  a handshake payload (protobuf) against a fixed Noise static key
 *   3  transport frames under the all-zero key (valid frames in the corpus)
 *   4  a peer ID string
 * Everything must be refused cleanly: never crash or leak, and a handshake must never
 * complete, since without our ephemeral secret no peer can produce message 2 or 3. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/lib/mem_conn.h"
#include "tmkms/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The static key mode 2 checks payloads against: the X25519 public key of {7}. */
static void fixed_static(uint8_t pub[32])
{
    static const uint8_t sec[32] = {7};
    crypto_scalarmult_base(pub, sec);
}

static void handshake(const uint8_t *data, size_t size, size_t chunk, bool initiator)
{
    static const uint8_t seed[32] = {9};
    mem_conn c = mem_conn_over(data, size, chunk);
    tm_conn *conn = NULL;
    uint8_t remote[32];
    if (tm_noise_handshake(&c.base, seed, initiator, NULL, 1000, &conn, remote) == TM_OK) abort();
}

static void frames(const uint8_t *data, size_t size, size_t chunk)
{
    tm_noise_cipher k = {.has_key = true};
    mem_conn c = mem_conn_over(data, size, chunk);
    tm_conn *conn = NULL;
    if (tm_noise_conn_wrap(&c.base, &k, &k, &conn) != TM_OK) return;
    uint8_t buf[4096];
    size_t got = 0;
    while (tm_conn_read(conn, buf, sizeof(buf), &got) == TM_OK) {
    }
    tm_conn_close(conn);
}

static void peer_id(const uint8_t *data, size_t size)
{
    char str[160];
    size_t n = size < sizeof(str) - 1 ? size : sizeof(str) - 1;
    memcpy(str, data, n);
    str[n] = '\0';
    uint8_t pub[32];
    if (tm_noise_peer_id_decode(str, pub) == TM_OK) {
        char again[TM_NOISE_PEER_ID_SIZE];
        tm_noise_peer_id(pub, again);
        if (strcmp(again, str) != 0) abort(); /* only canonical IDs are accepted */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) ready = sodium_init() >= 0;
    if (size < 2) return 0;
    size_t chunk = (size_t)data[1] + 1;
    const uint8_t *rest = data + 2;
    size_t n = size - 2;
    uint8_t s_pub[32], id[32];
    switch (data[0] % 5) {
    case 0: handshake(rest, n, chunk, false); break;
    case 1: handshake(rest, n, chunk, true); break;
    case 2:
        fixed_static(s_pub);
        (void)tm_noise_payload_verify(rest, n, s_pub, id);
        break;
    case 3: frames(rest, n, chunk); break;
    default: peer_id(rest, n); break;
    }
    return 0;
}
