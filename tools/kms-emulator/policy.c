/* Key policies: Effect, Principal (AWS role ARN, account root, "*"), Action (IAM patterns
 * with * and ?, case-insensitive: "kms:Put*", "kms:*"), Resource ignored (a key policy is about its own key),
 * Condition with StringEquals / StringEqualsIgnoreCase (value or list of values, any
 * match). A condition key missing from the request fails the condition. Deny wins. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static const char *const operators[] = {"StringEquals", "StringEqualsIgnoreCase"};

char *emu_default_policy(const char *account)
{
    json_t *j = json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:s}, s:s, s:s}]}", "Version", "2012-10-17", "Id",
                          "key-default-1", "Statement", "Sid", "Enable IAM User Permissions", "Effect", "Allow",
                          "Principal", "AWS", "", "Action", "kms:*", "Resource", "*");
    if (!j) return NULL;
    char root[64];
    snprintf(root, sizeof(root), "arn:aws:iam::%s:root", account);
    json_object_set_new(json_object_get(json_array_get(json_object_get(j, "Statement"), 0), "Principal"), "AWS",
                        json_string(root));
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return text;
}

static bool strings_or_list(json_t *v)
{
    if (json_is_string(v)) return true;
    if (!json_is_array(v) || json_array_size(v) == 0) return false;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_string(x)) return false;
    return true;
}

static bool known_operator(const char *op)
{
    for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
        if (strcmp(op, operators[i]) == 0) return true;
    return false;
}

static bool validate_condition(json_t *cond, emu_error *e)
{
    if (!cond) return true;
    if (!json_is_object(cond)) return emu_fail(e, 400, "MalformedPolicyDocumentException", "Condition is not an object");
    const char *op;
    json_t *block;
    json_object_foreach(cond, op, block)
    {
        if (!known_operator(op))
            return emu_fail(e, 400, "MalformedPolicyDocumentException", "unsupported condition operator %.64s", op);
        if (!json_is_object(block))
            return emu_fail(e, 400, "MalformedPolicyDocumentException", "Condition %.64s is not an object", op);
        const char *key;
        json_t *vals;
        json_object_foreach(block, key, vals) if (!strings_or_list(vals)) return emu_fail(
            e, 400, "MalformedPolicyDocumentException", "Condition %.64s: %.64s is not a string or list", op, key);
    }
    return true;
}

static bool validate_statement(json_t *st, emu_error *e)
{
    const char *effect = json_string_value(json_object_get(st, "Effect"));
    json_t *principal = json_object_get(st, "Principal"), *action = json_object_get(st, "Action");
    if (!json_is_object(st)) return emu_fail(e, 400, "MalformedPolicyDocumentException", "a Statement is not an object");
    if (!effect || (strcmp(effect, "Allow") != 0 && strcmp(effect, "Deny") != 0))
        return emu_fail(e, 400, "MalformedPolicyDocumentException", "Effect must be Allow or Deny");
    if (!principal || !(json_is_string(principal) || strings_or_list(json_object_get(principal, "AWS"))))
        return emu_fail(e, 400, "MalformedPolicyDocumentException", "Principal must be \"*\" or {\"AWS\": ...}");
    if (!strings_or_list(action))
        return emu_fail(e, 400, "MalformedPolicyDocumentException", "Action must be a string or a list of strings");
    return validate_condition(json_object_get(st, "Condition"), e);
}

static json_t *statements(json_t *policy)
{
    json_t *s = json_object_get(policy, "Statement");
    if (json_is_object(s)) {
        json_t *a = json_array();
        json_array_append(a, s);
        return a;
    }
    return json_is_array(s) ? json_incref(s) : NULL;
}

bool emu_policy_validate(const char *text, emu_error *e)
{
    if (strlen(text) > 32768) return emu_fail(e, 400, "MalformedPolicyDocumentException", "policy over 32768 characters");
    json_t *p = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_t *sts = json_is_object(p) ? statements(p) : NULL;
    bool ok = sts && json_array_size(sts) > 0;
    if (!ok) emu_fail(e, 400, "MalformedPolicyDocumentException", "policy is not a JSON object with Statement");
    size_t i;
    json_t *st;
    json_array_foreach(sts, i, st) if (ok) ok = validate_statement(st, e);
    json_decref(sts);
    json_decref(p);
    return ok;
}

/* "arn:aws:iam::123456789012:role/x" → "123456789012" into out. */
static void arn_account(const char *arn, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = arn;
    for (int colons = 0; p && colons < 4; colons++) p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
    if (!p) return;
    size_t n = strcspn(p, ":");
    if (n < cap) snprintf(out, cap, "%.*s", (int)n, p);
}

