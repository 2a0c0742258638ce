/* tmkms.toml → tm_config. Every key is checked: unknown keys and wrong types are errors
 * with the file and line, so a typo never silently falls back to a default. */
#include "tmkms/config.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/metrics.h"
#include "tmkms/noise.h"
#include "tmkms/secretconn.h"
#include "tmkms/toml.h"

#define MAX_CONFIG_SIZE (1u << 20)

typedef struct {
    const char *file; /* for messages */
    const char *dir;
} parse_ctx;

__attribute__((format(printf, 3, 4))) static void config_error_msg(const parse_ctx *ctx, int line,
                                                                     const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tm_err_set(TM_ERR_CONFIG, "%s:%d: %s", ctx->file, line, msg);
}
/* Records the message; the value is TM_ERR_CONFIG, in sight of a static analyzer (which
 * does not follow calls into variadic functions). */
#define config_error(c, line, ...) (config_error_msg((c), (line), __VA_ARGS__), TM_ERR_CONFIG)

/* Resolve `path` against the config's directory unless absolute. */
static tm_status resolve_path(const parse_ctx *ctx, const char *path, char **out)
{
    size_t need = path[0] == '/' ? strlen(path) + 1 : strlen(ctx->dir) + 1 + strlen(path) + 1;
    char *p = malloc(need);
    if (!p) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    if (path[0] == '/')
        snprintf(p, need, "%s", path);
    else
        snprintf(p, need, "%s/%s", ctx->dir, path);
    *out = p;
    return TM_OK;
}

static tm_status want_type(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v,
                           tm_toml_type type)
{
    if (v->type == type) return TM_OK;
    char where[160];
    snprintf(where, sizeof(where), "%s%s%s", table, table[0] ? "." : "", key);
    return config_error(ctx, v->line, "%s: expected %s", where, tm_toml_type_name(type));
}

static tm_status get_string(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v,
                            char **out)
{
    TM_TRY(want_type(ctx, table, key, v, TM_TOML_STRING));
    if (strlen(v->u.str.ptr) != v->u.str.len)
        return config_error(ctx, v->line, "%s.%s: contains a NUL character", table, key);
    free(*out);
    *out = strdup(v->u.str.ptr);
    return *out ? TM_OK : tm_err_set(TM_ERR_NOMEM, "out of memory");
}

static tm_status get_bool(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v,
                          bool *out)
{
    TM_TRY(want_type(ctx, table, key, v, TM_TOML_BOOL));
    *out = v->u.boolean;
    return TM_OK;
}

/* tmkms writes some integers as strings ("max_height = \"1000\""): accept both. */
static tm_status get_int_or_string(const parse_ctx *ctx, const char *table, const char *key,
                                   const tm_toml_value *v, int64_t *out)
{
    if (v->type == TM_TOML_INTEGER) {
        *out = v->u.integer;
        return TM_OK;
    }
    if (v->type == TM_TOML_STRING) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(v->u.str.ptr, &end, 10);
        if (errno == 0 && end != v->u.str.ptr && *end == '\0' && v->u.str.ptr[0] != ' ') {
            *out = n;
            return TM_OK;
        }
    }
    return config_error(ctx, v->line, "%s.%s: expected an integer (or a string holding one)", table, key);
}

