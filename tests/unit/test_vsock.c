/* vsock endpoints: address text both ways, the sockaddr_vm layout (no AF_VSOCK socket is
 * ever created by the tests), and the simulated net's Unix socket mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/signer.h"
#include "tmkms/nitro/vsock.h"

static void test_parse_forms(void **state)
{
    (void)state;
    tm_vsock_ep ep;
    assert_int_equal(tm_vsock_ep_parse("16:5050", &ep), TM_OK);
    assert_int_equal(ep.cid, 16);
    assert_int_equal(ep.port, 5050);
    assert_int_equal(tm_vsock_ep_parse("vsock:3:5555", &ep), TM_OK);
    assert_int_equal(ep.cid, 3);
    assert_int_equal(ep.port, 5555);
    assert_int_equal(tm_vsock_ep_parse("vsock://any:6050", &ep), TM_OK);
    assert_int_equal(ep.cid, TM_VSOCK_CID_ANY);
    assert_int_equal(ep.port, 6050);
    assert_int_equal(tm_vsock_ep_parse("4294967295:4294967295", &ep), TM_OK);
    assert_int_equal(ep.cid, UINT32_MAX);
    assert_int_equal(ep.port, UINT32_MAX);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const char *bad[] = {"",        "16",       ":5050",   "16:",      "-1:5050", "16:+5",
                                "16: 5050", "0x10:50", "4294967296:1", "1:4294967296", "16:5050:1",
                                "vsock:", "tcp:1:2",  "99999999999:1", "any"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tm_vsock_ep ep = {7, 7};
        assert_int_not_equal(tm_vsock_ep_parse(bad[i], &ep), TM_OK);
        assert_int_equal(ep.cid, 7);
        assert_non_null(strstr(tm_err_msg(), "vsock"));
    }
    assert_int_not_equal(tm_vsock_ep_parse(NULL, &(tm_vsock_ep){0}), TM_OK);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char buf[32];
    tm_vsock_ep ep = {16, 5050}, back;
    assert_int_equal(tm_vsock_ep_format(&ep, buf, sizeof(buf)), TM_OK);
    assert_string_equal(buf, "vsock:16:5050");
    assert_int_equal(tm_vsock_ep_parse(buf, &back), TM_OK);
    assert_memory_equal(&ep, &back, sizeof(ep));
    ep.cid = TM_VSOCK_CID_ANY;
    assert_int_equal(tm_vsock_ep_format(&ep, buf, sizeof(buf)), TM_OK);
    assert_string_equal(buf, "vsock:any:5050");
    assert_int_equal(tm_vsock_ep_format(&ep, buf, 8), TM_ERR_TOO_LARGE);
}

static void test_sockaddr_layout(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    memset(&ss, 0xAA, sizeof(ss));
    socklen_t len = 0;
    tm_vsock_ep ep = {0x01020304u, 0x0A0B0C0Du};
    assert_int_equal(tm_vsock_sockaddr(&ep, &ss, &len), TM_OK);
    assert_int_equal(len, 16);
    assert_int_equal(sizeof(struct sockaddr_vm), 16);
    const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&ss;
    assert_int_equal(vm->svm_family, AF_VSOCK);
    assert_int_equal(vm->svm_cid, 0x01020304u);
    assert_int_equal(vm->svm_port, 0x0A0B0C0Du);
    /* byte layout: family u16 | reserved u16 | port u32 | cid u32 | 4 zero bytes, host order */
    const uint8_t *b = (const uint8_t *)&ss;
    uint16_t fam;
    uint32_t port, cid;
    memcpy(&fam, b, 2);
    memcpy(&port, b + 4, 4);
    memcpy(&cid, b + 8, 4);
    assert_int_equal(fam, 40);
    assert_int_equal(port, 0x0A0B0C0Du);
    assert_int_equal(cid, 0x01020304u);
    for (size_t i = 12; i < sizeof(ss); i++) assert_int_equal(b[i], 0);
    assert_int_equal(b[2] | b[3], 0);
    ep.cid = TM_VSOCK_CID_ANY;
    assert_int_equal(tm_vsock_sockaddr(&ep, &ss, &len), TM_OK);
    assert_int_equal(vm->svm_cid, VMADDR_CID_ANY);
}

