/* vsock endpoints: address parsing and formatting, the sockaddr_vm layout byte for byte
 * (no vsock socket is ever opened here), and the simulation mapping to Unix sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "tmkms/nitro/vsock.h"

static void test_parse_and_format(void **unused)
{
    (void)unused;
    tm_vsock_addr a;
    char s[TM_VSOCK_ADDR_STRLEN];
    assert_int_equal(tm_vsock_addr_parse("vsock://16:5050", &a), TM_OK);
    assert_int_equal(a.cid, 16);
    assert_int_equal(a.port, 5050);
    tm_vsock_addr_format(&a, s);
    assert_string_equal(s, "vsock://16:5050");
    assert_int_equal(tm_vsock_addr_parse("3:8000", &a), TM_OK);
    assert_int_equal(a.cid, TM_VSOCK_CID_PARENT);
    assert_int_equal(tm_vsock_addr_parse("any:6050", &a), TM_OK);
    assert_int_equal(a.cid, TM_VSOCK_CID_ANY);
    tm_vsock_addr_format(&a, s);
    assert_string_equal(s, "vsock://any:6050");
    assert_int_equal(tm_vsock_addr_parse("4294967295:4294967294", &a), TM_OK);
    const char *bad[] = {"", "16", "vsock://16", "x:1", "16:", "16:0", "16:4294967295", "4294967296:1", "-1:5",
                         "16:50a", "16:99999999999", " 16:5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(tm_vsock_addr_parse(bad[i], &a), TM_OK);
        assert_non_null(strstr(tm_err_msg(), bad[i]));
    }
}

/* struct sockaddr_vm { sa_family_t svm_family; unsigned short svm_reserved1;
 * unsigned int svm_port; unsigned int svm_cid; u8 svm_flags; unsigned char zero[3]; }
 * on little-endian x86_64, AF_VSOCK = 40. */
static void test_sockaddr_layout(void **unused)
{
    (void)unused;
    uint8_t got[TM_VSOCK_SOCKADDR_LEN];
    tm_vsock_addr enclave = {16, 5050}, any = {TM_VSOCK_CID_ANY, 8000};
    const uint8_t want_enclave[16] = {0x28, 0, 0, 0, 0xba, 0x13, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t want_any[16] = {0x28, 0, 0, 0, 0x40, 0x1f, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    tm_vsock_sockaddr(&enclave, got);
    assert_memory_equal(got, want_enclave, 16);
    tm_vsock_sockaddr(&any, got);
    assert_memory_equal(got, want_any, 16);
}

static void test_simulation_mapping(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/tmkms-vsock-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(tm_vsock_sim_path(dir, 3, 5555, path, sizeof(path)), TM_OK);
    char want[256];
    snprintf(want, sizeof(want), "%s/vsock-3-5555.sock", dir);
    assert_string_equal(path, want);

    /* The helper (CID 3) listens on the state port; a simulated enclave (CID 16) dials 3:5555. */
    tm_vsock_ctx helper = {dir, TM_VSOCK_CID_PARENT}, enclave = {dir, 16};
    int lfd = -1;
    assert_int_equal(tm_vsock_listen(&helper, 5555, &lfd), TM_OK);
    assert_int_equal(access(path, F_OK), 0);
    tm_vsock_addr to = {TM_VSOCK_CID_PARENT, 5555};
    tm_conn *c = NULL, *s = NULL;
    assert_int_equal(tm_vsock_dial(&enclave, &to, 1000, &c), TM_OK);
    assert_string_equal(c->peer, "vsock://3:5555");
    assert_int_equal(tm_vsock_accept(lfd, 1000, 1000, &s), TM_OK);
    uint8_t buf[5] = {0};
    assert_int_equal(tm_conn_write_all(c, "state", 5), TM_OK);
    assert_int_equal(tm_conn_read_exact(s, buf, 5), TM_OK);
    assert_memory_equal(buf, "state", 5);
    tm_conn_close(c);
    tm_conn_close(s);

    /* Nobody listens for CID 16 port 5050 yet: refused, not hung. CID any cannot be dialled. */
    tm_vsock_addr nobody = {16, 5050}, any = {TM_VSOCK_CID_ANY, 5050};
    assert_int_equal(tm_vsock_dial(&helper, &nobody, 1000, &c), TM_ERR_NOT_FOUND);
    assert_int_not_equal(tm_vsock_dial(&helper, &any, 1000, &c), TM_OK);
    /* Nobody connects: the accept gives up. */
    assert_int_equal(tm_vsock_accept(lfd, 50, 0, &s), TM_ERR_TIMEOUT);
    tm_vsock_close_listener(&helper, 5555, lfd);
    assert_int_not_equal(access(path, F_OK), 0);

    char long_dir[200];
    memset(long_dir, 'd', sizeof(long_dir) - 1);
    long_dir[sizeof(long_dir) - 1] = '\0';
    assert_int_equal(tm_vsock_sim_path(long_dir, 3, 5555, path, sizeof(path)), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "too long"));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_sockaddr_layout),
        cmocka_unit_test(test_simulation_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
