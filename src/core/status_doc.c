/* The shared parts of the status documents of tmkms and tmkms-nitro-helper; see
 * status_doc.h. */
#include "tmkms/status_doc.h"

#include <stdatomic.h>
#include <unistd.h>

/* An integer, or null when `known` is false. */
static json_t *int_or_null(bool known, int64_t value)
{
    return known ? json_integer((json_int_t)value) : json_null();
}

/* For json_pack's "s?": NULL (packed as null) when s is NULL or empty. */
static const char *str_or_null(const char *s)
{
    return s && s[0] ? s : NULL;
}

json_t *tm_status_doc_head(const char *program, int64_t started, int64_t now)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "program", program, "version", TMKMS_VERSION, "revision",
                     TMKMS_GIT_REV, "pid", (json_int_t)getpid(), "uptime_seconds",
                     (json_int_t)(now - started));
}

/* json_pack's "o" takes the reference int_or_null made (and fails on NULL). */
json_t *tm_status_doc_chain(const tm_status_chain_info *info, int64_t now)
{
    return json_pack("{s:s, s:I, s:i, s:s, s:I, s:o, s:s?}", "id", info->id, "height",
                     (json_int_t)info->last.height, "round", (int)info->last.round, "step",
                     tm_step_name(info->last.step), "persist_failures", (json_int_t)info->persist_failures,
                     "last_signature_age_seconds",
                     int_or_null(info->last_new_unix != 0, now - info->last_new_unix), "last_persist_error",
                     str_or_null(info->persist_error));
}

json_t *tm_status_doc_validator(const char *chain_id, const char *addr, tm_link_stats *stats, int64_t now)
{
    char err[sizeof(stats->last_error)];
    tm_link_stats_error(stats, err, sizeof(err));
    int64_t since = (int64_t)atomic_load(&stats->since);
    return json_pack("{s:s, s:s, s:b, s:I, s:o, s:s?}", "chain", chain_id, "addr", addr, "connected",
                     atomic_load(&stats->connected) != 0, "sessions",
                     (json_int_t)atomic_load(&stats->sessions), "state_seconds",
                     int_or_null(since != 0, now - since), "last_error", str_or_null(err));
}

json_t *tm_status_doc_add_array(json_t *doc, const char *key)
{
    json_t *array = json_array();
    /* set_new consumes the array, also when it fails */
    return json_object_set_new(doc, key, array) == 0 ? array : NULL;
}

char *tm_status_doc_dump(const json_t *doc)
{
    return doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
}
