/* The JSON state formats of other signers, for import and export:
 *  - CometBFT's priv_validator_state.json (FilePVLastSignState): height as a string, round
 *    and step as numbers, steps 1 propose / 2 prevote / 3 precommit, optional base64
 *    signature and upper-case hex signbytes;
 *  - tmkms / tmkms-light (tendermint-rs consensus::State): height and round as strings,
 *    steps 0 propose / 1 prevote / 2 precommit, block_id (object or null).
 * The two are told apart by their fields; anything mixed or ambiguous is refused, because
 * reading a tmkms precommit (2) as a CometBFT prevote (2) would allow re-signing it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/state.h"

tm_status tm_state_to_cometbft_json(const tm_sign_state *st, char **json_out)
{
    char height[24];
    snprintf(height, sizeof(height), "%" PRId64, st->height);
    json_t *obj = json_object();
    TM_ENSURE(obj != NULL, TM_ERR_NOMEM, "out of memory");
    json_object_set_new(obj, "height", json_string(height));
    json_object_set_new(obj, "round", json_integer(st->round));
    json_object_set_new(obj, "step", json_integer(st->step));
    if (st->has_signature) {
        char b64[sodium_base64_ENCODED_LEN(TM_ED25519_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof(b64), st->signature, TM_ED25519_SIG_LEN, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(obj, "signature", json_string(b64));
    }
    if (st->sign_bytes_len > 0) {
        char hex[2 * TM_MAX_SIGN_BYTES + 1];
        sodium_bin2hex(hex, sizeof(hex), st->sign_bytes, st->sign_bytes_len);
        for (char *p = hex; *p; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
        json_object_set_new(obj, "signbytes", json_string(hex));
    }
    char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(obj);
    TM_ENSURE(text != NULL, TM_ERR_NOMEM, "out of memory");
    *json_out = text;
    return TM_OK;
}

static tm_status parse_decimal(const char *field, const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    TM_ENSURE(errno == 0 && end != text && *end == '\0' && text[0] != '+' && text[0] != ' ' && v >= min && v <= max,
              TM_ERR_INVALID, "%s: '%.40s' is not an integer in [%" PRId64 ", %" PRId64 "]", field, text, min, max);
    *out = v;
    return TM_OK;
}

/* An integer given as a JSON string (want_string) or a JSON number. */
static tm_status get_int(json_t *obj, const char *field, bool want_string, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, field);
    TM_ENSURE(v != NULL, TM_ERR_INVALID, "%s: missing", field);
    if (want_string) {
        TM_ENSURE(json_is_string(v), TM_ERR_INVALID, "%s: expected a string", field);
        return parse_decimal(field, json_string_value(v), min, max, out);
    }
    TM_ENSURE(json_is_integer(v), TM_ERR_INVALID, "%s: expected a number", field);
    *out = json_integer_value(v);
    TM_ENSURE(*out >= min && *out <= max, TM_ERR_INVALID, "%s: %" PRId64 " out of range", field, *out);
    return TM_OK;
}

