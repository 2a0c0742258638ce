/* tmkms.toml mapping: tmkms's own format accepted, defaults, path resolution, and every
 * error reported as file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/config.h"

static char dir[] = "/tmp/tmkms-config-test-XXXXXX";
static char path[512];

static int setup(void **unused)
{
    (void)unused;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tmkms.toml", dir);
    return 0;
}

static int teardown(void **unused)
{
    (void)unused;
    unlink(path);
    rmdir(dir);
    return 0;
}

static tm_status load(const char *text, tm_config **cfg)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    *cfg = NULL;
    return tm_config_load(path, cfg);
}

/* The shape tmkms writes (tmkms init), with max_height as a string. */
static const char tmkms_style[] =
    "## Chain Configuration\n"
    "[[chain]]\n"
    "id = \"cosmoshub-4\"\n"
    "key_format = { type = \"bech32\", account_key_prefix = \"cosmospub\", consensus_key_prefix = "
    "\"cosmosvalconspub\" }\n"
    "state_file = \"state/cosmoshub-4-consensus.json\"\n"
    "\n"
    "[[validator]]\n"
    "chain_id = \"cosmoshub-4\"\n"
    "addr = \"unix:///tmp/node.sock\" # the node's priv_validator_laddr\n"
    "secret_key = \"secrets/kms-identity.key\"\n"
    "protocol_version = \"v0.34\"\n"
    "reconnect = true\n"
    "max_height = \"1000\"\n"
    "\n"
    "[[providers.softsign]]\n"
    "chain_ids = [\"cosmoshub-4\"]\n"
    "key_type = \"consensus\"\n"
    "path = \"secrets/cosmoshub-4-consensus.key\"\n";

static void test_tmkms_format(void **unused)
{
    (void)unused;
    tm_config *cfg;
    assert_int_equal(load(tmkms_style, &cfg), TM_OK);
    assert_int_equal(cfg->n_chains, 1);
    assert_string_equal(cfg->chains[0].id, "cosmoshub-4");
    assert_int_equal(cfg->chains[0].key_format, TM_KEYFMT_BECH32);
    assert_string_equal(cfg->chains[0].consensus_key_prefix, "cosmosvalconspub");
    assert_true(cfg->chains[0].sign_extensions);
    char want[600];
    snprintf(want, sizeof(want), "%s/state/cosmoshub-4-consensus.json", cfg->dir);
    assert_string_equal(cfg->chains[0].state_file, want);
    assert_int_equal(cfg->n_validators, 1);
    assert_int_equal(cfg->validators[0].max_height, 1000);
    assert_true(cfg->validators[0].reconnect);
    assert_string_equal(cfg->validators[0].addr, "unix:///tmp/node.sock");
    const tm_softsign_config *key = tm_config_consensus_key(cfg, "cosmoshub-4");
    assert_non_null(key);
    snprintf(want, sizeof(want), "%s/secrets/cosmoshub-4-consensus.key", cfg->dir);
    assert_string_equal(key->path, want);
    assert_null(tm_config_consensus_key(cfg, "other"));
    tm_config_free(cfg);
}

static void test_defaults(void **unused)
{
    (void)unused;
    tm_config *cfg;
    assert_int_equal(load("[[chain]]\nid = \"c-1\"\n[[validator]]\nchain_id = \"c-1\"\naddr = \"unix:///x\"\n"
                          "max_height = 7\n",
                          &cfg),
                     TM_OK);
    char want[600];
    snprintf(want, sizeof(want), "%s/state/c-1-consensus.state", cfg->dir);
    assert_string_equal(cfg->chains[0].state_file, want);
    assert_int_equal(cfg->validators[0].max_height, 7);
    assert_string_equal(cfg->chains[0].consensus_key_prefix, "cosmosvalconspub");
    tm_config_free(cfg);
}

static void expect_error(const char *text, const char *fragment)
{
    tm_config *cfg;
    assert_int_equal(load(text, &cfg), TM_ERR_CONFIG);
    assert_null(cfg);
    if (!strstr(tm_err_msg(), fragment)) fail_msg("error '%s' lacks '%s'", tm_err_msg(), fragment);
    assert_non_null(strstr(tm_err_msg(), path)); /* names the file */
}

