/* enclave.toml → helper_enclave_config; see enclave_config.h for the format. */
#include "enclave_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmkms/toml.h"

#define MAX_ENCLAVE_CONFIG_SIZE (64u * 1024u)

typedef struct {
    const char *name; /* file name for messages */
    const char *dir;  /* folder for relative paths, or NULL */
} parse_ctx;

__attribute__((format(printf, 3, 4))) static void cfg_error_msg(const parse_ctx *ctx, int line, const char *fmt,
                                                                  ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tm_err_set(TM_ERR_CONFIG, "%s:%d: %s", ctx->name, line, msg);
}
/* Records the message; the value is TM_ERR_CONFIG, in sight of a static analyzer (which
 * does not follow calls into variadic functions). */
#define cfg_error(ctx, line, ...) (cfg_error_msg((ctx), (line), __VA_ARGS__), TM_ERR_CONFIG)

bool helper_valid_region(const char *region)
{
    size_t n = strnlen(region, ENCLAVE_REGION_MAX + 1);
    if (n < 4 || n > ENCLAVE_REGION_MAX || region[0] == '-' || region[n - 1] < '0' || region[n - 1] > '9')
        return false;
    int dashes = 0;
    for (size_t i = 0; i < n; i++) {
        char c = region[i];
        if (c == '-') {
            if (region[i + 1] == '-') return false;
            dashes++;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return dashes >= 2;
}

tm_status helper_kms_endpoint_region(const char *host, char *region, size_t cap)
{
    static const char *const prefixes[] = {"kms.", "kms-fips."};
    static const char suffix[] = ".amazonaws.com";
    size_t n = strnlen(host, ENCLAVE_HOST_MAX + 1), sl = sizeof(suffix) - 1;
    for (size_t i = 0; i < 2 && n <= ENCLAVE_HOST_MAX; i++) {
        size_t pl = strlen(prefixes[i]);
        if (n <= pl + sl || strncmp(host, prefixes[i], pl) != 0 || strcmp(host + n - sl, suffix) != 0) continue;
        size_t rl = n - pl - sl;
        if (rl >= cap) break;
        memcpy(region, host + pl, rl);
        region[rl] = 0;
        if (helper_valid_region(region)) return TM_OK;
    }
    if (cap > 0) region[0] = 0;
    return tm_err_set(TM_ERR_INVALID, "'%.128s' is not a KMS endpoint (kms.REGION.amazonaws.com)", host);
}

void helper_enclave_config_defaults(helper_enclave_config *cfg, const char *dir)
{
    memset(cfg, 0, sizeof(*cfg));
    if (dir != NULL)
        snprintf(cfg->enclave.eif_path, sizeof(cfg->enclave.eif_path), "%s/%s", dir, ENCLAVE_DEFAULT_EIF);
    else
        snprintf(cfg->enclave.eif_path, sizeof(cfg->enclave.eif_path), "%s", ENCLAVE_DEFAULT_EIF);
    cfg->enclave.cpu_count = ENCLAVE_DEFAULT_CPUS;
    cfg->enclave.memory_mib = ENCLAVE_DEFAULT_MEMORY_MIB;
    cfg->enclave.log_server_port = ENCLAVE_DEFAULT_LOG_PORT;
    cfg->proxy.local_port = PROXY_DEFAULT_LOCAL_PORT;
    snprintf(cfg->proxy.remote_addr, sizeof(cfg->proxy.remote_addr), "kms.%s.amazonaws.com", ENCLAVE_DEFAULT_REGION);
    snprintf(cfg->proxy.region, sizeof(cfg->proxy.region), "%s", ENCLAVE_DEFAULT_REGION);
    cfg->proxy.remote_port = PROXY_DEFAULT_REMOTE_PORT;
    cfg->proxy.num_workers = PROXY_DEFAULT_WORKERS;
    snprintf(cfg->proxy.config_file, sizeof(cfg->proxy.config_file), "%s", PROXY_DEFAULT_AWS_CONFIG);
}

/* ---- typed getters: every value is checked against its type and range ---- */

static tm_status get_int(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v,
                         int64_t min, int64_t max, int64_t *out)
{
    if (v->type != TM_TOML_INTEGER)
        return cfg_error(ctx, v->line, "%s.%s: expected an integer, found %s", table, key, tm_toml_type_name(v->type));
    if (v->u.integer < min || v->u.integer > max)
        return cfg_error(ctx, v->line, "%s.%s: %lld is out of range %lld..%lld", table, key, (long long)v->u.integer,
                         (long long)min, (long long)max);
    *out = v->u.integer;
    return TM_OK;
}

static tm_status get_str(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v, char *out,
                         size_t cap)
{
    if (v->type != TM_TOML_STRING)
        return cfg_error(ctx, v->line, "%s.%s: expected a string, found %s", table, key, tm_toml_type_name(v->type));
    if (v->u.str.len == 0 || strlen(v->u.str.ptr) != v->u.str.len)
        return cfg_error(ctx, v->line, "%s.%s: must be a non-empty string without NUL characters", table, key);
    if (v->u.str.len >= cap)
        return cfg_error(ctx, v->line, "%s.%s: longer than %zu bytes", table, key, cap - 1);
    memcpy(out, v->u.str.ptr, v->u.str.len + 1);
    return TM_OK;
}

static tm_status get_path(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v, char *out,
                          size_t cap)
{
    char raw[ENCLAVE_PATH_MAX];
    TM_TRY(get_str(ctx, table, key, v, raw, sizeof(raw)));
    int n = (raw[0] == '/' || ctx->dir == NULL) ? snprintf(out, cap, "%s", raw)
                                                : snprintf(out, cap, "%s/%s", ctx->dir, raw);
    if (n < 0 || (size_t)n >= cap) return cfg_error(ctx, v->line, "%s.%s: the resolved path is too long", table, key);
    return TM_OK;
}

static tm_status get_name(const parse_ctx *ctx, const tm_toml_value *v, char *out, size_t cap)
{
    TM_TRY(get_str(ctx, "enclave", "enclave_name", v, out, cap));
    for (const char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return cfg_error(ctx, v->line, "enclave.enclave_name: only letters, digits, '-', '_' and '.'");
    return TM_OK;
}

/* ---- [enclave] ---- */

static tm_status enclave_key(const parse_ctx *ctx, const char *k, const tm_toml_value *v, helper_enclave_opts *e)
{
    int64_t n = 0;
    if (strcmp(k, "eif_path") == 0) return get_path(ctx, "enclave", k, v, e->eif_path, sizeof(e->eif_path));
    if (strcmp(k, "enclave_name") == 0) return get_name(ctx, v, e->enclave_name, sizeof(e->enclave_name));
    if (strcmp(k, "debug_mode") == 0) {
        if (v->type != TM_TOML_BOOL) return cfg_error(ctx, v->line, "enclave.debug_mode: expected true or false");
        e->debug_mode = v->u.boolean;
        return TM_OK;
    }
    if (strcmp(k, "cpu_count") == 0) {
        TM_TRY(get_int(ctx, "enclave", k, v, 1, 1024, &n));
        e->cpu_count = (uint32_t)n;
    } else if (strcmp(k, "memory_mib") == 0) {
        TM_TRY(get_int(ctx, "enclave", k, v, 64, 16 * 1024 * 1024, &n));
        e->memory_mib = (uint64_t)n;
    } else if (strcmp(k, "enclave_cid") == 0) {
        /* 0-3 are reserved (hypervisor, local, host); nitro-cli wants 4..u32 max - 1. */
        TM_TRY(get_int(ctx, "enclave", k, v, 4, (int64_t)UINT32_MAX - 1, &n));
        e->enclave_cid = (uint32_t)n;
        e->has_cid = true;
    } else if (strcmp(k, "log_server_port") == 0) {
        TM_TRY(get_int(ctx, "enclave", k, v, 1, (int64_t)UINT32_MAX - 1, &n));
        e->log_server_port = (uint32_t)n;
    } else {
        return cfg_error(ctx, v->line, "enclave: unknown key '%s' (known: eif_path, cpu_count, memory_mib, "
                                       "debug_mode, enclave_cid, enclave_name, log_server_port)", k);
    }
    return TM_OK;
}

/* ---- [vsock_proxy] ---- */

static tm_status proxy_key(const parse_ctx *ctx, const char *k, const tm_toml_value *v, helper_proxy_opts *p)
{
    int64_t n = 0;
    if (strcmp(k, "remote_addr") == 0) {
        TM_TRY(get_str(ctx, "vsock_proxy", k, v, p->remote_addr, sizeof(p->remote_addr)));
        if (helper_kms_endpoint_region(p->remote_addr, p->region, sizeof(p->region)) != TM_OK)
            return cfg_error(ctx, v->line, "vsock_proxy.remote_addr: %s", tm_err_msg());
        return TM_OK;
    }
    if (strcmp(k, "config_file") == 0) return get_path(ctx, "vsock_proxy", k, v, p->config_file, sizeof(p->config_file));
    if (strcmp(k, "local_port") == 0) {
        TM_TRY(get_int(ctx, "vsock_proxy", k, v, 1, (int64_t)UINT32_MAX - 1, &n));
        p->local_port = (uint32_t)n;
    } else if (strcmp(k, "remote_port") == 0) {
        TM_TRY(get_int(ctx, "vsock_proxy", k, v, 443, 443, &n));
        p->remote_port = (uint16_t)n;
    } else if (strcmp(k, "num_workers") == 0) {
        TM_TRY(get_int(ctx, "vsock_proxy", k, v, 1, PROXY_MAX_WORKERS, &n));
        p->num_workers = (uint32_t)n;
    } else {
        return cfg_error(ctx, v->line, "vsock_proxy: unknown key '%s' (known: local_port, remote_addr, remote_port, "
                                       "num_workers, config_file)", k);
    }
    return TM_OK;
}

static tm_status parse_table(const parse_ctx *ctx, const char *name, const tm_toml_value *t, helper_enclave_config *cfg)
{
    if (t->type != TM_TOML_TABLE) return cfg_error(ctx, t->line, "%s: expected a table [%s]", name, name);
    bool enclave = strcmp(name, "enclave") == 0;
    for (size_t i = 0; i < t->u.table.len; i++) {
        const char *k = t->u.table.keys[i];
        const tm_toml_value *v = t->u.table.values[i];
        TM_TRY(enclave ? enclave_key(ctx, k, v, &cfg->enclave) : proxy_key(ctx, k, v, &cfg->proxy));
    }
    return TM_OK;
}

static tm_status parse_root(const parse_ctx *ctx, const tm_toml_value *root, helper_enclave_config *cfg)
{
    for (size_t i = 0; i < root->u.table.len; i++) {
        const char *k = root->u.table.keys[i];
        const tm_toml_value *v = root->u.table.values[i];
        if (strcmp(k, "enclave") != 0 && strcmp(k, "vsock_proxy") != 0)
            return cfg_error(ctx, v->line, "unknown key '%s' (an enclave.toml has [enclave] and [vsock_proxy])", k);
        TM_TRY(parse_table(ctx, k, v, cfg));
    }
    return TM_OK;
}

tm_status helper_enclave_config_parse(const char *text, size_t len, const char *name, const char *dir,
                                      helper_enclave_config *cfg)
{
    tm_toml_value *root = NULL;
    helper_enclave_config_defaults(cfg, dir);
    tm_status status = tm_toml_parse(text, len, name, &root);
    if (status == TM_OK) {
        parse_ctx ctx = {name, dir};
        status = parse_root(&ctx, root, cfg);
    }
    tm_toml_free(root);
    return status;
}

static tm_status read_small_file(const char *path, char **text, size_t *len)
{
    tm_status status = TM_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tm_err_set(errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "enclave config %s: %s", path,
                          strerror(errno));
    buf = malloc(MAX_ENCLAVE_CONFIG_SIZE + 1);
    TM_ENSURE_GOTO(buf != NULL, TM_ERR_NOMEM, "out of memory");
    size_t n = fread(buf, 1, MAX_ENCLAVE_CONFIG_SIZE + 1, f);
    TM_ENSURE_GOTO(!ferror(f), TM_ERR_IO, "enclave config %s: read error", path);
    TM_ENSURE_GOTO(n <= MAX_ENCLAVE_CONFIG_SIZE, TM_ERR_TOO_LARGE, "enclave config %s: larger than %u bytes", path,
                   MAX_ENCLAVE_CONFIG_SIZE);
    buf[n] = 0;
    *text = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    (void)fclose(f);
    return status;
}

tm_status helper_enclave_config_load(const char *path, helper_enclave_config *cfg)
{
    tm_status status = TM_OK;
    char *text = NULL, *dir = NULL, *abs = realpath(path, NULL);
    size_t len = 0;
    TM_ENSURE_GOTO(abs != NULL, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "enclave config %s: %s", path,
                   strerror(errno));
    dir = strdup(abs);
    TM_ENSURE_GOTO(dir != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(read_small_file(abs, &text, &len));
    TM_TRY_GOTO(helper_enclave_config_parse(text, len, path, dirname(dir), cfg));
out:
    free(text);
    free(dir);
    free(abs);
    return status;
}

tm_status helper_enclave_config_write_starter(const char *path, const char *region, const char *eif_path)
{
    TM_ENSURE(helper_valid_region(region), TM_ERR_INVALID, "'%.40s' is not an AWS region name", region);
    const char *eif = eif_path != NULL ? eif_path : ENCLAVE_DEFAULT_EIF;
    TM_ENSURE(strnlen(eif, ENCLAVE_PATH_MAX) < ENCLAVE_PATH_MAX && strpbrk(eif, "\"\\\n\r") == NULL, TM_ERR_INVALID,
              "eif path: too long or contains a quote, backslash or newline");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return tm_err_set(errno == EEXIST ? TM_ERR_EXISTS : TM_ERR_IO, "%s: %s", path,
                          errno == EEXIST ? "exists already, not overwritten" : strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return tm_err_set(TM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    fprintf(f,
            "# How tmkms-nitro-helper runs the enclave (nitro-cli run-enclave) and the vsock proxy\n"
            "# to AWS KMS. Relative paths are relative to this file's folder.\n\n"
            "[enclave]\n"
            "eif_path = \"%s\"\n"
            "cpu_count = %d\n"
            "memory_mib = %d\n"
            "# true runs the enclave with --debug-mode: its attestations carry an all-zero PCR0\n"
            "debug_mode = false\n"
            "# enclave_cid = 15   # fixed CID; absent: nitro-cli picks one\n"
            "log_server_port = %d\n\n"
            "[vsock_proxy]\n"
            "local_port = %d\n"
            "remote_addr = \"kms.%s.amazonaws.com\"\n"
            "remote_port = %d\n"
            "num_workers = %d\n"
            "config_file = \"%s\"\n",
            eif, ENCLAVE_DEFAULT_CPUS, ENCLAVE_DEFAULT_MEMORY_MIB, ENCLAVE_DEFAULT_LOG_PORT, PROXY_DEFAULT_LOCAL_PORT,
            region, PROXY_DEFAULT_REMOTE_PORT, PROXY_DEFAULT_WORKERS, PROXY_DEFAULT_AWS_CONFIG);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(path);
        return tm_err_set(TM_ERR_IO, "%s: write failed", path);
    }
    return TM_OK;
}