static bool principal_one(const char *want, const char *account, const char *caller)
{
    char root[64], caller_acct[32];
    if (strcmp(want, "*") == 0 || strcmp(want, caller) == 0) return true;
    arn_account(caller, caller_acct, sizeof(caller_acct));
    snprintf(root, sizeof(root), "arn:aws:iam::%s:root", caller_acct);
    (void)account;
    return caller_acct[0] && (strcmp(want, root) == 0 || strcmp(want, caller_acct) == 0);
}

static bool any_string(json_t *v, bool (*match)(const char *, const void *), const void *arg)
{
    if (json_is_string(v)) return match(json_string_value(v), arg);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (json_is_string(x) && match(json_string_value(x), arg)) return true;
    return false;
}

typedef struct {
    const char *account, *caller;
} who;

static bool principal_match(const char *want, const void *arg)
{
    const who *w = arg;
    return principal_one(want, w->account, w->caller);
}

/* IAM action patterns: case-insensitive, with * and ? wildcards ("kms:Put*", "kms:*"). */
static bool action_match(const char *want, const void *arg)
{
    const char *action = arg;
    return fnmatch(want, action, FNM_CASEFOLD | FNM_NOESCAPE) == 0;
}

static const char *context_value(const emu_context *ctx, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(ctx[i].key, key) == 0) return ctx[i].value;
    return NULL;
}

typedef struct {
    const char *have;
    bool ignore_case;
} cond_arg;

static bool value_match(const char *want, const void *arg)
{
    const cond_arg *c = arg;
    return c->ignore_case ? strcasecmp(want, c->have) == 0 : strcmp(want, c->have) == 0;
}

static bool conditions_hold(json_t *cond, const emu_context *ctx, size_t n_ctx)
{
    const char *op;
    json_t *block;
    json_object_foreach(cond, op, block)
    {
        if (!known_operator(op)) return false;
        const char *key;
        json_t *vals;
        json_object_foreach(block, key, vals)
        {
            cond_arg a = {context_value(ctx, n_ctx, key), strcmp(op, "StringEqualsIgnoreCase") == 0};
            if (!a.have || !any_string(vals, value_match, &a)) return false;
        }
    }
    return true;
}

static bool statement_applies(json_t *st, const who *w, const char *action, const emu_context *ctx, size_t n)
{
    json_t *principal = json_object_get(st, "Principal");
    bool p = json_is_string(principal) ? strcmp(json_string_value(principal), "*") == 0
                                       : any_string(json_object_get(principal, "AWS"), principal_match, w);
    return p && any_string(json_object_get(st, "Action"), action_match, action) &&
           conditions_hold(json_object_get(st, "Condition"), ctx, n);
}

bool emu_policy_allows(const char *text, const char *account, const char *principal_arn, const char *action,
                       const emu_context *ctx, size_t n_ctx)
{
    json_t *p = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_t *sts = json_is_object(p) ? statements(p) : NULL;
    who w = {account, principal_arn};
    bool allow = false, deny = false;
    size_t i;
    json_t *st;
    json_array_foreach(sts, i, st)
    {
        if (!statement_applies(st, &w, action, ctx, n_ctx)) continue;
        const char *effect = json_string_value(json_object_get(st, "Effect"));
        if (effect && strcmp(effect, "Deny") == 0) deny = true;
        else if (effect && strcmp(effect, "Allow") == 0) allow = true;
    }
    json_decref(sts);
    json_decref(p);
    return allow && !deny;
}