static void test_errors_name_file_and_line(void **unused)
{
    (void)unused;
    expect_error("[[chain]]\nid = \"a\"\nsign_extension = true\n", ":3: chain: unknown key 'sign_extension'");
    expect_error("[[chain]]\nid = \"a\"\nsign_extensions = \"yes\"\n", ":3: chain.sign_extensions: expected bool");
    expect_error("[[chain]]\nid = \"a\"\n[[validator]]\nchain_id = \"b\"\naddr = \"unix:///x\"\n",
                 ":3: validator.chain_id: no [[chain]] with id 'b'");
    expect_error("[[chain]]\nid = \"a\"\n[[validator]]\nchain_id = \"a\"\naddr = \"http://x\"\n",
                 "validator.addr");
    expect_error("[[chain]]\nid = \"a\"\n[[validator]]\nchain_id = \"a\"\naddr = \"unix:///x\"\nmax_height = \"12x\"\n",
                 ":6: validator.max_height");
    expect_error("[[chain]]\nid = \"a\"\nkey_format = { type = \"base58\" }\n", ":3: chain.key_format.type");
    expect_error("chain_id = 'x'\n", ":1: unknown key 'chain_id'");
    expect_error("[[chain]]\nid = \"a\"\n[[chain]]\nid = \"a\"\n", "defined twice");
    expect_error("[[providers.yubihsm]]\nadapter = { type = \"usb\" }\n", "providers.yubihsm");
    expect_error("[[chain]]\nid = \"has space\"\n", "chain.id");
    expect_error("[[chain]]\nid = \"a\"\nid = \"b\"\n", ":3:"); /* TOML duplicate key, from the parser */
}

/* noise://PEER_ID@host:port: the peer ID is mandatory and must be an Ed25519 libp2p ID. */
#define NOISE_VALIDATOR(addr, extra)                                                       \
    "[[chain]]\nid = \"a\"\n[[validator]]\nchain_id = \"a\"\naddr = \"" addr "\"\n" extra
#define NODE_ID "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"

static void test_noise_addresses(void **unused)
{
    (void)unused;
    tm_config *cfg = NULL;
    assert_int_equal(load(NOISE_VALIDATOR("noise://" NODE_ID "@127.0.0.1:26659", "secret_key = \"id.key\"\n"), &cfg),
                     TM_OK);
    assert_string_equal(cfg->validators[0].addr, "noise://" NODE_ID "@127.0.0.1:26659");
    tm_config_free(cfg);
    assert_int_equal(load(NOISE_VALIDATOR("noise://" NODE_ID "@[::1]:26659", "secret_key = \"id.key\"\n"), &cfg),
                     TM_OK);
    tm_config_free(cfg);
    expect_error(NOISE_VALIDATOR("noise://127.0.0.1:26659", "secret_key = \"id.key\"\n"),
                 ":3: validator.addr: noise://127.0.0.1:26659: the node's peer ID is required");
    expect_error(NOISE_VALIDATOR("noise://QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N@127.0.0.1:1",
                                 "secret_key = \"id.key\"\n"),
                 ":3: validator.addr: noise://QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N@127.0.0.1:1: peer ID");
    expect_error(NOISE_VALIDATOR("noise://" NODE_ID "@127.0.0.1", "secret_key = \"id.key\"\n"),
                 ":3: validator.addr: noise://" NODE_ID "@127.0.0.1: expected host:port");
    expect_error(NOISE_VALIDATOR("noise://" NODE_ID "@127.0.0.1:70000", "secret_key = \"id.key\"\n"),
                 "port 70000 out of range");
    expect_error(NOISE_VALIDATOR("noise://" NODE_ID "@127.0.0.1:26659", ""),
                 ":3: validator.secret_key: required for noise://");
}

/* tcp://[NODE_ID@]host:port: a pin is 40 hex digits; secret_key is required. */
#define TCP_ID "f3a9b2c1d4e5f60718293a4b5c6d7e8f90a1b2c3"

static void test_tcp_addresses(void **unused)
{
    (void)unused;
    tm_config *cfg = NULL;
    const char *ok[] = {NOISE_VALIDATOR("tcp://" TCP_ID "@10.0.0.5:26659", "secret_key = \"id.key\"\n"),
                        NOISE_VALIDATOR("tcp://F3A9B2C1D4E5F60718293A4B5C6D7E8F90A1B2C3@node.example:1", "secret_key = \"id.key\"\n"),
                        NOISE_VALIDATOR("tcp://[::1]:26659", "secret_key = \"id.key\"\n")};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(load(ok[i], &cfg), TM_OK);
        tm_config_free(cfg);
    }
    expect_error(NOISE_VALIDATOR("tcp://f3a9@10.0.0.5:26659", "secret_key = \"id.key\"\n"),
                 ":3: validator.addr: tcp://f3a9@10.0.0.5:26659: the node ID before '@' must be 40 hex digits");
    expect_error(NOISE_VALIDATOR("tcp://" TCP_ID "x@10.0.0.5:26659", "secret_key = \"id.key\"\n"), "40 hex digits");
    expect_error(NOISE_VALIDATOR("tcp://zz3a9b2c1d4e5f60718293a4b5c6d7e8f90a1b2c3@h:1", "secret_key = \"id.key\"\n"),
                 "40 hex digits");
    expect_error(NOISE_VALIDATOR("tcp://10.0.0.5", "secret_key = \"id.key\"\n"), "expected host:port");
    expect_error(NOISE_VALIDATOR("tcp://10.0.0.5:0", "secret_key = \"id.key\"\n"), "port 0 out of range");
    expect_error(NOISE_VALIDATOR("tcp://10.0.0.5:26659", ""), ":3: validator.secret_key: required for tcp://");
}