static tm_status parse_key_format(const parse_ctx *ctx, const tm_toml_value *v, tm_chain_config *chain)
{
    if (v->type == TM_TOML_STRING) { /* shorthand: key_format = "bech32" is not tmkms's; be explicit */
        return config_error(ctx, v->line, "chain.key_format: expected a table such as { type = \"%s\" }",
                            v->u.str.ptr);
    }
    TM_TRY(want_type(ctx, "chain", "key_format", v, TM_TOML_TABLE));
    char *type = NULL;
    tm_status status = TM_OK;
    for (size_t i = 0; i < v->u.table.len && status == TM_OK; i++) {
        const char *k = v->u.table.keys[i];
        const tm_toml_value *item = v->u.table.values[i];
        if (strcmp(k, "type") == 0)
            status = get_string(ctx, "chain.key_format", k, item, &type);
        else if (strcmp(k, "account_key_prefix") == 0)
            status = get_string(ctx, "chain.key_format", k, item, &chain->account_key_prefix);
        else if (strcmp(k, "consensus_key_prefix") == 0)
            status = get_string(ctx, "chain.key_format", k, item, &chain->consensus_key_prefix);
        else
            status = config_error(ctx, item->line, "chain.key_format: unknown key '%s'", k);
    }
    if (status != TM_OK) goto out;
    if (!type) {
        status = config_error(ctx, v->line, "chain.key_format: missing 'type'");
    } else if (strcmp(type, "bech32") == 0) {
        chain->key_format = TM_KEYFMT_BECH32;
        if (!chain->consensus_key_prefix)
            status = config_error(ctx, v->line, "chain.key_format: type bech32 needs consensus_key_prefix");
    } else if (strcmp(type, "cosmos-json") == 0) {
        chain->key_format = TM_KEYFMT_COSMOS_JSON;
    } else if (strcmp(type, "hex") == 0) {
        chain->key_format = TM_KEYFMT_HEX;
    } else {
        status = config_error(ctx, v->line, "chain.key_format.type: '%s' is not one of bech32, cosmos-json, hex",
                              type);
    }
out:
    free(type);
    return status;
}

static bool valid_chain_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TM_MAX_CHAIN_ID_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] == '/' || (unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e) return false;
    return true;
}

static tm_status parse_chain(const parse_ctx *ctx, const tm_toml_value *t, tm_chain_config *chain)
{
    chain->line = t->line;
    chain->sign_extensions = true;
    chain->key_format = TM_KEYFMT_BECH32;
    char *state_file = NULL;
    tm_status status = TM_OK;
    for (size_t i = 0; i < t->u.table.len && status == TM_OK; i++) {
        const char *k = t->u.table.keys[i];
        const tm_toml_value *v = t->u.table.values[i];
        if (strcmp(k, "id") == 0)
            status = get_string(ctx, "chain", k, v, &chain->id);
        else if (strcmp(k, "key_format") == 0)
            status = parse_key_format(ctx, v, chain);
        else if (strcmp(k, "state_file") == 0)
            status = get_string(ctx, "chain", k, v, &state_file);
        else if (strcmp(k, "sign_extensions") == 0)
            status = get_bool(ctx, "chain", k, v, &chain->sign_extensions);
        else
            status = config_error(ctx, v->line, "chain: unknown key '%s'", k);
    }
    if (status == TM_OK && !chain->id) status = config_error(ctx, t->line, "[[chain]]: missing 'id'");
    if (status == TM_OK && !valid_chain_id(chain->id))
        status = config_error(ctx, t->line,
                              "chain.id: '%s' is not a chain id (1-50 printable characters, no '/' or spaces)",
                              chain->id);
    if (status == TM_OK && chain->key_format == TM_KEYFMT_BECH32 && !chain->consensus_key_prefix) {
        chain->account_key_prefix = strdup("cosmospub");
        chain->consensus_key_prefix = strdup("cosmosvalconspub");
    }
    if (status == TM_OK) {
        if (state_file) {
            status = resolve_path(ctx, state_file, &chain->state_file);
        } else {
            char rel[128];
            snprintf(rel, sizeof(rel), "state/%s-consensus.state", chain->id);
            status = resolve_path(ctx, rel, &chain->state_file);
        }
    }
    free(state_file);
    return status;
}

/* noise://PEER_ID@host:port: a well-formed address and an identity key to present. */
static tm_status check_noise_addr(const parse_ctx *ctx, const tm_toml_value *t, const tm_validator_config *val,
                                  const char *secret_key)
{
    uint8_t pin[32];
    char host[256], port[8];
    if (tm_noise_parse_addr(val->addr, pin, host, port) != TM_OK)
        return config_error(ctx, t->line, "validator.addr: %s", tm_err_msg());
    if (!secret_key)
        return config_error(ctx, t->line,
                            "validator.secret_key: required for noise:// (the KMS's libp2p identity: tmkms softsign "
                            "keygen -t identity PATH)");
    return TM_OK;
}

