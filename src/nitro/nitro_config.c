/* The helper's flat tmkms.toml (see tmkms/nitro/config.h). One table of keys drives the
 * parse, so every key is checked the same way and an unknown one is an error. */
#include "tmkms/nitro/config.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/signer.h"
#include "tmkms/toml.h"

typedef enum { K_STRING, K_PATH, K_SECRET, K_U32, K_HEIGHT } key_kind;

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): small static tables, fields as initialized
typedef struct {
    const char *name;
    key_kind kind;
    size_t offset;
    bool required;
} key_spec;

#define AT(field) offsetof(tm_nitro_config, field)
static const key_spec top_keys[] = {
    {"address", K_STRING, AT(address), true},
    {"chain_id", K_STRING, AT(chain_id), true},
    {"sealed_consensus_key_path", K_PATH, AT(sealed_consensus_key_path), true},
    {"sealed_id_key_path", K_PATH, AT(sealed_id_key_path), false},
    {"state_file_path", K_PATH, AT(state_file_path), true},
    {"enclave_config_cid", K_U32, AT(enclave_config_cid), true},
    {"enclave_config_port", K_U32, AT(enclave_config_port), true},
    {"enclave_state_port", K_U32, AT(enclave_state_port), true},
    {"enclave_tendermint_conn", K_U32, AT(enclave_tendermint_conn), true},
    {"aws_region", K_STRING, AT(aws_region), true},
    {"max_height", K_HEIGHT, AT(max_height), false},
};
static const key_spec credential_keys[] = {
    {"aws_key_id", K_SECRET, AT(aws_key_id), true},
    {"aws_secret_key", K_SECRET, AT(aws_secret_key), true},
    {"aws_session_token", K_SECRET, AT(aws_session_token), true},
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *name, *dir;
} ctx;

__attribute__((format(printf, 3, 4))) static void cfg_error_msg(const ctx *c, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tm_err_set(TM_ERR_CONFIG, "%s:%d: %s", c->name, line, msg);
}
/* Records the message; the value is TM_ERR_CONFIG, in sight of a static analyzer (which
 * does not follow calls into variadic functions). */
#define cfg_error(c, line, ...) (cfg_error_msg((c), (line), __VA_ARGS__), TM_ERR_CONFIG)

static tm_status set_string(const ctx *c, const key_spec *k, const tm_toml_value *v, tm_nitro_config *cfg)
{
    if (v->type != TM_TOML_STRING || strlen(v->u.str.ptr) != v->u.str.len || v->u.str.len == 0)
        return cfg_error(c, v->line, "%s: expected a non-empty string", k->name);
    char *s;
    if (k->kind == K_PATH && v->u.str.ptr[0] != '/') {
        size_t n = strlen(c->dir) + 1 + v->u.str.len + 1;
        s = malloc(n);
        if (s) snprintf(s, n, "%s/%s", c->dir, v->u.str.ptr);
    } else if (k->kind == K_SECRET) {
        s = sodium_malloc(v->u.str.len + 1);
        if (s) memcpy(s, v->u.str.ptr, v->u.str.len + 1);
    } else {
        s = strdup(v->u.str.ptr);
    }
    TM_ENSURE(s != NULL, TM_ERR_NOMEM, "out of memory");
    *(char **)((char *)cfg + k->offset) = s;
    return TM_OK;
}

static tm_status set_value(const ctx *c, const key_spec *k, const tm_toml_value *v, tm_nitro_config *cfg)
{
    void *field = (char *)cfg + k->offset;
    if (k->kind == K_U32) {
        if (v->type != TM_TOML_INTEGER || v->u.integer < 0 || v->u.integer > UINT32_MAX)
            return cfg_error(c, v->line, "%s: expected an integer 0..4294967295", k->name);
        *(uint32_t *)field = (uint32_t)v->u.integer;
        return TM_OK;
    }
    if (k->kind == K_HEIGHT) {
        if (v->type != TM_TOML_INTEGER || v->u.integer < 0)
            return cfg_error(c, v->line, "%s: expected a non-negative integer", k->name);
        *(int64_t *)field = v->u.integer;
        return TM_OK;
    }
    return set_string(c, k, v, cfg);
}

/* Apply `table` to cfg through `specs`; an unknown key or a missing required one is an
 * error at its line (the table's own line for a missing key). */
