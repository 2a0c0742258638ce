/* Softsign keys, key files and public key renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tmkms/signer.h"

/* ---- helpers ---- */

static char tmpdir[256];

static void hex_to_bin(const char *hex, uint8_t *out, size_t len)
{
    size_t got = 0;
    assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL), 0);
    assert_int_equal(got, len);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return (size_t)n;
}

static void assert_msg_contains(const char *needle)
{
    if (strstr(tm_err_msg(), needle) == NULL)
        fail_msg("error message \"%s\" lacks \"%s\"", tm_err_msg(), needle);
}

static int setup_dir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_keys.XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(tmpdir));
    assert_int_equal(tm_crypto_init(), TM_OK);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    // NOLINTNEXTLINE(cert-env33-c): test teardown; removes the test's own mkdtemp directory
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- RFC 8032 section 7.1, TEST 1 ---- */

static const char rfc_seed_hex[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc_pub_hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char rfc_sig_hex[] = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590"
                                  "a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static void test_rfc8032_vector1(void **state)
{
    (void)state;
    uint8_t seed[32], pub[32], sig[64], got[64];
    hex_to_bin(rfc_seed_hex, seed, sizeof(seed));
    hex_to_bin(rfc_pub_hex, pub, sizeof(pub));
    hex_to_bin(rfc_sig_hex, sig, sizeof(sig));
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    assert_memory_equal(signer->pubkey, pub, 32);
    assert_int_equal(tm_signer_sign(signer, (const uint8_t *)"", 0, got), TM_OK);
    assert_memory_equal(got, sig, 64);
    /* A different message gives a different, valid signature. */
    assert_int_equal(tm_signer_sign(signer, (const uint8_t *)"x", 1, got), TM_OK);
    assert_memory_not_equal(got, sig, 64);
    assert_int_equal(crypto_sign_verify_detached(got, (const uint8_t *)"x", 1, pub), 0);
    tm_signer_destroy(signer);
    tm_signer_destroy(NULL);
}

/* ---- key files ---- */

static void test_keyfile_round_trip(void **state)
{
    (void)state;
    char path[512], text[128];
    uint8_t seed[32], back[32];
    hex_to_bin(rfc_seed_hex, seed, sizeof(seed));
    path_in_tmp(path, sizeof(path), "roundtrip.key");
    assert_int_equal(tm_keyfile_write_seed(path, seed), TM_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* What tmkms writes: base64 of the seed, no newline. */
    assert_int_equal(read_file(path, text, sizeof(text)), 44);
    assert_string_equal(text, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
    assert_int_equal(tm_keyfile_read_seed(path, back), TM_OK);
    assert_memory_equal(seed, back, 32);
    tm_signer *signer = NULL;
    uint8_t pub[32];
    hex_to_bin(rfc_pub_hex, pub, sizeof(pub));
    assert_int_equal(tm_softsign_load(path, &signer), TM_OK);
    assert_memory_equal(signer->pubkey, pub, 32);
    tm_signer_destroy(signer);
}

static void test_keyfile_trailing_whitespace(void **state)
{
    (void)state;
    char path[512];
    uint8_t seed[32], want[32];
    hex_to_bin(rfc_seed_hex, want, sizeof(want));
    path_in_tmp(path, sizeof(path), "newline.key");
    write_file(path, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", 0600);
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_OK);
    assert_memory_equal(seed, want, 32);
    write_file(path, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A= \r\n", 0600);
    memset(seed, 0, sizeof(seed));
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_OK);
    assert_memory_equal(seed, want, 32);
}

static void test_keyfile_permissions(void **state)
{
    (void)state;
    char path[512], expect[1200];
    uint8_t seed[32];
    path_in_tmp(path, sizeof(path), "perm.key");
    const mode_t refused[] = {0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601, 0700 | 0040};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        write_file(path, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", refused[i]);
        tm_err_clear();
        assert_int_equal(tm_keyfile_read_seed(path, seed), TM_ERR_PERMISSION);
        assert_msg_contains(path);
        assert_msg_contains("group/others");
    }
    write_file(path, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", 0644);
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_ERR_PERMISSION);
    snprintf(expect, sizeof(expect), "key file %s is readable by group/others (mode 0644); run chmod 600 %s",
             path, path);
    assert_string_equal(tm_err_msg(), expect);
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_load(path, &signer), TM_ERR_PERMISSION);
    assert_null(signer);

    const mode_t accepted[] = {0600, 0400};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        write_file(path, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", accepted[i]);
        assert_int_equal(tm_keyfile_read_seed(path, seed), TM_OK);
    }
}

static void test_keyfile_never_overwrites(void **state)
{
    (void)state;
    char path[512], text[128], link[512];
    uint8_t seed[32], other[32];
    memset(seed, 7, sizeof(seed));
    memset(other, 9, sizeof(other));
    path_in_tmp(path, sizeof(path), "excl.key");
    unlink(path);
    assert_int_equal(tm_keyfile_write_seed(path, seed), TM_OK);
    assert_int_equal(tm_keyfile_write_seed(path, other), TM_ERR_EXISTS);
    assert_msg_contains("already exists");
    uint8_t back[32];
    assert_int_equal(tm_keyfile_read_seed(path, back), TM_OK);
    assert_memory_equal(back, seed, 32);

    /* A planted dangling symlink is not followed: the target is never created. */
    char target[512];
    path_in_tmp(target, sizeof(target), "symlink-target.key");
    path_in_tmp(link, sizeof(link), "planted.key");
    unlink(target);
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(tm_keyfile_write_seed(link, seed), TM_ERR_EXISTS);
    assert_int_equal(access(target, F_OK), -1);
    (void)text;
}

static void test_keyfile_symlink_read_checks_target(void **state)
{
    (void)state;
    char target[512], link[512];
    uint8_t seed[32];
    path_in_tmp(target, sizeof(target), "real.key");
    path_in_tmp(link, sizeof(link), "link.key");
    write_file(target, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", 0600);
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(tm_keyfile_read_seed(link, seed), TM_OK);
    assert_int_equal(chmod(target, 0644), 0); /* the link's own mode is 0777: the target's counts */
    assert_int_equal(tm_keyfile_read_seed(link, seed), TM_ERR_PERMISSION);
}

static void test_keyfile_bad_contents(void **state)
{
    (void)state;
    char path[512];
    uint8_t seed[32];
    path_in_tmp(path, sizeof(path), "bad.key");
    static const struct {
        const char *content;
        tm_status status;
        const char *msg;
    } cases[] = {
        {"", TM_ERR_INVALID, "is empty"},
        {"\n\n", TM_ERR_INVALID, "is empty"},
        {"not base64 at all!", TM_ERR_INVALID, "not valid base64"},
        {"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", TM_ERR_INVALID, "not valid base64"}, /* unpadded */
        {" nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", TM_ERR_INVALID,
         "not valid base64"}, /* leading space */
        {"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2B=", TM_ERR_INVALID,
         "not valid base64"}, /* non-zero pad bits */
        {"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyufw==", TM_ERR_INVALID, "holds 31 bytes"},
        {"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2AA", TM_ERR_INVALID, "holds 33 bytes"},
        {"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg==",
         TM_ERR_INVALID, "expanded ed25519 secret key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(path, cases[i].content, 0600);
        tm_err_clear();
        assert_int_equal(tm_keyfile_read_seed(path, seed), cases[i].status);
        assert_msg_contains(cases[i].msg);
        assert_msg_contains(path);
    }
}

static void test_keyfile_not_regular(void **state)
{
    (void)state;
    char path[512];
    uint8_t seed[32];
    path_in_tmp(path, sizeof(path), "missing.key");
    unlink(path);
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_ERR_NOT_FOUND);
    assert_msg_contains("does not exist");
    path_in_tmp(path, sizeof(path), "adir");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_ERR_INVALID);
    assert_msg_contains("not a regular file");
    /* A FIFO must not block the open. */
    path_in_tmp(path, sizeof(path), "fifo.key");
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(tm_keyfile_read_seed(path, seed), TM_ERR_INVALID);
    assert_msg_contains("not a regular file");
}

/* ---- CometBFT priv_validator_key.json ---- */

/* Written by CometBFT v0.38's privval.FilePV.Save for the seed a0 a1 ... bf. */
static const char cometbft_key_json[] =
    "{\n"
    "  \"address\": \"A18112B0B7B4225FF30527E0F7CF7A1E3742F632\",\n"
    "  \"pub_key\": {\n"
    "    \"type\": \"tendermint/PubKeyEd25519\",\n"
    "    \"value\": \"T9CZzNR9eJPf6ewkQU7LDZtUICMqrTDZHEZb4zy+ZcQ=\"\n"
    "  },\n"
    "  \"priv_key\": {\n"
    "    \"type\": \"tendermint/PrivKeyEd25519\",\n"
    "    \"value\": "
    "\"oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr9P0JnM1H14k9/p7CRBTssNm1QgIyqtMNkcRlvjPL5lxA==\"\n"
    "  }\n"
    "}";

/* cometbft_key_json with the first occurrence of `from` replaced by `to`. */
static void write_variant(const char *path, const char *from, const char *to, mode_t mode)
{
    char buf[2048];
    const char *at = strstr(cometbft_key_json, from);
    assert_non_null(at);
    int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - cometbft_key_json), cometbft_key_json, to,
                     at + strlen(from));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    write_file(path, buf, mode);
}