static tm_status check_tcp_addr(const parse_ctx *ctx, const tm_toml_value *t, const tm_validator_config *val,
                                const char *secret_key)
{
    bool pinned;
    uint8_t pin[TM_SC_NODE_ID_LEN];
    char host[256], port[8];
    if (tm_sc_parse_addr(val->addr, &pinned, pin, host, port) != TM_OK)
        return config_error(ctx, t->line, "validator.addr: %s", tm_err_msg());
    if (!secret_key)
        return config_error(ctx, t->line,
                            "validator.secret_key: required for tcp:// (the KMS's Secret Connection identity: tmkms "
                            "softsign keygen -t identity PATH)");
    return TM_OK;
}

static tm_status parse_validator(const parse_ctx *ctx, const tm_toml_value *t, tm_validator_config *val)
{
    val->line = t->line;
    val->reconnect = true;
    char *secret_key = NULL;
    tm_status status = TM_OK;
    for (size_t i = 0; i < t->u.table.len && status == TM_OK; i++) {
        const char *k = t->u.table.keys[i];
        const tm_toml_value *v = t->u.table.values[i];
        if (strcmp(k, "addr") == 0)
            status = get_string(ctx, "validator", k, v, &val->addr);
        else if (strcmp(k, "chain_id") == 0)
            status = get_string(ctx, "validator", k, v, &val->chain_id);
        else if (strcmp(k, "reconnect") == 0)
            status = get_bool(ctx, "validator", k, v, &val->reconnect);
        else if (strcmp(k, "max_height") == 0)
            status = get_int_or_string(ctx, "validator", k, v, &val->max_height);
        else if (strcmp(k, "protocol_version") == 0)
            status = get_string(ctx, "validator", k, v, &val->protocol_version);
        else if (strcmp(k, "secret_key") == 0)
            status = get_string(ctx, "validator", k, v, &secret_key);
        else
            status = config_error(ctx, v->line, "validator: unknown key '%s'", k);
    }
    if (status == TM_OK && !val->addr) status = config_error(ctx, t->line, "[[validator]]: missing 'addr'");
    if (status == TM_OK && !val->chain_id)
        status = config_error(ctx, t->line, "[[validator]]: missing 'chain_id'");
    if (status == TM_OK && val->max_height < 0)
        status = config_error(ctx, t->line, "validator.max_height: must not be negative");
    if (status == TM_OK && strncmp(val->addr, "unix://", 7) != 0 && strncmp(val->addr, "tcp://", 6) != 0 &&
        strncmp(val->addr, "noise://", 8) != 0)
        status = config_error(ctx, t->line, "validator.addr: '%s' is not unix://PATH, tcp://... or noise://...",
                              val->addr);
    if (status == TM_OK && strncmp(val->addr, "noise://", 8) == 0) status = check_noise_addr(ctx, t, val, secret_key);
    if (status == TM_OK && strncmp(val->addr, "tcp://", 6) == 0) status = check_tcp_addr(ctx, t, val, secret_key);
    if (status == TM_OK && secret_key) status = resolve_path(ctx, secret_key, &val->secret_key);
    free(secret_key);
    return status;
}

