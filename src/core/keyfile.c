/* Softsign key files: tmkms's base64 seed file and CometBFT's priv_validator_key.json.
 *
 * Every byte of a key file is read straight into sodium_malloc'd (locked, guarded) memory
 * with read(2), decoded there, and wiped when freed. Reading follows a symlink at the path
 * (secret mounts, e.g. Kubernetes', are symlinks into a data directory) but every check is
 * made on the opened descriptor: the file actually read must be a regular file with no
 * group/other permission bits, so there is no window between checking and reading.
 * Writing never follows a symlink and never replaces anything: O_CREAT|O_EXCL refuses an
 * existing path, a planted (even dangling) symlink included. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/signer.h"

/* A base64 seed file is 44 bytes; a priv_validator_key.json about 350. */
#define KEYFILE_MAX_BYTES 4096
#define KEYJSON_MAX_BYTES 16384
#define COMETBFT_PRIVKEY_LEN 64

#define PUBKEY_TYPE "tendermint/PubKeyEd25519"
#define PRIVKEY_TYPE "tendermint/PrivKeyEd25519"

/* Locked memory holding a secret; freed (and wiped) by sodium_free. */
typedef struct {
    uint8_t *data;
    size_t len;
} secret_buf;

static void secret_buf_free(secret_buf *b)
{
    sodium_free(b->data);
    b->data = NULL;
    b->len = 0;
}

static tm_status open_failed(const char *path, const char *what)
{
    int err = errno;
    if (err == ENOENT) return tm_err_set(TM_ERR_NOT_FOUND, "%s %s does not exist", what, path);
    return tm_err_set(TM_ERR_IO, "cannot open %s %s: %s", what, path, strerror(err));
}

static tm_status check_secret_file_stat(const struct stat *st, const char *path, const char *what)
{
    TM_ENSURE(S_ISREG(st->st_mode), TM_ERR_INVALID, "%s %s is not a regular file", what, path);
    unsigned mode = (unsigned)(st->st_mode & 07777);
    TM_ENSURE((mode & (S_IRGRP | S_IROTH)) == 0, TM_ERR_PERMISSION,
              "%s %s is readable by group/others (mode %04o); run chmod 600 %s", what, path, mode, path);
    TM_ENSURE((mode & (S_IRWXG | S_IRWXO)) == 0, TM_ERR_PERMISSION,
              "%s %s is writable or executable by group/others (mode %04o); run chmod 600 %s", what, path,
              mode, path);
    return TM_OK;
}

/* Read all of `fd` into a fresh locked buffer of expected_len + 1 bytes; one byte more
 * than fstat announced means the file is changing under us. */
static tm_status read_fd_locked(int fd, size_t expected_len, const char *path, const char *what,
                                secret_buf *out)
{
    size_t cap = expected_len + 1;
    out->data = sodium_malloc(cap);
    out->len = 0;
    TM_ENSURE(out->data != NULL, TM_ERR_NOMEM, "cannot allocate locked memory to read %s %s", what, path);
    while (out->len < cap) {
        ssize_t n = read(fd, out->data + out->len, cap - out->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            tm_status st = tm_err_set(TM_ERR_IO, "cannot read %s %s: %s", what, path, strerror(errno));
            secret_buf_free(out);
            return st;
        }
        if (n == 0) break;
        out->len += (size_t)n;
    }
    if (out->len > expected_len) {
        secret_buf_free(out);
        return tm_err_set(TM_ERR_IO, "%s %s changed while it was being read", what, path);
    }
    return TM_OK;
}

