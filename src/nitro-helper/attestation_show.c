/* verify-attestation output: text for operators, --json for scripts. */
#include "attestation_show.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helper.h"
#include "tmkms/signer.h"

static const char *const result_names[] = {"not_run", "passed", "failed"};

void show_time_ms(long long ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];
    /* strftime leaves the buffer undefined when the date does not fit (a year past 9999) */
    if (gmtime_r(&secs, &tm) == NULL || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(base, sizeof(base), "?");
    snprintf(out, cap, "%s.%03lldZ", base, ms % 1000);
}

static void show_time_s(long long secs, char *out, size_t cap)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) snprintf(out, cap, "?");
}

static bool printable(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return false;
    return n > 0;
}

static bool b64_field(json_t *obj, const char *key, unsigned char **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL && tm_att_base64_decode(s, strlen(s), out, len) == TM_OK;
}

static void fill_claim(const unsigned char *pk, const unsigned char *kid, size_t kid_len, const char *prefix,
                       keygen_claim *claim)
{
    memcpy(claim->pubkey, pk, 32);
    if (prefix == NULL || tm_pubkey_bech32(pk, prefix, claim->validator_pubkey, sizeof(claim->validator_pubkey)) != TM_OK)
        tm_pubkey_base64(pk, claim->validator_pubkey, sizeof(claim->validator_pubkey));
    if (printable(kid, kid_len) && kid_len < sizeof(claim->key_id))
        snprintf(claim->key_id, sizeof(claim->key_id), "%.*s", (int)kid_len, (const char *)kid);
    else
        helper_hex(kid, kid_len, claim->key_id, sizeof(claim->key_id));
    claim->present = true;
}

void show_parse_claim(const tm_att_doc *doc, const char *prefix, keygen_claim *claim)
{
    unsigned char *pk = NULL, *kid = NULL;
    size_t pk_len = 0, kid_len = 0;
    memset(claim, 0, sizeof(*claim));
    if (!doc->user_data.present) return;
    json_t *j = json_loadb((const char *)doc->user_data.data, doc->user_data.len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(j) && json_object_size(j) == 2 && b64_field(j, "pubkey", &pk, &pk_len) && pk_len == 32 &&
        b64_field(j, "key_id", &kid, &kid_len))
        fill_claim(pk, kid, kid_len, prefix, claim);
    free(pk);
    free(kid);
    json_decref(j);
}

static void text_bytes(FILE *out, const char *label, const tm_att_bytes *b)
{
    if (!b->present) {
        fprintf(out, "  %-11s null\n", label);
        return;
    }
    char *hex = malloc(2 * b->len + 1);
    if (hex != NULL) helper_hex(b->data, b->len, hex, 2 * b->len + 1);
    fprintf(out, "  %-11s %s (%zu bytes)\n", label, hex ? hex : "?", b->len);
    free(hex);
}

static void text_fields(FILE *out, const show_input *in)
{
    const tm_att_doc *d = in->doc;
    char when[48], hex[2 * TM_ATT_PCR_MAX_LEN + 1];
    show_time_ms((long long)d->timestamp_ms, when, sizeof(when));
    fprintf(out, "  module_id:  %s\n  timestamp:  %s (%llu ms)\n  digest:     %s\n", d->module_id, when,
            (unsigned long long)d->timestamp_ms, d->digest);
    for (int i = 0; i < TM_ATT_MAX_PCRS; i++) {
        if (!d->pcrs[i].present) continue;
        helper_hex(d->pcrs[i].value, d->pcrs[i].len, hex, sizeof(hex));
        fprintf(out, "  PCR%-2d       %s\n", i, hex);
    }
    text_bytes(out, "public_key:", &d->public_key);
    text_bytes(out, "nonce:", &d->nonce);
    keygen_claim claim;
    show_parse_claim(d, in->bech32_prefix, &claim);
    if (!claim.present) {
        text_bytes(out, "user_data:", &d->user_data);
        return;
    }
    fprintf(out, "  user_data:  keygen claim (a key generated inside this enclave)\n");
    fprintf(out, "    validator public key%s: %s\n", in->bech32_prefix ? " (bech32)" : " (base64; -b PREFIX for bech32)",
            claim.validator_pubkey);
    fprintf(out, "    KMS key id: %s\n", claim.key_id);
}

