/* Secret Connection key schedule against CometBFT's golden vectors
 * (shared/vectors/secret-connection-hkdf.csv: DH secret, loc_is_least, receive key, send key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/secretconn.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void test_hkdf_golden_vectors(void **unused)
{
    (void)unused;
    char path[1024], line[1024];
    snprintf(path, sizeof(path), "%s/vectors/secret-connection-hkdf.csv", getenv("TMKMS_SHARED_DIR"));
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    size_t rows = 0;
    while (fgets(line, sizeof(line), f)) {
        char *fields[5] = {0};
        size_t n = 0;
        for (char *tok = strtok(line, ",\n"); tok && n < 5; tok = strtok(NULL, ",\n")) fields[n++] = tok;
        if (n < 4) continue;
        uint8_t dh[32], want_recv[32], want_send[32], recv[32], send[32];
        unhex(fields[0], dh, 32);
        unhex(fields[2], want_recv, 32);
        unhex(fields[3], want_send, 32);
        bool least = strcmp(fields[1], "true") == 0;
        assert_int_equal(tm_sc_derive_keys(dh, least, recv, send), TM_OK);
        assert_memory_equal(recv, want_recv, 32);
        assert_memory_equal(send, want_send, 32);
        rows++;
    }
    fclose(f);
    assert_true(rows >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hkdf_golden_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