static tm_status import_cometbft(json_t *obj, tm_sign_state *out)
{
    int64_t height, round, step;
    TM_TRY(get_int(obj, "height", true, 0, INT64_MAX, &height));
    TM_TRY(get_int(obj, "round", false, 0, INT32_MAX, &round));
    TM_TRY(get_int(obj, "step", false, 0, 3, &step));
    memset(out, 0, sizeof(*out));
    out->height = height;
    out->round = (int32_t)round;
    out->step = (tm_step)step; /* CometBFT's numbering is ours */
    json_t *sig = json_object_get(obj, "signature");
    json_t *sb = json_object_get(obj, "signbytes");
    TM_ENSURE(!sig == !sb, TM_ERR_INVALID, "signature and signbytes: one is present without the other");
    if (sig) {
        size_t len = 0;
        TM_ENSURE(json_is_string(sig) &&
                      sodium_base642bin(out->signature, sizeof(out->signature), json_string_value(sig),
                                        json_string_length(sig), NULL, &len, NULL,
                                        sodium_base64_VARIANT_ORIGINAL) == 0 &&
                      len == TM_ED25519_SIG_LEN,
                  TM_ERR_INVALID, "signature: not the base64 of a 64-byte signature");
        TM_ENSURE(json_is_string(sb) && json_string_length(sb) <= 2 * TM_MAX_SIGN_BYTES &&
                      sodium_hex2bin(out->sign_bytes, sizeof(out->sign_bytes), json_string_value(sb),
                                     json_string_length(sb), NULL, &len, NULL) == 0 &&
                      len > 0,
                  TM_ERR_INVALID, "signbytes: not hex of at most %d bytes", TM_MAX_SIGN_BYTES);
        out->sign_bytes_len = len;
        out->has_signature = true;
    }
    return TM_OK;
}

static tm_status import_tmkms(json_t *obj, tm_sign_state *out)
{
    int64_t height, round, step;
    TM_TRY(get_int(obj, "height", true, 0, INT64_MAX, &height));
    TM_TRY(get_int(obj, "round", true, 0, INT32_MAX, &round));
    TM_TRY(get_int(obj, "step", false, 0, 2, &step));
    json_t *bid = json_object_get(obj, "block_id");
    TM_ENSURE(json_is_null(bid) || json_is_object(bid), TM_ERR_INVALID, "block_id: expected an object or null");
    memset(out, 0, sizeof(*out));
    out->height = height;
    out->round = (int32_t)round;
    /* tmkms: 0 propose, 1 prevote, 2 precommit. A fresh tmkms state (height 0) means
     * nothing signed yet. */
    out->step = height == 0 && step == 0 ? TM_STEP_NONE : (tm_step)(step + 1);
    return TM_OK;
}

static bool only_keys(json_t *obj, const char *const *allowed, const char **extra)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        (void)value;
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) ok |= strcmp(key, *a) == 0;
        if (!ok) {
            *extra = key;
            return false;
        }
    }
    return true;
}

tm_status tm_state_from_json(const char *text, size_t len, tm_sign_state *out, tm_state_json_kind *kind)
{
    static const char *const cometbft_keys[] = {"height", "round", "step", "signature", "signbytes", NULL};
    static const char *const tmkms_keys[] = {"height", "round", "step", "block_id", NULL};
    json_error_t err;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    TM_ENSURE(obj != NULL, TM_ERR_INVALID, "not JSON (line %d, column %d: %s)", err.line, err.column, err.text);
    tm_status status = TM_OK;
    const char *extra = NULL;
    json_t *round = json_object_get(obj, "round");
    if (!json_is_object(obj)) {
        status = tm_err_set(TM_ERR_INVALID, "expected a JSON object");
    } else if (json_object_get(obj, "block_id") && json_is_string(round) && only_keys(obj, tmkms_keys, &extra)) {
        *kind = TM_STATE_JSON_TMKMS;
        status = import_tmkms(obj, out);
    } else if (!json_object_get(obj, "block_id") && json_is_integer(round) && only_keys(obj, cometbft_keys, &extra)) {
        *kind = TM_STATE_JSON_COMETBFT;
        status = import_cometbft(obj, out);
    } else if (extra) {
        status = tm_err_set(TM_ERR_INVALID, "%s: unexpected field; neither CometBFT's nor tmkms's state format", extra);
    } else {
        status = tm_err_set(TM_ERR_INVALID,
                            "ambiguous state: CometBFT's format has a numeric round and no block_id, tmkms's a "
                            "string round and a block_id; this file has %s round %s block_id",
                            json_is_string(round) ? "a string" : json_is_integer(round) ? "a numeric" : "no valid",
                            json_object_get(obj, "block_id") ? "and a" : "and no");
    }
    json_decref(obj);
    return status;
}