static tm_status parse_softsign(const parse_ctx *ctx, const tm_toml_value *t, tm_softsign_config *ss)
{
    ss->line = t->line;
    char *path = NULL;
    tm_status status = TM_OK;
    for (size_t i = 0; i < t->u.table.len && status == TM_OK; i++) {
        const char *k = t->u.table.keys[i];
        const tm_toml_value *v = t->u.table.values[i];
        if (strcmp(k, "chain_ids") == 0) {
            status = want_type(ctx, "providers.softsign", k, v, TM_TOML_ARRAY);
            if (status != TM_OK) break;
            ss->chain_ids = calloc(v->u.array.len ? v->u.array.len : 1, sizeof(char *));
            if (!ss->chain_ids) {
                status = tm_err_set(TM_ERR_NOMEM, "out of memory");
                break;
            }
            for (size_t j = 0; j < v->u.array.len && status == TM_OK; j++) {
                status = get_string(ctx, "providers.softsign", "chain_ids[]", v->u.array.items[j], &ss->chain_ids[j]);
                if (status == TM_OK) ss->n_chain_ids++;
            }
        } else if (strcmp(k, "key_type") == 0) {
            status = get_string(ctx, "providers.softsign", k, v, &ss->key_type);
            if (status == TM_OK && strcmp(ss->key_type, "consensus") != 0 && strcmp(ss->key_type, "account") != 0 &&
                strcmp(ss->key_type, "identity") != 0)
                status = config_error(ctx, v->line,
                                      "providers.softsign.key_type: '%s' is not consensus, account or identity",
                                      ss->key_type);
        } else if (strcmp(k, "key_format") == 0) {
            status = get_string(ctx, "providers.softsign", k, v, &ss->key_format);
            if (status == TM_OK && strcmp(ss->key_format, "base64") != 0 && strcmp(ss->key_format, "json") != 0)
                status = config_error(ctx, v->line, "providers.softsign.key_format: '%s' is not base64 or json",
                                      ss->key_format);
        } else if (strcmp(k, "path") == 0) {
            status = get_string(ctx, "providers.softsign", k, v, &path);
        } else {
            status = config_error(ctx, v->line, "providers.softsign: unknown key '%s'", k);
        }
    }
    if (status == TM_OK && !path)
        status = config_error(ctx, t->line, "[[providers.softsign]]: missing 'path'");
    if (status == TM_OK && !ss->key_type) ss->key_type = strdup("consensus");
    if (status == TM_OK && !ss->key_format) ss->key_format = strdup("base64");
    if (status == TM_OK) status = resolve_path(ctx, path, &ss->path);
    free(path);
    return status;
}

/* An array of tables ([[x]]) → calls parse on each element into a calloc'd array. */
#define PARSE_TABLE_ARRAY(ctx, value, name, arr, count, parse)                                              \
    do {                                                                                                    \
        if ((value)->type != TM_TOML_ARRAY)                                                                 \
            return config_error((ctx), (value)->line, "%s: expected [[%s]] tables", (name), (name));        \
        (arr) = calloc((value)->u.array.len ? (value)->u.array.len : 1, sizeof(*(arr)));                    \
        if (!(arr)) return tm_err_set(TM_ERR_NOMEM, "out of memory");                                       \
        for (size_t i_ = 0; i_ < (value)->u.array.len; i_++) {                                              \
            const tm_toml_value *t_ = (value)->u.array.items[i_];                                           \
            if (t_->type != TM_TOML_TABLE)                                                                  \
                return config_error((ctx), t_->line, "%s: expected [[%s]] tables", (name), (name));         \
            (count)++;                                                                                      \
            TM_TRY(parse((ctx), t_, &(arr)[i_]));                                                           \
        }                                                                                                   \
    } while (0)

static tm_status parse_providers(const parse_ctx *ctx, const tm_toml_value *v, tm_config *cfg)
{
    TM_TRY(want_type(ctx, "", "providers", v, TM_TOML_TABLE));
    for (size_t i = 0; i < v->u.table.len; i++) {
        const char *k = v->u.table.keys[i];
        const tm_toml_value *item = v->u.table.values[i];
        if (strcmp(k, "softsign") == 0)
            PARSE_TABLE_ARRAY(ctx, item, "providers.softsign", cfg->softsign, cfg->n_softsign, parse_softsign);
        else
            return config_error(ctx, item->line, "providers.%s: provider not supported by tmkms-nitro", k);
    }
    return TM_OK;
}