#define HA_CHAIN "[[chain]]\nid = \"a\"\n"

static void test_ha_section(void **unused)
{
    (void)unused;
    tm_config *cfg;
    assert_int_equal(load(HA_CHAIN, &cfg), TM_OK);
    assert_false(cfg->ha.enabled);
    tm_config_free(cfg);
    assert_int_equal(load(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\", "
                                   "\"https://10.0.0.2:2379\"]\nca_file = \"etcd/ca.pem\"\ncert_file = "
                                   "\"etcd/kms.pem\"\nkey_file = \"/etc/tmkms/kms-key.pem\"\n"
                                   "request_timeout_ms = 250\ninstance = \"kms-2\"\n",
                          &cfg),
                     TM_OK);
    assert_true(cfg->ha.enabled);
    assert_string_equal(cfg->ha.backend, "etcd");
    assert_int_equal(cfg->ha.n_endpoints, 2);
    assert_string_equal(cfg->ha.endpoints[1], "https://10.0.0.2:2379");
    assert_string_equal(cfg->ha.key_prefix, "/tmkms/");
    char want[600];
    snprintf(want, sizeof(want), "%s/etcd/ca.pem", cfg->dir);
    assert_string_equal(cfg->ha.ca_file, want);
    assert_string_equal(cfg->ha.key_file, "/etc/tmkms/kms-key.pem");
    assert_int_equal(cfg->ha.request_timeout_ms, 250);
    assert_string_equal(cfg->ha.instance, "kms-2");
    tm_config_free(cfg);
    /* Defaults: prefix, timeout, instance (the host name). */
    assert_int_equal(load(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://h:2379\"]\n", &cfg), TM_OK);
    assert_int_equal(cfg->ha.request_timeout_ms, 1000);
    assert_true(strlen(cfg->ha.instance) > 0);
    tm_config_free(cfg);

    expect_error(HA_CHAIN "[ha]\nendpoints = [\"http://h:1\"]\n", ":3: [ha]: missing 'backend'");
    expect_error(HA_CHAIN "[ha]\nbackend = \"raft\"\nendpoints = [\"http://h:1\"]\n", "ha.backend: 'raft'");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\n", "missing 'endpoints'");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = []\n", ":5: ha.endpoints: expected 1 to 16");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"h:2379\"]\n", "not an http:// or https://");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\ncert_file = \"c.pem\"\n",
                 "cert_file and key_file go together");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\nrequest_timeout_ms = 0\n",
                 "not between 10 and 60000");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\nendpoint = \"x\"\n",
                 ":6: ha: unknown key 'endpoint'");
    expect_error(HA_CHAIN "[ha]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\nkey_prefix = \"\"\n",
                 "ha.key_prefix");
}

static void test_metrics_section(void **unused)
{
    (void)unused;
    tm_config *cfg;
    assert_int_equal(load(HA_CHAIN, &cfg), TM_OK);
    assert_false(cfg->metrics.enabled);
    tm_config_free(cfg);
    assert_int_equal(load(HA_CHAIN "[metrics]\n", &cfg), TM_OK);
    assert_true(cfg->metrics.enabled);
    assert_string_equal(cfg->metrics.listen, "127.0.0.1:9464");
    tm_config_free(cfg);
    assert_int_equal(load(HA_CHAIN "[metrics]\nlisten = \"[::1]:9300\"\n", &cfg), TM_OK);
    assert_string_equal(cfg->metrics.listen, "[::1]:9300");
    tm_config_free(cfg);
    expect_error(HA_CHAIN "[metrics]\nlisten = \"9464\"\n",
                 ":4: metrics.listen: metrics address \"9464\": expected HOST:PORT");
    expect_error(HA_CHAIN "[metrics]\nlisten = \"127.0.0.1:70000\"\n", "port 70000 above 65535");
    expect_error(HA_CHAIN "[metrics]\nlisten = \"127.0.0.1:\"\n", "no port");
    /* what the endpoint would refuse after the keys are loaded, refused with the line now */
    expect_error(HA_CHAIN "[metrics]\nlisten = \"localhost:9464\"\n",
                 ":4: metrics.listen: metrics address "
                 "\"localhost:9464\": \"localhost\" is not an IPv4");
    expect_error(HA_CHAIN "[metrics]\nlisten = \"::1:9464\"\n", "an IPv6 address goes in brackets");
    expect_error(HA_CHAIN "[metrics]\naddr = \"h:1\"\n", ":4: metrics: unknown key 'addr'");
}

static void test_missing_file(void **unused)
{
    (void)unused;
    tm_config *cfg = NULL;
    assert_int_equal(tm_config_load("/nonexistent/tmkms.toml", &cfg), TM_ERR_NOT_FOUND);
    assert_non_null(strstr(tm_err_msg(), "/nonexistent/tmkms.toml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmkms_format),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_noise_addresses),
        cmocka_unit_test(test_tcp_addresses),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_ha_section),
        cmocka_unit_test(test_metrics_section),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
