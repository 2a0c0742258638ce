/* libFuzzer target: a Secret Connection handshake against a peer that sends arbitrary
 * bytes (split at an input-chosen point). It must refuse cleanly: never crash, leak, or
 * accept a peer that cannot authenticate. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

#include "tmkms/secretconn.h"
#include "../tests/lib/mem_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) ready = sodium_init() >= 0;
    if (size < 1) return 0;
    mem_conn c = mem_conn_over(data + 1, size - 1, (size_t)data[0] + 1);
    static const uint8_t seed[32] = {9};
    tm_conn *sc = NULL;
    uint8_t remote[32];
    /* Without our ephemeral secret the peer cannot produce a valid encrypted AuthSig. */
    if (tm_sc_handshake(&c.base, seed, 1000, &sc, remote) == TM_OK) abort();
    return 0;
}