static void test_sim_path(void **state)
{
    (void)state;
    char p[108];
    assert_int_equal(tm_vsock_sim_path("/d", 16, 5050, p, sizeof(p)), TM_OK);
    assert_string_equal(p, "/d/vsock-16-5050.sock");
    assert_int_equal(tm_vsock_sim_path("/d", 3, 8000, p, 10), TM_ERR_TOO_LARGE);
    tm_vsock_net net;
    char longdir[120];
    memset(longdir, 'x', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    assert_int_equal(tm_vsock_net_simulated(longdir, 3, &net), TM_ERR_INVALID);
    assert_int_equal(tm_vsock_net_simulated("/nonexistent-dir-for-test", 3, &net), TM_ERR_NOT_FOUND);
    tm_vsock_net_real(&net);
    assert_false(tm_vsock_net_is_simulated(&net));
}

/* Enclave (CID 16) listens on any:5050; helper (CID 3) dials 16:5050; bytes flow both
 * ways; the socket file is named after the listener's CID and removed on close. */
static void test_sim_listen_dial(void **state)
{
    (void)state;
    char dir[] = "/tmp/tmkms-vsock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    tm_vsock_net enclave, helper;
    assert_int_equal(tm_vsock_net_simulated(dir, 16, &enclave), TM_OK);
    assert_int_equal(tm_vsock_net_simulated(dir, 3, &helper), TM_OK);
    assert_true(tm_vsock_net_is_simulated(&enclave));

    tm_vsock_ep any = {TM_VSOCK_CID_ANY, 5050}, to = {16, 5050}, nobody = {16, 5051};
    tm_vsock_listener *l = NULL;
    tm_conn *c = NULL, *s = NULL;
    assert_int_equal(tm_vsock_listen(&enclave, &any, &l), TM_OK);
    char path[108];
    assert_int_equal(tm_vsock_sim_path(dir, 16, 5050, path, sizeof(path)), TM_OK);
    assert_string_equal(tm_vsock_listener_name(l), path);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));

    assert_int_equal(tm_vsock_accept(l, 0, 0, &s), TM_ERR_TIMEOUT);
    assert_int_equal(tm_vsock_dial(&helper, &nobody, 1000, &c), TM_ERR_NOT_FOUND);
    assert_int_equal(tm_vsock_dial(&helper, &to, 1000, &c), TM_OK);
    assert_int_equal(tm_vsock_accept(l, 1000, 1000, &s), TM_OK);
    assert_int_equal(tm_conn_write_all(c, "ping", 4), TM_OK);
    char buf[4];
    assert_int_equal(tm_conn_read_exact(s, buf, 4), TM_OK);
    assert_memory_equal(buf, "ping", 4);
    tm_conn_close(c);
    assert_int_equal(tm_conn_read_exact(s, buf, 1), TM_ERR_EOF);
    tm_conn_close(s);

    /* the connect hook (what the KMS client is given) */
    tm_vsock_target t = {.net = &helper, .ep = to};
    int fd = tm_vsock_connect_hook(&t);
    assert_true(fd >= 0);
    close(fd);
    t.ep = nobody;
    assert_int_equal(tm_vsock_connect_hook(&t), -1);

    /* a stale socket file of a crashed run does not block a new listener */
    int lfd = tm_vsock_listener_fd(l);
    assert_true(lfd >= 0);
    tm_vsock_listener *l2 = NULL;
    assert_int_equal(tm_vsock_listen(&enclave, &to, &l2), TM_OK);
    tm_vsock_listener_close(l2);
    assert_int_not_equal(lstat(path, &st), 0);
    tm_vsock_listener_close(l);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    if (tm_crypto_init() != TM_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),     cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_format_round_trip), cmocka_unit_test(test_sockaddr_layout),
        cmocka_unit_test(test_sim_path),         cmocka_unit_test(test_sim_listen_dial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
