/* The KMS emulator's request handling: authentication (SigV4), dispatch, operations. */
#include "emu.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SKEW_SECONDS (15 * 60)
#define BLOB_VERSION 1
#define BLOB_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define BLOB_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define BLOB_HEADER (2 + EMU_KEY_ID_LEN)
#define BLOB_MAX (BLOB_HEADER + BLOB_NONCE + 4096 + BLOB_TAG)

/* ---- responses ---- */

void emu_response_free(emu_response *resp)
{
    free(resp->body);
    resp->body = NULL;
}

static void respond_json(emu_response *resp, unsigned status, json_t *j)
{
    resp->status = status;
    resp->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!resp->body) {
        resp->status = 500;
        resp->body = strdup("{\"__type\":\"KMSInternalException\",\"message\":\"out of memory\"}");
    }
    resp->len = resp->body ? strlen(resp->body) : 0;
}

static void respond_error(emu_response *resp, const emu_error *e)
{
    respond_json(resp, e->status ? e->status : 400,
                 json_pack("{s:s, s:s}", "__type", e->type, "message", e->message));
}

/* ---- authentication ---- */

static const char *header(const emu_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static const emu_user *find_user(const kms_emu *emu, const char *akid)
{
    for (size_t i = 0; i < emu->n_users; i++)
        if (strcmp(emu->users[i].akid, akid) == 0) return &emu->users[i];
    return NULL;
}

/* The request's headers named in SignedHeaders, every occurrence, in request order. */
static bool collect_signed(const emu_request *req, const char *signed_list, tm_http_header *out, size_t *n,
                           emu_error *e)
{
    char list[TM_SIGV4_SIGNED_HEADERS_MAX];
    snprintf(list, sizeof(list), "%s", signed_list);
    *n = 0;
    bool host = false, date = false;
    for (char *save = NULL, *name = strtok_r(list, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
        bool found = false;
        host = host || strcmp(name, "host") == 0;
        date = date || strcmp(name, "x-amz-date") == 0;
        for (size_t i = 0; i < req->n_headers; i++) {
            if (strcasecmp(req->headers[i].name, name) != 0) continue;
            if (*n >= TM_SIGV4_MAX_HEADERS)
                return emu_fail(e, 400, "InvalidSignatureException", "too many signed headers");
            out[(*n)++] = req->headers[i];
            found = true;
        }
        if (!found)
            return emu_fail(e, 400, "InvalidSignatureException", "signed header %.64s is not in the request", name);
    }
    if (!host || !date)
        return emu_fail(e, 400, "InvalidSignatureException", "the host and x-amz-date headers must be signed");
    return true;
}

static bool check_token(const emu_user *u, const emu_request *req, const tm_sigv4_auth *a, emu_error *e)
{
    const char *tok = header(req, "X-Amz-Security-Token");
    size_t want = strlen(u->token);
    if (!want && !tok) return true;
    if (!tok || !want || strlen(tok) != want || sodium_memcmp(tok, u->token, want) != 0)
        return emu_fail(e, 400, "UnrecognizedClientException", "The security token included in the request is invalid.");
    if (!strstr(a->signed_headers, "x-amz-security-token"))
        return emu_fail(e, 400, "InvalidSignatureException", "x-amz-security-token is not signed");
    return true;
}

static bool check_scope(const kms_emu *emu, const emu_request *req, const tm_sigv4_auth *a, emu_error *e)
{
    const char *date = header(req, "X-Amz-Date");
    time_t t, now = emu->now ? emu->now : time(NULL);
    if (strcmp(a->service, "kms") != 0 || strcmp(a->region, emu->region) != 0)
        return emu_fail(e, 400, "InvalidSignatureException", "Credential should be scoped to a valid region and service kms");
    if (!date || tm_sigv4_parse_date(date, &t) != TM_OK)
        return emu_fail(e, 400, "IncompleteSignatureException", "X-Amz-Date missing or not YYYYMMDDTHHMMSSZ");
    if (strncmp(date, a->date8, 8) != 0)
        return emu_fail(e, 400, "InvalidSignatureException", "Credential date %s does not match X-Amz-Date %s", a->date8, date);
    if (t > now + MAX_SKEW_SECONDS || t < now - MAX_SKEW_SECONDS)
        return emu_fail(e, 400, "InvalidSignatureException", "Signature expired: %s is not within 15 minutes of now", date);
    return true;
}

/* AWS's answer to a signature that does not match: the sentence, then (after a blank line)
 * the canonical request and the string to sign it expected, signed headers' values and so
 * the session token included. Clients must not log it whole (src/aws/kms.c). */
static bool signature_mismatch(const tm_sigv4_input *in, emu_error *e)
{
    static const char sentence[] =
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.";
    char *canonical = malloc(TM_SIGV4_CANONICAL_MAX), *sts = malloc(TM_SIGV4_CANONICAL_MAX);
    char sh[TM_SIGV4_SIGNED_HEADERS_MAX];
    if (canonical && sts &&
        tm_sigv4_canonical_request(in, canonical, TM_SIGV4_CANONICAL_MAX, sh, sizeof(sh)) == TM_OK &&
        tm_sigv4_string_to_sign(in, canonical, sts, TM_SIGV4_CANONICAL_MAX) == TM_OK)
        emu_fail(e, 400, "InvalidSignatureException",
                 "%s\n\nThe Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign "
                 "should have "
                 "been\n'%s'\n",
                 sentence, canonical, sts);
    else
        emu_fail(e, 400, "InvalidSignatureException", "%s", sentence);
    free(canonical);
    free(sts);
    return false;
}

static bool authenticate(const kms_emu *emu, const emu_request *req, const emu_user **user, emu_error *e)
{
    if (emu->skip_auth && emu->n_users) {
        *user = &emu->users[0];
        return true;
    }
    const char *auth = header(req, "Authorization");
    tm_sigv4_auth a;
    tm_http_header hs[TM_SIGV4_MAX_HEADERS];
    size_t n;
    char sig[65], sh[TM_SIGV4_SIGNED_HEADERS_MAX];
    if (!auth) return emu_fail(e, 400, "MissingAuthenticationTokenException", "Missing Authentication Token");
    if (tm_sigv4_parse_authorization(auth, &a) != TM_OK)
        return emu_fail(e, 400, "IncompleteSignatureException", "%s", tm_err_msg());
    const emu_user *u = find_user(emu, a.access_key_id);
    if (!u) return emu_fail(e, 400, "UnrecognizedClientException", "The security token included in the request is invalid.");
    if (!check_token(u, req, &a, e) || !check_scope(emu, req, &a, e) || !collect_signed(req, a.signed_headers, hs, &n, e))
        return false;
    tm_sigv4_input in = {req->method, req->path, NULL, hs, n, req->body, req->body_len, emu->region, "kms",
                         header(req, "X-Amz-Date")};
    if (tm_sigv4_signature(&in, u->secret, sig, sh, sizeof(sh)) != TM_OK || strcmp(sh, a.signed_headers) != 0 ||
        sodium_memcmp(sig, a.signature, 64) != 0)
        return signature_mismatch(&in, e);
    *user = u;
    return true;
}

/* ---- parameters ---- */

static const char *param_string(json_t *body, const char *name, bool required, emu_error *e)
{
    json_t *v = json_object_get(body, name);
    if (!v && !required) return NULL;
    if (!v) {
        emu_fail(e, 400, "ValidationException",
                 "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null",
                 name);
        return NULL;
    }
    if (!json_is_string(v)) {
        emu_fail(e, 400, "SerializationException", "%s is not a string", name);
        return NULL;
    }
    return json_string_value(v);
}

/* A base64 blob parameter into `out` (cap bytes). */
static bool param_blob(json_t *body, const char *name, uint8_t *out, size_t cap, size_t *len, emu_error *e)
{
    const char *s = param_string(body, name, true, e);
    if (!s) return false;
    if (sodium_base642bin(out, cap, s, strlen(s), NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return emu_fail(e, 400, "SerializationException", "%s is not base64 of at most %zu bytes", name, cap);
    if (*len == 0) return emu_fail(e, 400, "ValidationException", "%s is empty", name);
    return true;
}

static char *b64(const uint8_t *data, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (s) sodium_bin2base64(s, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* SHA-256 of the encryption context as compact JSON with sorted keys ("" when none). */
static bool context_digest(json_t *body, uint8_t out[32], emu_error *e)
{
    json_t *ctx = json_object_get(body, "EncryptionContext");
    char *text = NULL;
    if (ctx) {
        const char *k;
        json_t *v;
        if (!json_is_object(ctx)) return emu_fail(e, 400, "SerializationException", "EncryptionContext is not a map");
        json_object_foreach(ctx, k, v) if (!json_is_string(v)) return emu_fail(
            e, 400, "SerializationException", "EncryptionContext values must be strings");
        if (json_object_size(ctx)) text = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS);
    }
    crypto_hash_sha256(out, (const uint8_t *)(text ? text : ""), text ? strlen(text) : 0);
    free(text);
    return true;
}

/* ---- key access ---- */

static bool authorized_key(const kms_emu *emu, const emu_user *u, const char *key_id_param, const char *action,
                           const emu_context *ctx, size_t n_ctx, emu_key *key, emu_error *e)
{
    char id[EMU_KEY_ID_LEN + 1];
    if (!emu_resolve_key_id(emu, key_id_param, id, e) || !emu_key_load(emu, id, key, e)) return false;
    if (!emu_policy_allows(key->policy, emu->account, u->role_arn, action, ctx, n_ctx)) {
        emu_fail(e, 400, "AccessDeniedException",
                 "User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows "
                 "the %s action",
                 u->role_arn, action, key->arn, action);
        emu_key_clear(key);
        return false;
    }
    if (!key->enabled) {
        emu_key_clear(key);
        return emu_fail(e, 400, "DisabledException", "%s is disabled.", id);
    }
    return true;
}

static json_t *key_metadata(const kms_emu *emu, const emu_key *k)
{
    return json_pack("{s:{s:s, s:s, s:s, s:f, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:b}}", "KeyMetadata",
                     "AWSAccountId", emu->account, "KeyId", k->id, "Arn", k->arn, "CreationDate", k->created, "Enabled",
                     k->enabled, "Description", k->description, "KeyUsage", "ENCRYPT_DECRYPT", "KeyState",
                     k->enabled ? "Enabled" : "Disabled", "Origin", "AWS_KMS", "KeyManager", "CUSTOMER",
                     "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT", "KeySpec", "SYMMETRIC_DEFAULT",
                     "EncryptionAlgorithms", "SYMMETRIC_DEFAULT", "MultiRegion", 0);
}

/* ---- operations: each returns the answer object or NULL with *e set ---- */

typedef json_t *(*op_fn)(kms_emu *, const emu_user *, json_t *, emu_error *);

static json_t *op_create_key(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    (void)u;
    const char *policy = param_string(body, "Policy", false, e), *desc = param_string(body, "Description", false, e);
    const char *usage = param_string(body, "KeyUsage", false, e), *spec = param_string(body, "KeySpec", false, e);
    emu_key k;
    if (e->type[0]) return NULL;
    if ((usage && strcmp(usage, "ENCRYPT_DECRYPT") != 0) || (spec && strcmp(spec, "SYMMETRIC_DEFAULT") != 0)) {
        emu_fail(e, 400, "UnsupportedOperationException", "this emulator has SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys only");
        return NULL;
    }
    if ((policy && !emu_policy_validate(policy, e)) || !emu_key_create(emu, desc, policy, &k, e)) return NULL;
    json_t *out = key_metadata(emu, &k);
    emu_key_clear(&k);
    return out;
}

static json_t *op_describe_key(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    const char *id = param_string(body, "KeyId", true, e);
    emu_key k;
    if (!id || !authorized_key(emu, u, id, "kms:DescribeKey", NULL, 0, &k, e)) return NULL;
    json_t *out = key_metadata(emu, &k);
    emu_key_clear(&k);
    return out;
}

static bool policy_name_ok(json_t *body, emu_error *e)
{
    const char *name = param_string(body, "PolicyName", false, e);
    if (e->type[0]) return false;
    if (name && strcmp(name, "default") != 0) return emu_fail(e, 400, "NotFoundException", "No such policy: %.64s", name);
    return true;
}

static json_t *op_get_key_policy(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    const char *id = param_string(body, "KeyId", true, e);
    emu_key k;
    if (!id || !policy_name_ok(body, e) || !authorized_key(emu, u, id, "kms:GetKeyPolicy", NULL, 0, &k, e)) return NULL;
    json_t *out = json_pack("{s:s, s:s}", "Policy", k.policy, "PolicyName", "default");
    emu_key_clear(&k);
    return out;
}

static json_t *op_put_key_policy(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    const char *id = param_string(body, "KeyId", true, e), *policy = id ? param_string(body, "Policy", true, e) : NULL;
    emu_key k;
    if (!policy || !policy_name_ok(body, e) || !emu_policy_validate(policy, e) ||
        !authorized_key(emu, u, id, "kms:PutKeyPolicy", NULL, 0, &k, e))
        return NULL;
    char *copy = strdup(policy);
    free(k.policy);
    k.policy = copy;
    bool ok = copy && emu_key_save(emu, &k, e);
    emu_key_clear(&k);
    return ok ? json_object() : NULL;
}

static json_t *op_encrypt(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    static uint8_t pt[4097], blob[BLOB_MAX];
    size_t pt_len = 0;
    uint8_t ad[BLOB_HEADER + 32];
    const char *id = param_string(body, "KeyId", true, e);
    emu_key k;
    if (!id || !param_blob(body, "Plaintext", pt, sizeof(pt), &pt_len, e) || !context_digest(body, ad + BLOB_HEADER, e))
        return NULL;
    if (pt_len > 4096) return emu_fail(e, 400, "ValidationException", "Plaintext over 4096 bytes"), NULL;
    if (!authorized_key(emu, u, id, "kms:Encrypt", NULL, 0, &k, e)) return NULL;
    blob[0] = BLOB_VERSION;
    blob[1] = EMU_KEY_ID_LEN;
    memcpy(blob + 2, k.id, EMU_KEY_ID_LEN);
    memcpy(ad, blob, BLOB_HEADER);
    randombytes_buf(blob + BLOB_HEADER, BLOB_NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + BLOB_HEADER + BLOB_NONCE, &clen, pt, pt_len, ad, sizeof(ad), NULL,
                                               blob + BLOB_HEADER, k.material);
    sodium_memzero(pt, sizeof(pt));
    char *text = b64(blob, BLOB_HEADER + BLOB_NONCE + (size_t)clen);
    json_t *out = text ? json_pack("{s:s, s:s, s:s}", "CiphertextBlob", text, "KeyId", k.arn, "EncryptionAlgorithm",
                                   "SYMMETRIC_DEFAULT")
                       : NULL;
    free(text);
    emu_key_clear(&k);
    return out;
}

/* Opens a ciphertext blob with its key; checks the KeyId parameter when given. */
static bool open_blob(kms_emu *emu, json_t *body, const uint8_t *blob, size_t len, char id[EMU_KEY_ID_LEN + 1],
                      emu_error *e)
{
    const char *want = param_string(body, "KeyId", false, e);
    char want_id[EMU_KEY_ID_LEN + 1];
    if (e->type[0]) return false;
    if (len < BLOB_HEADER + BLOB_NONCE + BLOB_TAG || blob[0] != BLOB_VERSION || blob[1] != EMU_KEY_ID_LEN)
        return emu_fail(e, 400, "InvalidCiphertextException", "%s", "");
    memcpy(id, blob + 2, EMU_KEY_ID_LEN);
    id[EMU_KEY_ID_LEN] = '\0';
    if (!emu_key_id_valid(id)) return emu_fail(e, 400, "InvalidCiphertextException", "%s", "");
    if (want && (!emu_resolve_key_id(emu, want, want_id, e) || strcmp(want_id, id) != 0))
        return emu_fail(e, 400, "IncorrectKeyException",
                        "The key ID in the request does not identify a CMK that can perform this operation.");
    return true;
}

static bool decrypt_blob(const emu_key *k, json_t *body, const uint8_t *blob, size_t len, uint8_t *pt, size_t *pt_len,
                         emu_error *e)
{
    uint8_t ad[BLOB_HEADER + 32];
    unsigned long long n = 0;
    memcpy(ad, blob, BLOB_HEADER);
    if (!context_digest(body, ad + BLOB_HEADER, e)) return false;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &n, NULL, blob + BLOB_HEADER + BLOB_NONCE,
                                                   len - BLOB_HEADER - BLOB_NONCE, ad, sizeof(ad),
                                                   blob + BLOB_HEADER, k->material) != 0)
        return emu_fail(e, 400, "InvalidCiphertextException", "%s", "");
    *pt_len = (size_t)n;
    return true;
}

static json_t *decrypt_answer(const emu_key *k, const uint8_t *pt, size_t pt_len, const emu_recipient *r, emu_error *e)
{
    char *text = NULL;
    const char *field = r ? "CiphertextForRecipient" : "Plaintext";
    if (r ? !emu_recipient_encrypt(r, pt, pt_len, &text, e) : (text = b64(pt, pt_len)) == NULL) return NULL;
    json_t *out = json_pack("{s:s, s:s, s:s}", "KeyId", k->arn, field, text, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    sodium_memzero(text, strlen(text));
    free(text);
    return out;
}

static json_t *op_decrypt(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    static uint8_t blob[BLOB_MAX + 1], pt[BLOB_MAX];
    size_t len = 0, pt_len = 0;
    char id[EMU_KEY_ID_LEN + 1];
    emu_key k;
    emu_recipient r;
    json_t *recipient = json_object_get(body, "Recipient"), *out = NULL;
    memset(&r, 0, sizeof(r));
    if (!param_blob(body, "CiphertextBlob", blob, sizeof(blob), &len, e) || !open_blob(emu, body, blob, len, id, e))
        return NULL;
    if (recipient && !emu_recipient_open(emu, recipient, &r, e)) return NULL;
    if (authorized_key(emu, u, id, "kms:Decrypt", r.ctx, r.n_ctx, &k, e)) {
        if (decrypt_blob(&k, body, blob, len, pt, &pt_len, e)) out = decrypt_answer(&k, pt, pt_len, recipient ? &r : NULL, e);
        emu_key_clear(&k);
    }
    sodium_memzero(pt, sizeof(pt));
    emu_recipient_close(&r);
    return out;
}

static json_t *op_generate_random(kms_emu *emu, const emu_user *u, json_t *body, emu_error *e)
{
    (void)emu, (void)u;
    uint8_t buf[1024];
    json_t *n = json_object_get(body, "NumberOfBytes");
    if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 1024) {
        emu_fail(e, 400, "ValidationException",
                 "1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have "
                 "value between 1 and 1024");
        return NULL;
    }
    size_t len = (size_t)json_integer_value(n);
    randombytes_buf(buf, len);
    char *text = b64(buf, len);
    json_t *out = text ? json_pack("{s:s}", "Plaintext", text) : NULL;
    free(text);
    return out;
}

static const struct {
    const char *name;
    op_fn fn;
} ops[] = {
    {"CreateKey", op_create_key},       {"DescribeKey", op_describe_key}, {"GetKeyPolicy", op_get_key_policy},
    {"PutKeyPolicy", op_put_key_policy}, {"Encrypt", op_encrypt},         {"Decrypt", op_decrypt},
    {"GenerateRandom", op_generate_random},
};

static op_fn find_op(const emu_request *req, emu_error *e)
{
    const char *target = header(req, "X-Amz-Target");
    if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/") != 0 || !target ||
        strncmp(target, "TrentService.", 13) != 0) {
        emu_fail(e, 400, "UnknownOperationException", "%s", "");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(target + 13, ops[i].name) == 0) return ops[i].fn;
    emu_fail(e, 400, "UnknownOperationException", "%s", "");
    return NULL;
}

void kms_emu_handle(kms_emu *emu, const emu_request *req, emu_response *resp)
{
    emu_error e = {0};
    const emu_user *u = NULL;
    json_t *body = NULL, *out = NULL;
    memset(resp, 0, sizeof(*resp));
    op_fn op = find_op(req, &e);
    if (op && req->body_len > EMU_MAX_BODY) emu_fail(&e, 413, "ValidationException", "request body too large");
    if (op && !e.type[0] && authenticate(emu, req, &u, &e)) {
        body = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(body)) emu_fail(&e, 400, "SerializationException", "the request body is not a JSON object");
        else out = op(emu, u, body, &e);
    }
    json_decref(body);
    if (out) respond_json(resp, 200, out);
    else {
        if (!e.type[0]) emu_fail(&e, 500, "KMSInternalException", "out of memory");
        respond_error(resp, &e);
    }
}