/* [ha].endpoints: 1..TM_HA_MAX_ENDPOINTS http:// or https:// URLs. */
static tm_status parse_ha_endpoints(const parse_ctx *ctx, const tm_toml_value *v, tm_ha_config *ha)
{
    TM_TRY(want_type(ctx, "ha", "endpoints", v, TM_TOML_ARRAY));
    if (v->u.array.len == 0 || v->u.array.len > TM_HA_MAX_ENDPOINTS)
        return config_error(ctx, v->line, "ha.endpoints: expected 1 to %d URLs, got %zu", TM_HA_MAX_ENDPOINTS,
                            v->u.array.len);
    for (size_t j = 0; j < v->u.array.len; j++) {
        const tm_toml_value *e = v->u.array.items[j];
        TM_TRY(get_string(ctx, "ha", "endpoints[]", e, &ha->endpoints[j]));
        ha->n_endpoints = j + 1;
        const char *u = ha->endpoints[j];
        if ((strncmp(u, "http://", 7) != 0 || !u[7]) && (strncmp(u, "https://", 8) != 0 || !u[8]))
            return config_error(ctx, e->line, "ha.endpoints: '%s' is not an http:// or https:// URL", u);
    }
    return TM_OK;
}

static tm_status get_path(const parse_ctx *ctx, const char *table, const char *key, const tm_toml_value *v,
                          char **out)
{
    char *raw = NULL;
    TM_TRY(get_string(ctx, table, key, v, &raw));
    free(*out);
    *out = NULL;
    tm_status status = raw[0] ? resolve_path(ctx, raw, out) : config_error(ctx, v->line, "%s.%s: empty", table, key);
    free(raw);
    return status;
}

static tm_status parse_ha_key(const parse_ctx *ctx, const char *k, const tm_toml_value *v, tm_ha_config *ha)
{
    if (strcmp(k, "backend") == 0) return get_string(ctx, "ha", k, v, &ha->backend);
    if (strcmp(k, "endpoints") == 0) return parse_ha_endpoints(ctx, v, ha);
    if (strcmp(k, "key_prefix") == 0) return get_string(ctx, "ha", k, v, &ha->key_prefix);
    if (strcmp(k, "ca_file") == 0) return get_path(ctx, "ha", k, v, &ha->ca_file);
    if (strcmp(k, "cert_file") == 0) return get_path(ctx, "ha", k, v, &ha->cert_file);
    if (strcmp(k, "key_file") == 0) return get_path(ctx, "ha", k, v, &ha->key_file);
    if (strcmp(k, "request_timeout_ms") == 0) return get_int_or_string(ctx, "ha", k, v, &ha->request_timeout_ms);
    if (strcmp(k, "instance") == 0) return get_string(ctx, "ha", k, v, &ha->instance);
    return config_error(ctx, v->line, "ha: unknown key '%s'", k);
}

/* The defaults of what [ha] leaves out. */
static tm_status ha_defaults(tm_ha_config *ha)
{
    if (!ha->key_prefix && !(ha->key_prefix = strdup("/tmkms/"))) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    if (!ha->instance) {
        char host[256] = "tmkms";
        if (gethostname(host, sizeof(host) - 1) != 0) snprintf(host, sizeof(host), "tmkms");
        if (!(ha->instance = strdup(host))) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    }
    return TM_OK;
}

static tm_status parse_ha(const parse_ctx *ctx, const tm_toml_value *t, tm_ha_config *ha)
{
    TM_TRY(want_type(ctx, "", "ha", t, TM_TOML_TABLE));
    ha->enabled = true;
    ha->line = t->line;
    ha->request_timeout_ms = 1000;
    for (size_t i = 0; i < t->u.table.len; i++) TM_TRY(parse_ha_key(ctx, t->u.table.keys[i], t->u.table.values[i], ha));
    if (!ha->backend) return config_error(ctx, t->line, "[ha]: missing 'backend' (\"etcd\")");
    if (strcmp(ha->backend, "etcd") != 0)
        return config_error(ctx, t->line, "ha.backend: '%s' is not supported (only \"etcd\")", ha->backend);
    if (ha->n_endpoints == 0) return config_error(ctx, t->line, "[ha]: missing 'endpoints'");
    if (!ha->cert_file != !ha->key_file)
        return config_error(ctx, t->line, "[ha]: cert_file and key_file go together (mutual TLS)");
    if (ha->request_timeout_ms < 10 || ha->request_timeout_ms > 60000)
        return config_error(ctx, t->line, "ha.request_timeout_ms: %lld is not between 10 and 60000",
                            (long long)ha->request_timeout_ms);
    if (ha->key_prefix && (!ha->key_prefix[0] || strlen(ha->key_prefix) > 128))
        return config_error(ctx, t->line, "ha.key_prefix: must be 1 to 128 characters");
    if (ha->instance && (!ha->instance[0] || strlen(ha->instance) > 64))
        return config_error(ctx, t->line, "ha.instance: must be 1 to 64 characters");
    return ha_defaults(ha);
}