static void test_import_cometbft(void **state)
{
    (void)state;
    char path[512], b64[TM_PUBKEY_BASE64_SIZE], addr[TM_ADDRESS_HEX_SIZE];
    uint8_t seed[32], want[32];
    for (int i = 0; i < 32; i++)
        want[i] = (uint8_t)(0xA0 + i);
    path_in_tmp(path, sizeof(path), "priv_validator_key.json");
    write_file(path, cometbft_key_json, 0600);
    assert_int_equal(tm_keyfile_import_cometbft(path, seed), TM_OK);
    assert_memory_equal(seed, want, 32);
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    assert_int_equal(tm_pubkey_base64(signer->pubkey, b64, sizeof(b64)), TM_OK);
    assert_string_equal(b64, "T9CZzNR9eJPf6ewkQU7LDZtUICMqrTDZHEZb4zy+ZcQ=");
    assert_int_equal(tm_pubkey_address_hex(signer->pubkey, addr, sizeof(addr)), TM_OK);
    assert_string_equal(addr, "A18112B0B7B4225FF30527E0F7CF7A1E3742F632");
    tm_signer_destroy(signer);

    /* A lower-case address is the same address. */
    write_variant(path, "A18112B0B7B4225FF30527E0F7CF7A1E3742F632",
                  "a18112b0b7b4225ff30527e0f7cf7a1e3742f632", 0600);
    assert_int_equal(tm_keyfile_import_cometbft(path, seed), TM_OK);

    write_file(path, cometbft_key_json, 0644);
    assert_int_equal(tm_keyfile_import_cometbft(path, seed), TM_ERR_PERMISSION);
}