void show_text(FILE *out, const show_input *in)
{
    if (in->doc->module_id != NULL) {
        fprintf(out, "Attestation document\n");
        text_fields(out, in);
    }
    fprintf(out, "Checks\n");
    for (int c = 0; c < TM_ATT_CHECK_COUNT; c++)
        fprintf(out, "  %-20s %s\n", tm_att_check_name((tm_att_check)c), result_names[in->report->checks[c]]);
    if (in->doc->module_id != NULL) {
        char when[48];
        show_time_s((long long)in->report->validity_time, when, sizeof(when));
        fprintf(out, "Certificate validity was checked at %s (%s).\n",
                in->report->validity_at_doc ? "the document's own timestamp" : "the time given with --at", when);
    }
    if (in->error == TM_ATT_OK)
        fprintf(out, "Result: OK, every check passed.\n");
    else
        fprintf(out, "Result: FAILED: %s: %s\n", tm_att_error_name(in->error), in->error_msg);
}

static json_t *hex_or_null(const tm_att_bytes *b)
{
    if (!b->present) return json_null();
    char *hex = malloc(2 * b->len + 1);
    if (hex == NULL) return NULL;
    helper_hex(b->data, b->len, hex, 2 * b->len + 1);
    json_t *s = json_string(hex);
    free(hex);
    return s;
}

static json_t *json_checks(const tm_att_report *rep)
{
    json_t *o = json_object();
    for (int c = 0; o != NULL && c < TM_ATT_CHECK_COUNT; c++)
        json_object_set_new(o, tm_att_check_name((tm_att_check)c), json_string(result_names[rep->checks[c]]));
    return o;
}

static json_t *json_pcrs(const tm_att_doc *d)
{
    json_t *o = json_object();
    char key[8], hex[2 * TM_ATT_PCR_MAX_LEN + 1];
    for (int i = 0; o != NULL && i < TM_ATT_MAX_PCRS; i++) {
        if (!d->pcrs[i].present) continue;
        snprintf(key, sizeof(key), "%d", i);
        helper_hex(d->pcrs[i].value, d->pcrs[i].len, hex, sizeof(hex));
        json_object_set_new(o, key, json_string(hex));
    }
    return o;
}

static void json_fields(json_t *o, const show_input *in)
{
    const tm_att_doc *d = in->doc;
    keygen_claim claim;
    char when[48];
    show_parse_claim(d, in->bech32_prefix, &claim);
    show_time_s((long long)in->report->validity_time, when, sizeof(when));
    json_object_set_new(o, "module_id", json_string(d->module_id));
    json_object_set_new(o, "timestamp", json_integer((json_int_t)d->timestamp_ms));
    json_object_set_new(o, "digest", json_string(d->digest));
    json_object_set_new(o, "pcrs", json_pcrs(d));
    json_object_set_new(o, "user_data", hex_or_null(&d->user_data));
    json_object_set_new(o, "nonce", hex_or_null(&d->nonce));
    json_object_set_new(o, "public_key", hex_or_null(&d->public_key));
    json_object_set_new(o, "validator_pubkey", claim.present ? json_string(claim.validator_pubkey) : json_null());
    json_object_set_new(o, "kms_key_id", claim.present ? json_string(claim.key_id) : json_null());
    json_object_set_new(o, "validity_checked_at",
                        json_pack("{s:s, s:s}", "time", when, "source", in->report->validity_at_doc ? "document" : "given"));
}

int show_json(FILE *out, const show_input *in)
{
    json_t *o = json_object();
    if (o == NULL) return -1;
    if (in->doc->module_id != NULL) json_fields(o, in);
    json_object_set_new(o, "checks", json_checks(in->report));
    json_object_set_new(o, "ok", json_boolean(in->error == TM_ATT_OK));
    json_object_set_new(o, "error", in->error == TM_ATT_OK ? json_null() : json_string(tm_att_error_name(in->error)));
    int rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(o);
    return rc;
}