/* [metrics]: the section turns the endpoint on; loopback unless told otherwise. */
static tm_status parse_metrics(const parse_ctx *ctx, const tm_toml_value *t, tm_metrics_config *m)
{
    TM_TRY(want_type(ctx, "", "metrics", t, TM_TOML_TABLE));
    m->enabled = true;
    for (size_t i = 0; i < t->u.table.len; i++) {
        const char *k = t->u.table.keys[i];
        const tm_toml_value *v = t->u.table.values[i];
        if (strcmp(k, "listen") != 0) return config_error(ctx, v->line, "metrics: unknown key '%s'", k);
        TM_TRY(get_string(ctx, "metrics", k, v, &m->listen));
        struct sockaddr_storage ss;
        if (tm_metrics_parse_addr(m->listen, &ss) != TM_OK)
            return config_error(ctx, v->line, "metrics.listen: %s", tm_err_msg());
    }
    if (!m->listen && !(m->listen = strdup("127.0.0.1:9464"))) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    return TM_OK;
}

static tm_status parse_root(const parse_ctx *ctx, const tm_toml_value *root, tm_config *cfg)
{
    for (size_t i = 0; i < root->u.table.len; i++) {
        const char *k = root->u.table.keys[i];
        const tm_toml_value *v = root->u.table.values[i];
        if (strcmp(k, "chain") == 0)
            PARSE_TABLE_ARRAY(ctx, v, "chain", cfg->chains, cfg->n_chains, parse_chain);
        else if (strcmp(k, "validator") == 0)
            PARSE_TABLE_ARRAY(ctx, v, "validator", cfg->validators, cfg->n_validators, parse_validator);
        else if (strcmp(k, "providers") == 0)
            TM_TRY(parse_providers(ctx, v, cfg));
        else if (strcmp(k, "ha") == 0)
            TM_TRY(parse_ha(ctx, v, &cfg->ha));
        else if (strcmp(k, "metrics") == 0)
            TM_TRY(parse_metrics(ctx, v, &cfg->metrics));
        else
            return config_error(ctx, v->line, "unknown key '%s'", k);
    }
    return TM_OK;
}

/* Cross-references: every validator's chain exists, chain ids are unique, every chain has
 * exactly one consensus key. */
static tm_status check_references(const parse_ctx *ctx, const tm_config *cfg)
{
    for (size_t i = 0; i < cfg->n_chains; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->chains[i].id, cfg->chains[j].id) == 0)
                return config_error(ctx, cfg->chains[i].line, "chain '%s' is defined twice", cfg->chains[i].id);
        size_t keys = 0;
        for (size_t p = 0; p < cfg->n_softsign; p++) {
            if (strcmp(cfg->softsign[p].key_type, "consensus") != 0) continue;
            for (size_t c = 0; c < cfg->softsign[p].n_chain_ids; c++)
                if (strcmp(cfg->softsign[p].chain_ids[c], cfg->chains[i].id) == 0) keys++;
        }
        if (keys > 1)
            return config_error(ctx, cfg->chains[i].line, "chain '%s' has more than one consensus key",
                                cfg->chains[i].id);
    }
    for (size_t i = 0; i < cfg->n_validators; i++)
        if (!tm_config_chain(cfg, cfg->validators[i].chain_id))
            return config_error(ctx, cfg->validators[i].line, "validator.chain_id: no [[chain]] with id '%s'",
                                cfg->validators[i].chain_id);
    return TM_OK;
}