static tm_status apply(const ctx *c, const tm_toml_value *table, const key_spec *specs, size_t n, const char *skip,
                       tm_nitro_config *cfg)
{
    for (size_t i = 0; i < table->u.table.len; i++) {
        const char *key = table->u.table.keys[i];
        const tm_toml_value *v = table->u.table.values[i];
        if (skip && strcmp(key, skip) == 0) continue;
        size_t j = 0;
        while (j < n && strcmp(specs[j].name, key) != 0) j++;
        if (j == n) return cfg_error(c, v->line, "unknown key '%s'", key);
        TM_TRY(set_value(c, &specs[j], v, cfg));
    }
    for (size_t j = 0; j < n; j++)
        if (specs[j].required && !tm_toml_get(table, specs[j].name))
            return cfg_error(c, table->line, "missing key '%s'", specs[j].name);
    return TM_OK;
}

static tm_status check_address(const ctx *c, const tm_toml_value *root, const tm_nitro_config *cfg)
{
    const char *a = cfg->address;
    int line = tm_toml_get(root, "address")->line;
    if (strncmp(a, "unix://", 7) == 0 && a[7] == '/') return TM_OK;
    if (strncmp(a, "tcp://", 6) == 0 || strncmp(a, "noise://", 8) == 0) {
        if (!cfg->sealed_id_key_path)
            return cfg_error(c, line, "address: %s needs sealed_id_key_path (the sealed identity key)", a);
        return TM_OK;
    }
    return cfg_error(c, line, "address: '%s' is not unix:///PATH, tcp://... or noise://...", a);
}

/* The credentials' copies in the parse tree are freed with plain free(): wipe them first. */
static void wipe_credentials(const tm_toml_value *cred)
{
    for (size_t i = 0; cred && cred->type == TM_TOML_TABLE && i < cred->u.table.len; i++) {
        const tm_toml_value *v = cred->u.table.values[i];
        if (v->type == TM_TOML_STRING) sodium_memzero(v->u.str.ptr, v->u.str.len);
    }
}

tm_status tm_nitro_config_parse(const char *text, size_t len, const char *name, const char *dir,
                                tm_nitro_config **out)
{
    ctx c = {name, dir};
    tm_toml_value *root = NULL;
    TM_TRY(tm_crypto_init()); /* sodium_malloc for the credentials */
    TM_TRY(tm_toml_parse(text, len, name, &root));
    tm_nitro_config *cfg = calloc(1, sizeof(*cfg));
    tm_status status = TM_OK;
    if (!cfg) {
        tm_err_set(TM_ERR_NOMEM, "out of memory");
        status = TM_ERR_NOMEM;
    }
    if (status == TM_OK) status = apply(&c, root, top_keys, N(top_keys), "credentials", cfg);
    const tm_toml_value *cred = tm_toml_get(root, "credentials");
    if (status == TM_OK && cred) {
        if (cred->type != TM_TOML_TABLE)
            status = cfg_error(&c, cred->line, "credentials: expected a table of aws_key_id, aws_secret_key, "
                                              "aws_session_token");
        else
            status = apply(&c, cred, credential_keys, N(credential_keys), NULL, cfg);
        cfg->has_credentials = status == TM_OK;
    }
    if (status == TM_OK) status = check_address(&c, root, cfg);
    wipe_credentials(cred);
    tm_toml_free(root);
    if (status != TM_OK) {
        tm_nitro_config_free(cfg);
        return status;
    }
    *out = cfg;
    return TM_OK;
}

tm_status tm_nitro_config_load(const char *path, tm_nitro_config **out)
{
    FILE *f = fopen(path, "rb");
    TM_ENSURE(f != NULL, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(1 << 20);
    size_t len = text ? fread(text, 1, 1 << 20, f) : 0;
    bool too_big = text && len == (1 << 20);
    (void)fclose(f);
    TM_ENSURE(text != NULL, TM_ERR_NOMEM, "out of memory");
    char *copy = strdup(path);
    tm_status status = copy ? TM_OK : tm_err_set(TM_ERR_NOMEM, "out of memory");
    if (status == TM_OK && too_big) status = tm_err_set(TM_ERR_CONFIG, "%s: larger than 1 MiB", path);
    if (status == TM_OK) status = tm_nitro_config_parse(text, len, path, dirname(copy), out);
    if (status == TM_OK) {
        (*out)->path = strdup(path);
        if (!(*out)->path) {
            tm_nitro_config_free(*out);
            status = tm_err_set(TM_ERR_NOMEM, "out of memory");
        }
    }
    free(copy);
    sodium_memzero(text, len); /* the credentials may be in it */
    free(text);
    return status;
}

void tm_nitro_config_free(tm_nitro_config *cfg)
{
    if (!cfg) return;
    free(cfg->path);
    free(cfg->address);
    free(cfg->chain_id);
    free(cfg->sealed_consensus_key_path);
    free(cfg->sealed_id_key_path);
    free(cfg->state_file_path);
    free(cfg->aws_region);
    sodium_free(cfg->aws_key_id); /* wipes */
    sodium_free(cfg->aws_secret_key);
    sodium_free(cfg->aws_session_token);
    free(cfg);
}