/* Export is import's inverse, and byte for byte the file CometBFT writes for that key. */
static void test_export_cometbft(void **state)
{
    (void)state;
    char path[512], in[512];
    uint8_t seed[32], back[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0xA0 + i);
    path_in_tmp(path, sizeof(path), "exported_priv_validator_key.json");
    unlink(path);
    assert_int_equal(tm_keyfile_export_cometbft(seed, path), TM_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(tm_keyfile_import_cometbft(path, back), TM_OK);
    assert_memory_equal(seed, back, 32);
    /* The same fields as the CometBFT-written fixture of that key (whitespace aside). */
    path_in_tmp(in, sizeof(in), "fixture_priv_validator_key.json");
    write_file(in, cometbft_key_json, 0600);
    json_t *a = json_load_file(path, 0, NULL), *b = json_load_file(in, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    assert_int_equal(tm_keyfile_export_cometbft(seed, path), TM_ERR_EXISTS);
}

static void test_import_cometbft_refusals(void **state)
{
    (void)state;
    char path[512];
    uint8_t seed[32];
    path_in_tmp(path, sizeof(path), "bad_priv_validator_key.json");
    static const struct {
        const char *from, *to;
        tm_status status;
        const char *msg;
    } cases[] = {
        /* pub_key of the RFC 8032 key: valid, but not this seed's */
        {"T9CZzNR9eJPf6ewkQU7LDZtUICMqrTDZHEZb4zy+ZcQ=", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
         TM_ERR_CRYPTO, "pub_key does not match priv_key"},
        {"A18112B0B7B4225FF30527E0F7CF7A1E3742F632", "A18112B0B7B4225FF30527E0F7CF7A1E3742F633",
         TM_ERR_CRYPTO, "does not match the public key (expected A18112B0B7B4225FF30527E0F7CF7A1E3742F632)"},
        {"A18112B0B7B4225FF30527E0F7CF7A1E3742F632", "A18112B0", TM_ERR_CRYPTO, "address"},
        /* the public half of priv_key altered */
        {"PL5lxA==", "PL5lxQ==", TM_ERR_CRYPTO, "public half does not match its seed"},
        {"tendermint/PrivKeyEd25519", "tendermint/PrivKeySecp256k1", TM_ERR_INVALID, "only ed25519 keys"},
        {"tendermint/PubKeyEd25519", "tendermint/PubKeySecp256k1", TM_ERR_INVALID, "pub_key.type"},
        {"oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr9P0JnM1H14k9/p7CRBTssNm1QgIyqtMNkcRlvjPL5lxA==",
         "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=", TM_ERR_INVALID,
         "priv_key.value holds 32 bytes; expected 64"},
        {"oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr9P0JnM1H14k9/p7CRBTssNm1QgIyqtMNkcRlvjPL5lxA==", "%%%%",
         TM_ERR_INVALID, "priv_key.value is not valid base64"},
        {"\"address\": \"A18112B0B7B4225FF30527E0F7CF7A1E3742F632\",", "", TM_ERR_INVALID,
         "address is missing"},
        {"\"type\": \"tendermint/PubKeyEd25519\",", "", TM_ERR_INVALID, "pub_key.type is missing"},
        {"\"priv_key\"", "\"private_key\"", TM_ERR_INVALID, "priv_key is missing"},
        {"\"address\"", "\"pub_key\"", TM_ERR_INVALID, "not valid JSON"}, /* duplicate key */
        {"{\n  \"address\"", "[\n  \"address\"", TM_ERR_INVALID, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_variant(path, cases[i].from, cases[i].to, 0600);
        tm_err_clear();
        tm_status got = tm_keyfile_import_cometbft(path, seed);
        if (got != cases[i].status)
            fail_msg("case %zu: status %s, want %s (%s)", i, tm_status_name(got),
                     tm_status_name(cases[i].status), tm_err_msg());
        assert_msg_contains(cases[i].msg);
    }
}

/* jansson's own error text quotes the input near the error; ours must not. */
static void test_import_error_does_not_leak_key(void **state)
{
    (void)state;
    char path[512];
    uint8_t seed[32];
    path_in_tmp(path, sizeof(path), "leak.json");
    write_variant(
        path, "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr9P0JnM1H14k9/p7CRBTssNm1QgIyqtMNkcRlvjPL5lxA==\"",
        "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr9P0JnM1H14k9/p7CRBTssNm1QgIyqtMNkcRlvjPL5lxA==\n", 0600);
    assert_int_equal(tm_keyfile_import_cometbft(path, seed), TM_ERR_INVALID);
    assert_msg_contains("not valid JSON (line");
    assert_null(strstr(tm_err_msg(), "oKGio6"));
}

/* ---- bech32: BIP-173 test vectors ---- */

static void test_bech32_valid_vectors(void **state)
{
    (void)state;
    static const char *valid[] = {
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        char hrp[100], again[120], lower[120];
        uint8_t words[100];
        size_t n = 0;
        if (tm_bech32_decode_words(valid[i], 90, hrp, sizeof(hrp), words, sizeof(words), &n) != TM_OK)
            fail_msg("%s: %s", valid[i], tm_err_msg());
        assert_int_equal(tm_bech32_encode_words(hrp, words, n, again, sizeof(again)), TM_OK);
        size_t len = strlen(valid[i]);
        for (size_t j = 0; j <= len; j++)
            lower[j] =
                (char)((valid[i][j] >= 'A' && valid[i][j] <= 'Z') ? valid[i][j] - 'A' + 'a' : valid[i][j]);
        assert_string_equal(again, lower);
        /* Flipping one data character breaks the checksum. */
        char broken[120];
        memcpy(broken, lower, len + 1);
        broken[len - 1] = broken[len - 1] == 'q' ? 'p' : 'q';
        assert_int_not_equal(tm_bech32_decode_words(broken, 90, hrp, sizeof(hrp), words, sizeof(words), &n),
                             TM_OK);
    }
}

static void test_bech32_invalid_vectors(void **state)
{
    (void)state;
    static const char *invalid[] = {
        "\x20"
        "1nwldj5", /* HRP character out of range */
        "\x7f"
        "1axkwrx", /* HRP character out of range */
        "\x80"
        "1eym55h", /* HRP character out of range */
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", /* too
                                                                                                          long
                                                                                                        */
        "pzry9x0s0muk",  /* no separator */
        "1pzry9x0s0muk", /* empty HRP */
        "x1b4n0q5v",     /* invalid data character */
        "li1dgmt3",      /* too short checksum */
        "de1lg7wt\xff",  /* invalid character in checksum */
        "A1G7SGD8",      /* checksum calculated with upper-case HRP */
        "10a06t8",       /* empty HRP */
        "1qzzfhee",      /* empty HRP */
        "a12UEL5L",      /* mixed case */
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        char hrp[100];
        uint8_t words[100];
        size_t n = 0;
        if (tm_bech32_decode_words(invalid[i], 90, hrp, sizeof(hrp), words, sizeof(words), &n) == TM_OK)
            fail_msg("invalid vector %zu accepted", i);
    }
}

/* BIP-173's segwit example: witness version word, then the program regrouped to bytes. */
static void test_bech32_segwit_vector(void **state)
{
    (void)state;
    char hrp[16], out[100];
    uint8_t words[64], program[40], want[20];
    size_t n = 0, len = 0;
    assert_int_equal(tm_bech32_decode_words("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", 90, hrp,
                                            sizeof(hrp), words, sizeof(words), &n),
                     TM_OK);
    assert_string_equal(hrp, "bc");
    assert_int_equal(words[0], 0);
    hex_to_bin("751e76e8199196d454941c45d1b3a323f1433bd6", want, sizeof(want));
    /* Re-encode the program through the byte encoder and decode it back. */
    char sub[100];
    assert_int_equal(tm_bech32_encode_words("bc", words + 1, n - 1, sub, sizeof(sub)), TM_OK);
    assert_int_equal(tm_bech32_decode(sub, 90, hrp, sizeof(hrp), program, sizeof(program), &len), TM_OK);
    assert_int_equal(len, 20);
    assert_memory_equal(program, want, 20);
    assert_int_equal(tm_bech32_encode("bc", want, 20, out, sizeof(out)), TM_OK);
    assert_string_equal(out, sub);
    /* Output buffer bound: one byte short fails. */
    assert_int_equal(tm_bech32_encode("bc", want, 20, out, strlen(sub)), TM_ERR_TOO_LARGE);
}

/* ---- public key renderings ---- */

/* tendermint-rs / tmkms public_key.rs test: EXAMPLE_CONSENSUS_KEY and its bech32 form. */
static void test_pubkey_amino_bech32(void **state)
{
    (void)state;
    uint8_t pk[32], back[32];
    char out[128], hrp[64];
    hex_to_bin("4a25c6640a1f72b9c975338294ef51b6d1c33158bb6ecba69fbc3fb5a33c9dce", pk, sizeof(pk));
    assert_int_equal(tm_pubkey_bech32(pk, "cosmosvalconspub", out, sizeof(out)), TM_OK);
    assert_string_equal(
        out, "cosmosvalconspub1zcjduepqfgjuveq2raetnjt4xwpffm63kmguxv2chdhvhf5lhslmtgeunh8qmf7exk");
    assert_int_equal(tm_pubkey_from_bech32(out, hrp, sizeof(hrp), back), TM_OK);
    assert_string_equal(hrp, "cosmosvalconspub");
    assert_memory_equal(back, pk, 32);
    /* Same key, another chain's prefix: only the hrp and checksum change. */
    assert_int_equal(tm_pubkey_bech32(pk, "crocnclconspub", out, sizeof(out)), TM_OK);
    assert_int_equal(
        strncmp(out, "crocnclconspub1zcjduepqfgjuveq2raetnjt4xwpffm63kmguxv2chdhvhf5lhslmtgeunh8q",
                strlen("crocnclconspub1zcjduepqfgjuveq2raetnjt4xwpffm63kmguxv2chdhvhf5lhslmtgeunh8q")),
        0);
    assert_int_equal(tm_pubkey_from_bech32(out, hrp, sizeof(hrp), back), TM_OK);
    assert_memory_equal(back, pk, 32);
    assert_int_equal(tm_pubkey_bech32(pk, "", out, sizeof(out)), TM_ERR_INVALID);
    assert_int_equal(tm_pubkey_bech32(pk, "cosmosvalconspub", out, 80), TM_ERR_TOO_LARGE);
    /* A bech32 string that is not an amino ed25519 key is refused. */
    assert_int_equal(tm_pubkey_from_bech32("a12uel5l", hrp, sizeof(hrp), back), TM_ERR_INVALID);
}

static void test_pubkey_renderings(void **state)
{
    (void)state;
    uint8_t pk[32];
    char out[128];
    hex_to_bin(rfc_pub_hex, pk, sizeof(pk));
    assert_int_equal(tm_pubkey_base64(pk, out, sizeof(out)), TM_OK);
    assert_string_equal(out, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    assert_int_equal(tm_pubkey_base64(pk, out, TM_PUBKEY_BASE64_SIZE - 1), TM_ERR_TOO_LARGE);
    assert_int_equal(tm_pubkey_cometbft_json(pk, out, sizeof(out)), TM_OK);
    assert_string_equal(
        out,
        "{\"type\":\"tendermint/PubKeyEd25519\",\"value\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}");
    assert_int_equal(tm_pubkey_cometbft_json(pk, out, 40), TM_ERR_TOO_LARGE);
    /* tendermint-rs public_key.rs: EXAMPLE_SECRET_CONN_KEY's ID. */
    hex_to_bin("f7feb0b5ba0760b2c58893e329475d1ea81781dd636e37144b6d599ad38aa825", pk, sizeof(pk));
    assert_int_equal(tm_pubkey_address_hex(pk, out, sizeof(out)), TM_OK);
    assert_string_equal(out, "117C95C4FD7E636C38D303493302D2C271A39669");
    assert_int_equal(tm_pubkey_node_id(pk, out, sizeof(out)), TM_OK);
    assert_string_equal(out, "117c95c4fd7e636c38d303493302d2c271a39669");
    assert_int_equal(tm_pubkey_address_hex(pk, out, TM_ADDRESS_HEX_SIZE - 1), TM_ERR_TOO_LARGE);
}

/* tm_process_harden, in a child (it changes the process): afterwards the process is not
 * dumpable and may write no core file, and a second call is harmless. Exit code 0 when
 * all holds, the number of the failed check otherwise. */
static int harden_child(void)
{
    struct rlimit before;
    if (getrlimit(RLIMIT_CORE, &before) != 0) return 1;
    if (tm_process_harden() != TM_OK) return 2;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 3;
    struct rlimit after;
    if (getrlimit(RLIMIT_CORE, &after) != 0 || after.rlim_cur != 0 || after.rlim_max != 0) return 4;
    if (tm_process_harden() != TM_OK) return 5;
    return 0;
}

static void test_process_harden(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(harden_child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent was not changed. */
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vector1),
        cmocka_unit_test(test_process_harden),
        cmocka_unit_test(test_keyfile_round_trip),
        cmocka_unit_test(test_keyfile_trailing_whitespace),
        cmocka_unit_test(test_keyfile_permissions),
        cmocka_unit_test(test_keyfile_never_overwrites),
        cmocka_unit_test(test_keyfile_symlink_read_checks_target),
        cmocka_unit_test(test_keyfile_bad_contents),
        cmocka_unit_test(test_keyfile_not_regular),
        cmocka_unit_test(test_import_cometbft),
        cmocka_unit_test(test_import_cometbft_refusals),
        cmocka_unit_test(test_export_cometbft),
        cmocka_unit_test(test_import_error_does_not_leak_key),
        cmocka_unit_test(test_bech32_valid_vectors),
        cmocka_unit_test(test_bech32_invalid_vectors),
        cmocka_unit_test(test_bech32_segwit_vector),
        cmocka_unit_test(test_pubkey_amino_bech32),
        cmocka_unit_test(test_pubkey_renderings),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