static tm_status read_file(const char *path, char **text, size_t *len)
{
    tm_status status = TM_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rbe");
    TM_ENSURE(f != NULL, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: %s", path, strerror(errno));
    buf = malloc(MAX_CONFIG_SIZE + 1);
    TM_ENSURE_GOTO(buf != NULL, TM_ERR_NOMEM, "out of memory");
    size_t n = fread(buf, 1, MAX_CONFIG_SIZE + 1, f);
    TM_ENSURE_GOTO(!ferror(f), TM_ERR_IO, "%s: read error", path);
    TM_ENSURE_GOTO(n <= MAX_CONFIG_SIZE, TM_ERR_TOO_LARGE, "%s: larger than %u bytes", path, MAX_CONFIG_SIZE);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    (void)fclose(f);
    return status;
}

tm_status tm_config_load(const char *path, tm_config **out)
{
    tm_status status = TM_OK;
    char *text = NULL, *dir_copy = NULL;
    size_t len = 0;
    tm_toml_value *root = NULL;
    tm_config *cfg = calloc(1, sizeof(*cfg));
    TM_ENSURE_GOTO(cfg != NULL, TM_ERR_NOMEM, "out of memory");

    cfg->path = realpath(path, NULL);
    TM_ENSURE_GOTO(cfg->path != NULL, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "config file %s: %s", path,
                   strerror(errno));
    dir_copy = strdup(cfg->path);
    TM_ENSURE_GOTO(dir_copy != NULL, TM_ERR_NOMEM, "out of memory");
    cfg->dir = strdup(dirname(dir_copy));
    TM_ENSURE_GOTO(cfg->dir != NULL, TM_ERR_NOMEM, "out of memory");

    TM_TRY_GOTO(read_file(cfg->path, &text, &len));
    TM_TRY_GOTO(tm_toml_parse(text, len, path, &root));
    parse_ctx ctx = {path, cfg->dir};
    TM_TRY_GOTO(parse_root(&ctx, root, cfg));
    TM_TRY_GOTO(check_references(&ctx, cfg));
    *out = cfg;
    cfg = NULL;
out:
    tm_toml_free(root);
    free(text);
    free(dir_copy);
    tm_config_free(cfg);
    return status;
}

void tm_config_free(tm_config *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n_chains; i++) {
        free(cfg->chains[i].id);
        free(cfg->chains[i].account_key_prefix);
        free(cfg->chains[i].consensus_key_prefix);
        free(cfg->chains[i].state_file);
    }
    for (size_t i = 0; i < cfg->n_validators; i++) {
        free(cfg->validators[i].addr);
        free(cfg->validators[i].chain_id);
        free(cfg->validators[i].protocol_version);
        free(cfg->validators[i].secret_key);
    }
    for (size_t i = 0; i < cfg->n_softsign; i++) {
        for (size_t j = 0; j < cfg->softsign[i].n_chain_ids; j++) free(cfg->softsign[i].chain_ids[j]);
        free(cfg->softsign[i].chain_ids);
        free(cfg->softsign[i].key_type);
        free(cfg->softsign[i].key_format);
        free(cfg->softsign[i].path);
    }
    for (size_t i = 0; i < cfg->ha.n_endpoints; i++) free(cfg->ha.endpoints[i]);
    free(cfg->ha.backend);
    free(cfg->ha.key_prefix);
    free(cfg->ha.ca_file);
    free(cfg->ha.cert_file);
    free(cfg->ha.key_file);
    free(cfg->ha.instance);
    free(cfg->metrics.listen);
    free(cfg->chains);
    free(cfg->validators);
    free(cfg->softsign);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const tm_chain_config *tm_config_chain(const tm_config *cfg, const char *chain_id)
{
    for (size_t i = 0; i < cfg->n_chains; i++)
        if (cfg->chains[i].id && strcmp(cfg->chains[i].id, chain_id) == 0) return &cfg->chains[i];
    return NULL;
}

const tm_softsign_config *tm_config_consensus_key(const tm_config *cfg, const char *chain_id)
{
    for (size_t i = 0; i < cfg->n_softsign; i++) {
        if (strcmp(cfg->softsign[i].key_type, "consensus") != 0) continue;
        for (size_t j = 0; j < cfg->softsign[i].n_chain_ids; j++)
            if (strcmp(cfg->softsign[i].chain_ids[j], chain_id) == 0) return &cfg->softsign[i];
    }
    return NULL;
}