static tm_status read_secret_file(const char *path, const char *what, size_t max_len, secret_buf *out)
{
    tm_status status = TM_OK;
    out->data = NULL;
    out->len = 0;
    /* O_NONBLOCK: opening a FIFO planted at the path must not hang; regular files ignore it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return open_failed(path, what);
    struct stat st;
    TM_ENSURE_GOTO(fstat(fd, &st) == 0, TM_ERR_IO, "cannot stat %s %s: %s", what, path, strerror(errno));
    TM_TRY_GOTO(check_secret_file_stat(&st, path, what));
    TM_ENSURE_GOTO(st.st_size >= 0 && (size_t)st.st_size <= max_len, TM_ERR_TOO_LARGE,
                   "%s %s is %lld bytes; a key file is at most %zu", what, path, (long long)st.st_size,
                   max_len);
    TM_TRY_GOTO(read_fd_locked(fd, (size_t)st.st_size, path, what, out));
out:
    close(fd);
    return status;
}

static size_t trim_trailing_space(const uint8_t *data, size_t len)
{
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\n' || data[len - 1] == '\r' ||
                       data[len - 1] == '\t' || data[len - 1] == '\v' || data[len - 1] == '\f'))
        len--;
    return len;
}

/* Decode standard padded base64 (as Go and tmkms write it) into a fresh locked buffer. */
static tm_status base64_decode_locked(const char *b64, size_t b64_len, secret_buf *out)
{
    size_t cap = b64_len / 4 * 3 + 3;
    out->len = 0;
    out->data = sodium_malloc(cap);
    TM_ENSURE(out->data != NULL, TM_ERR_NOMEM, "cannot allocate locked memory");
    if (sodium_base642bin(out->data, cap, b64, b64_len, NULL, &out->len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        secret_buf_free(out);
        tm_err_set(TM_ERR_INVALID, "not valid base64");
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

static tm_status seed_length_error(const char *path, size_t len)
{
    if (len == 64 || len == 96)
        return tm_err_set(
            TM_ERR_INVALID,
            "key file %s holds %zu bytes: tmkms reads that as an expanded ed25519 secret key "
            "(YubiHSM export form), which is not supported here; a softsign key file holds base64 "
            "of the 32-byte seed (for a CometBFT priv_validator_key.json use 'tmkms softsign import')",
            path, len);
    return tm_err_set(TM_ERR_INVALID,
                      "key file %s holds %zu bytes; expected base64 of a 32-byte ed25519 seed", path, len);
}

tm_status tm_keyfile_read_seed(const char *path, uint8_t seed[TM_ED25519_SEED_LEN])
{
    tm_status status = TM_OK;
    secret_buf text = {0};
    secret_buf raw = {0};
    TM_TRY(tm_crypto_init());
    TM_TRY(read_secret_file(path, "key file", KEYFILE_MAX_BYTES, &text));
    size_t b64_len = trim_trailing_space(text.data, text.len);
    TM_ENSURE_GOTO(b64_len > 0, TM_ERR_INVALID, "key file %s is empty", path);
    status = base64_decode_locked((const char *)text.data, b64_len, &raw);
    if (status != TM_OK) {
        status = tm_err_set(
            status, "key file %s is not valid base64 (expected base64 of a 32-byte ed25519 seed)", path);
        goto out;
    }
    if (raw.len != TM_ED25519_SEED_LEN) {
        status = seed_length_error(path, raw.len);
        goto out;
    }
    memcpy(seed, raw.data, TM_ED25519_SEED_LEN);
out:
    secret_buf_free(&raw);
    secret_buf_free(&text);
    return status;
}

static tm_status write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return TM_ERR_IO;
        data += n;
        len -= (size_t)n;
    }
    return TM_OK;
}

/* Make the new directory entry durable: fsync the directory holding `path`. */
static tm_status fsync_parent_dir(const char *path)
{
    tm_status status = TM_OK;
    char *copy = strdup(path);
    TM_ENSURE(copy != NULL, TM_ERR_NOMEM, "out of memory");
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    TM_ENSURE_GOTO(fd >= 0, TM_ERR_IO, "cannot open directory %s to sync it: %s", dir, strerror(errno));
    if (fsync(fd) != 0) status = tm_err_set(TM_ERR_IO, "cannot sync directory %s: %s", dir, strerror(errno));
    close(fd);
out:
    free(copy);
    return status;
}

/* tmkms writes the base64 text without a trailing newline; so do we. */
static tm_status write_new_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return tm_err_set(TM_ERR_EXISTS, "key file %s already exists; refusing to overwrite it", path);
    if (fd < 0) return tm_err_set(TM_ERR_IO, "cannot create key file %s: %s", path, strerror(errno));
    tm_status status = write_all(fd, data, len);
    if (status == TM_OK && fsync(fd) != 0) status = TM_ERR_IO;
    if (status != TM_OK) tm_err_set(status, "cannot write key file %s: %s", path, strerror(errno));
    if (close(fd) != 0 && status == TM_OK)
        status = tm_err_set(TM_ERR_IO, "cannot write key file %s: %s", path, strerror(errno));
    if (status != TM_OK) {
        unlink(path); /* ours: created by this O_EXCL open; leave no half-written key behind */
        return status;
    }
    return fsync_parent_dir(path);
}

tm_status tm_keyfile_write_seed(const char *path, const uint8_t seed[TM_ED25519_SEED_LEN])
{
    TM_TRY(tm_crypto_init());
    size_t cap = sodium_base64_ENCODED_LEN(TM_ED25519_SEED_LEN, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = sodium_malloc(cap);
    TM_ENSURE(b64 != NULL, TM_ERR_NOMEM, "cannot allocate locked memory");
    sodium_bin2base64(b64, cap, seed, TM_ED25519_SEED_LEN, sodium_base64_VARIANT_ORIGINAL);
    tm_status status = write_new_file(path, (const uint8_t *)b64, strlen(b64));
    sodium_free(b64);
    return status;
}

/* ---- CometBFT priv_validator_key.json ---- */

static tm_status json_typed_value(const json_t *root, const char *field, const char *want_type,
                                  const char *path, const char **value)
{
    const json_t *obj = json_object_get(root, field);
    TM_ENSURE(json_is_object(obj), TM_ERR_INVALID, "%s: %s is missing or not an object", path, field);
    const char *type = json_string_value(json_object_get(obj, "type"));
    TM_ENSURE(type != NULL, TM_ERR_INVALID, "%s: %s.type is missing or not a string", path, field);
    TM_ENSURE(strcmp(type, want_type) == 0, TM_ERR_INVALID,
              "%s: %s.type is \"%.64s\"; only ed25519 keys (\"%s\") are supported", path, field, type,
              want_type);
    *value = json_string_value(json_object_get(obj, "value"));
    TM_ENSURE(*value != NULL, TM_ERR_INVALID, "%s: %s.value is missing or not a string", path, field);
    return TM_OK;
}

/* Decode `b64` into a locked buffer that must hold exactly `want` bytes. */
static tm_status decode_exact(const char *b64, size_t want, const char *path, const char *field,
                              secret_buf *out)
{
    tm_status status = base64_decode_locked(b64, strlen(b64), out);
    if (status != TM_OK) {
        tm_err_set(status, "%s: %s is not valid base64", path, field);
        return status;
    }
    if (out->len != want) {
        size_t got = out->len;
        secret_buf_free(out);
        tm_err_set(TM_ERR_INVALID, "%s: %s holds %zu bytes; expected %zu", path, field, got, want);
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

static tm_status derive_public_key(const uint8_t seed[TM_ED25519_SEED_LEN], uint8_t pk[TM_ED25519_PUBKEY_LEN])
{
    unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    TM_ENSURE(sk != NULL, TM_ERR_NOMEM, "cannot allocate locked memory");
    int rc = crypto_sign_seed_keypair(pk, sk, seed);
    sodium_free(sk);
    TM_ENSURE(rc == 0, TM_ERR_CRYPTO, "ed25519 key derivation failed");
    return TM_OK;
}

/* The file's three fields must agree: priv_key = seed || pk(seed), pub_key = pk(seed),
 * address = SHA-256(pk)[0..20]. A disagreement means a corrupt or hand-edited file, and
 * CometBFT itself would sign with the seed but announce the pubkey half. */
static tm_status check_consistency(const json_t *root, const uint8_t *privkey, const char *path)
{
    uint8_t derived[TM_ED25519_PUBKEY_LEN];
    secret_buf pub = {0};
    tm_status status = TM_OK;
    TM_TRY(derive_public_key(privkey, derived));
    TM_ENSURE(sodium_memcmp(derived, privkey + TM_ED25519_SEED_LEN, TM_ED25519_PUBKEY_LEN) == 0,
              TM_ERR_CRYPTO, "%s: priv_key.value's public half does not match its seed (corrupt key)", path);
    const char *pub_b64 = NULL;
    TM_TRY(json_typed_value(root, "pub_key", PUBKEY_TYPE, path, &pub_b64));
    TM_TRY(decode_exact(pub_b64, TM_ED25519_PUBKEY_LEN, path, "pub_key.value", &pub));
    TM_ENSURE_GOTO(memcmp(pub.data, derived, TM_ED25519_PUBKEY_LEN) == 0, TM_ERR_CRYPTO,
                   "%s: pub_key does not match priv_key", path);
    const char *address = json_string_value(json_object_get(root, "address"));
    TM_ENSURE_GOTO(address != NULL, TM_ERR_INVALID, "%s: address is missing or not a string", path);
    char expected[TM_ADDRESS_HEX_SIZE];
    TM_TRY_GOTO(tm_pubkey_address_hex(derived, expected, sizeof(expected)));
    TM_ENSURE_GOTO(strlen(address) == TM_ADDRESS_HEX_SIZE - 1 && strcasecmp(address, expected) == 0,
                   TM_ERR_CRYPTO, "%s: address \"%.64s\" does not match the public key (expected %s)", path,
                   address, expected);
out:
    secret_buf_free(&pub);
    return status;
}

tm_status tm_keyfile_parse_cometbft(const char *text, size_t len, const char *path,
                                    uint8_t seed[TM_ED25519_SEED_LEN])
{
    tm_status status = TM_OK;
    secret_buf priv = {0};
    json_error_t jerr;
    TM_TRY(tm_crypto_init());
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson's message quotes the text near the error, which may be key material: report
     * the position only, and wipe the error record. */
    if (root == NULL) {
        status = tm_err_set(TM_ERR_INVALID, "%s: not valid JSON (line %d, column %d)", path, jerr.line,
                            jerr.column);
        goto out;
    }
    TM_ENSURE_GOTO(json_is_object(root), TM_ERR_INVALID, "%s: expected a JSON object", path);
    const char *priv_b64 = NULL;
    TM_TRY_GOTO(json_typed_value(root, "priv_key", PRIVKEY_TYPE, path, &priv_b64));
    TM_TRY_GOTO(decode_exact(priv_b64, COMETBFT_PRIVKEY_LEN, path, "priv_key.value", &priv));
    TM_TRY_GOTO(check_consistency(root, priv.data, path));
    memcpy(seed, priv.data, TM_ED25519_SEED_LEN);
out:
    sodium_memzero(&jerr, sizeof(jerr));
    json_decref(root); /* frees through the wiping allocator (tm_crypto_init) */
    secret_buf_free(&priv);
    return status;
}

tm_status tm_keyfile_import_cometbft(const char *json_path, uint8_t seed[TM_ED25519_SEED_LEN])
{
    secret_buf text = {0};
    TM_TRY(tm_crypto_init());
    TM_TRY(read_secret_file(json_path, "key file", KEYJSON_MAX_BYTES, &text));
    tm_status status = tm_keyfile_parse_cometbft((const char *)text.data, text.len, json_path, seed);
    secret_buf_free(&text);
    return status;
}

/* CometBFT's priv_validator_key.json for a seed, written like a key file (0600, never over
 * an existing path). The text holds the private key, so it is built in locked memory with
 * snprintf, not through jansson. */
tm_status tm_keyfile_export_cometbft(const uint8_t seed[TM_ED25519_SEED_LEN], const char *json_path)
{
    TM_TRY(tm_crypto_init());
    tm_status status = TM_OK;
    uint8_t pk[TM_ED25519_PUBKEY_LEN];
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    size_t sk_b64_cap = sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL);
    char *sk_b64 = sodium_malloc(sk_b64_cap);
    const size_t text_cap = 512;
    char *text = sodium_malloc(text_cap);
    TM_ENSURE_GOTO(sk && sk_b64 && text, TM_ERR_NOMEM, "cannot allocate locked memory");
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2base64(sk_b64, sk_b64_cap, sk, crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL);
    char pk_b64[TM_PUBKEY_BASE64_SIZE], addr[TM_ADDRESS_HEX_SIZE];
    TM_TRY_GOTO(tm_pubkey_base64(pk, pk_b64, sizeof(pk_b64)));
    TM_TRY_GOTO(tm_pubkey_address_hex(pk, addr, sizeof(addr)));
    int n = snprintf(text, text_cap,
                     "{\n  \"address\": \"%s\",\n  \"pub_key\": {\n    \"type\": \"" PUBKEY_TYPE
                     "\",\n    \"value\": \"%s\"\n  },\n  \"priv_key\": {\n    \"type\": \"" PRIVKEY_TYPE
                     "\",\n    \"value\": \"%s\"\n  }\n}\n",
                     addr, pk_b64, sk_b64);
    TM_ENSURE_GOTO(n > 0 && (size_t)n < text_cap, TM_ERR_TOO_LARGE, "priv_validator_key.json text too long");
    TM_TRY_GOTO(write_new_file(json_path, (const uint8_t *)text, (size_t)n));
out:
    sodium_free(text);
    sodium_free(sk_b64);
    sodium_free(sk);
    return status;
}
