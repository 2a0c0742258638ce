/* Attestation documents: COSE_Sign1 structure and payload decoding (no cryptography). */
#include <stdlib.h>
#include <string.h>

#include "cbor_util.h"
#include "tmkms/aws/attestation.h"

#define COSE_TAG_SIGN1 18
#define COSE_ALG_ES384 (-35)
#define MAX_CONTAINERS 64

enum { F_MODULE_ID, F_DIGEST, F_TIMESTAMP, F_PCRS, F_CERTIFICATE, F_CABUNDLE, F_PUBLIC_KEY, F_USER_DATA, F_NONCE,
       F_COUNT };
static const char *const field_names[F_COUNT] = {"module_id",   "digest",   "timestamp",  "pcrs", "certificate",
                                                 "cabundle",    "public_key", "user_data", "nonce"};
#define MANDATORY_FIELDS ((1u << F_MODULE_ID) | (1u << F_DIGEST) | (1u << F_TIMESTAMP) | (1u << F_PCRS) | \
                          (1u << F_CERTIFICATE) | (1u << F_CABUNDLE))

static void bytes_free(tm_att_bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void tm_att_doc_free(tm_att_doc *doc)
{
    if (doc == NULL) return;
    free(doc->module_id);
    bytes_free(&doc->certificate);
    for (size_t i = 0; i < TM_ATT_MAX_CABUNDLE; i++) bytes_free(&doc->cabundle[i]);
    bytes_free(&doc->public_key);
    bytes_free(&doc->user_data);
    bytes_free(&doc->nonce);
    bytes_free(&doc->protected_hdr);
    bytes_free(&doc->payload);
    bytes_free(&doc->signature);
    memset(doc, 0, sizeof(*doc));
}

/* Maps a helper's tm_status to a document error of kind `kind`. */
static tm_att_error from_status(tm_status st, tm_att_error kind)
{
    if (st == TM_OK) return TM_ATT_OK;
    return st == TM_ERR_NOMEM ? TM_ATT_ERR_NOMEM : kind;
}

static tm_att_error copy_bstr(const cbor_item_t *item, tm_att_bytes *out, const char *what)
{
    if (item == NULL || !cbor_isa_bytestring(item)) {
        tm_err_set(TM_ERR_INVALID, "%s: not a byte string", what);
        return TM_ATT_ERR_FIELD_TYPE;
    }
    tm_status st = tm_cbor_copy_string(item, false, &out->data, &out->len);
    if (st != TM_OK) return from_status(tm_err_prefix(st, "%s: ", what), TM_ATT_ERR_FIELD_TYPE);
    out->present = true;
    return TM_ATT_OK;
}

static tm_att_error optional_bstr(const cbor_item_t *item, tm_att_bytes *out, const char *what)
{
    if (tm_cbor_is_null(item)) return TM_ATT_OK;
    return copy_bstr(item, out, what);
}

static tm_att_error field_module_id(const cbor_item_t *v, tm_att_doc *doc)
{
    uint8_t *s = NULL;
    size_t n = 0;
    if (!cbor_isa_string(v) || tm_cbor_copy_string(v, true, &s, &n) != TM_OK || n == 0 || memchr(s, 0, n)) {
        free(s);
        tm_err_set(TM_ERR_INVALID, "module_id: not a non-empty text string");
        return TM_ATT_ERR_FIELD_TYPE;
    }
    doc->module_id = (char *)s;
    return TM_ATT_OK;
}

static size_t digest_len(const char *digest)
{
    if (strcmp(digest, "SHA256") == 0) return 32;
    if (strcmp(digest, "SHA384") == 0) return 48;
    if (strcmp(digest, "SHA512") == 0) return 64;
    return 0;
}

static tm_att_error field_digest(const cbor_item_t *v, tm_att_doc *doc)
{
    static const char *const names[] = {"SHA256", "SHA384", "SHA512"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (tm_cbor_text_is(v, names[i])) {
            memcpy(doc->digest, names[i], strlen(names[i]) + 1);
            return TM_ATT_OK;
        }
    }
    tm_err_set(TM_ERR_INVALID, "digest: not SHA256, SHA384 or SHA512");
    return TM_ATT_ERR_FIELD_TYPE;
}

static tm_att_error field_timestamp(const cbor_item_t *v, tm_att_doc *doc)
{
    uint64_t t = 0;
    if (!tm_cbor_get_uint(v, &t) || t == 0 || t > (uint64_t)INT64_MAX) {
        tm_err_set(TM_ERR_INVALID, "timestamp: not a positive integer");
        return TM_ATT_ERR_FIELD_TYPE;
    }
    doc->timestamp_ms = t;
    return TM_ATT_OK;
}

static tm_att_error pcr_entry(const struct cbor_pair *p, tm_att_doc *doc)
{
    uint64_t idx = 0;
    if (!tm_cbor_get_uint(p->key, &idx) || idx >= TM_ATT_MAX_PCRS || doc->pcrs[idx].present) {
        tm_err_set(TM_ERR_INVALID, "pcrs: bad or repeated index");
        return TM_ATT_ERR_FIELD_TYPE;
    }
    tm_att_pcr *pcr = &doc->pcrs[idx];
    if (!cbor_isa_bytestring(p->value) || !cbor_bytestring_is_definite(p->value) ||
        cbor_bytestring_length(p->value) > TM_ATT_PCR_MAX_LEN) {
        tm_err_set(TM_ERR_INVALID, "pcrs[%u]: not a byte string of at most %d bytes", (unsigned)idx,
                   TM_ATT_PCR_MAX_LEN);
        return TM_ATT_ERR_FIELD_TYPE;
    }
    pcr->len = cbor_bytestring_length(p->value);
    if (pcr->len > 0) memcpy(pcr->value, cbor_bytestring_handle(p->value), pcr->len);
    pcr->present = true;
    return TM_ATT_OK;
}

static tm_att_error field_pcrs(const cbor_item_t *v, tm_att_doc *doc)
{
    if (!cbor_isa_map(v) || cbor_map_size(v) == 0 || cbor_map_size(v) > TM_ATT_MAX_PCRS) {
        tm_err_set(TM_ERR_INVALID, "pcrs: not a map of 1..%d entries", TM_ATT_MAX_PCRS);
        return TM_ATT_ERR_FIELD_TYPE;
    }
    const struct cbor_pair *pairs = cbor_map_handle(v);
    for (size_t i = 0; i < cbor_map_size(v); i++) {
        tm_att_error err = pcr_entry(&pairs[i], doc);
        if (err != TM_ATT_OK) return err;
    }
    return TM_ATT_OK;
}

static tm_att_error field_cabundle(const cbor_item_t *v, tm_att_doc *doc)
{
    if (!cbor_isa_array(v) || cbor_array_size(v) == 0 || cbor_array_size(v) > TM_ATT_MAX_CABUNDLE) {
        tm_err_set(TM_ERR_INVALID, "cabundle: not an array of 1..%d certificates", TM_ATT_MAX_CABUNDLE);
        return TM_ATT_ERR_FIELD_TYPE;
    }
    cbor_item_t **items = cbor_array_handle(v);
    for (size_t i = 0; i < cbor_array_size(v); i++) {
        tm_att_error err = copy_bstr(items[i], &doc->cabundle[i], "cabundle entry");
        if (err == TM_ATT_OK && doc->cabundle[i].len == 0) err = TM_ATT_ERR_FIELD_TYPE;
        if (err != TM_ATT_OK) return err;
        doc->n_cabundle = i + 1;
    }
    return TM_ATT_OK;
}

static tm_att_error payload_field(size_t f, const cbor_item_t *v, tm_att_doc *doc)
{
    switch (f) {
    case F_MODULE_ID: return field_module_id(v, doc);
    case F_DIGEST: return field_digest(v, doc);
    case F_TIMESTAMP: return field_timestamp(v, doc);
    case F_PCRS: return field_pcrs(v, doc);
    case F_CERTIFICATE: return copy_bstr(v, &doc->certificate, "certificate");
    case F_CABUNDLE: return field_cabundle(v, doc);
    case F_PUBLIC_KEY: return optional_bstr(v, &doc->public_key, "public_key");
    case F_USER_DATA: return optional_bstr(v, &doc->user_data, "user_data");
    default: return optional_bstr(v, &doc->nonce, "nonce");
    }
}

static size_t field_index(const cbor_item_t *key)
{
    for (size_t f = 0; f < F_COUNT; f++)
        if (tm_cbor_text_is(key, field_names[f])) return f;
    return F_COUNT;
}

static tm_att_error check_pcr_lengths(const tm_att_doc *doc)
{
    size_t want = digest_len(doc->digest);
    for (size_t i = 0; i < TM_ATT_MAX_PCRS; i++) {
        if (doc->pcrs[i].present && doc->pcrs[i].len != want) {
            tm_err_set(TM_ERR_INVALID, "pcrs[%zu]: %zu bytes, %s needs %zu", i, doc->pcrs[i].len, doc->digest, want);
            return TM_ATT_ERR_FIELD_TYPE;
        }
    }
    return TM_ATT_OK;
}

static tm_att_error payload_map(const cbor_item_t *map, tm_att_doc *doc)
{
    unsigned seen = 0;
    const struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        if (!cbor_isa_string(pairs[i].key)) {
            tm_err_set(TM_ERR_INVALID, "payload: a key is not a text string");
            return TM_ATT_ERR_FIELD_TYPE;
        }
        size_t f = field_index(pairs[i].key);
        if (f == F_COUNT) continue; /* unknown keys are signed too; ignore them */
        if (seen & (1u << f)) {
            tm_err_set(TM_ERR_INVALID, "payload: %s appears twice", field_names[f]);
            return TM_ATT_ERR_FIELD_TYPE;
        }
        seen |= 1u << f;
        tm_att_error err = payload_field(f, pairs[i].value, doc);
        if (err != TM_ATT_OK) return err;
    }
    for (size_t f = 0; f < F_COUNT; f++) {
        if ((MANDATORY_FIELDS & (1u << f)) && !(seen & (1u << f))) {
            tm_err_set(TM_ERR_INVALID, "payload: %s is missing", field_names[f]);
            return TM_ATT_ERR_MISSING_FIELD;
        }
    }
    return check_pcr_lengths(doc);
}

static tm_att_error parse_payload(tm_att_doc *doc)
{
    cbor_item_t *map = NULL;
    tm_status st = tm_cbor_load(doc->payload.data, doc->payload.len, MAX_CONTAINERS, &map);
    if (st != TM_OK) return from_status(tm_err_prefix(st, "payload: "), TM_ATT_ERR_CBOR);
    tm_att_error err = TM_ATT_OK;
    if (!cbor_isa_map(map)) {
        tm_err_set(TM_ERR_INVALID, "payload: not a map");
        err = TM_ATT_ERR_FIELD_TYPE;
    } else {
        err = payload_map(map, doc);
    }
    cbor_decref(&map);
    return err;
}

/* The protected header must be exactly {1: -35}. */
static tm_att_error check_protected(const tm_att_doc *doc)
{
    cbor_item_t *map = NULL;
    tm_status st = tm_cbor_load(doc->protected_hdr.data, doc->protected_hdr.len, 4, &map);
    if (st != TM_OK) return from_status(tm_err_prefix(st, "protected header: "), TM_ATT_ERR_ALGORITHM);
    bool ok = cbor_isa_map(map) && cbor_map_size(map) == 1;
    if (ok) {
        const struct cbor_pair *p = cbor_map_handle(map);
        uint64_t label = 0;
        ok = tm_cbor_get_uint(p[0].key, &label) && label == 1 && cbor_isa_negint(p[0].value) &&
             cbor_get_int(p[0].value) == (uint64_t)(-1 - COSE_ALG_ES384);
    }
    cbor_decref(&map);
    if (ok) return TM_ATT_OK;
    tm_err_set(TM_ERR_INVALID, "protected header is not {1: -35} (ES384)");
    return TM_ATT_ERR_ALGORITHM;
}

static tm_att_error cose_parts(const cbor_item_t *arr, tm_att_doc *doc)
{
    if (!cbor_isa_array(arr) || cbor_array_size(arr) != 4) {
        tm_err_set(TM_ERR_INVALID, "COSE_Sign1: not an array of 4");
        return TM_ATT_ERR_COSE_STRUCTURE;
    }
    cbor_item_t **it = cbor_array_handle(arr);
    if (!cbor_isa_bytestring(it[0]) || !cbor_isa_map(it[1]) || !cbor_isa_bytestring(it[2]) ||
        !cbor_isa_bytestring(it[3])) {
        tm_err_set(TM_ERR_INVALID, "COSE_Sign1: not [bstr, map, bstr, bstr]");
        return TM_ATT_ERR_COSE_STRUCTURE;
    }
    tm_att_error err = copy_bstr(it[0], &doc->protected_hdr, "protected header");
    if (err == TM_ATT_OK) err = copy_bstr(it[2], &doc->payload, "payload");
    if (err == TM_ATT_OK) err = copy_bstr(it[3], &doc->signature, "signature");
    if (err == TM_ATT_ERR_FIELD_TYPE) err = TM_ATT_ERR_COSE_STRUCTURE;
    return err;
}

static tm_att_error cose_top(const cbor_item_t *top, tm_att_doc *doc)
{
    if (!cbor_isa_tag(top)) return cose_parts(top, doc);
    if (cbor_tag_value(top) != COSE_TAG_SIGN1) {
        tm_err_set(TM_ERR_INVALID, "COSE: tag %llu is not COSE_Sign1 (18)", (unsigned long long)cbor_tag_value(top));
        return TM_ATT_ERR_COSE_STRUCTURE;
    }
    cbor_item_t *inner = cbor_tag_item(top);
    tm_att_error err = cose_parts(inner, doc);
    cbor_decref(&inner);
    return err;
}

tm_att_error tm_att_parse(const uint8_t *cose, size_t len, tm_att_doc *doc)
{
    cbor_item_t *top = NULL;
    memset(doc, 0, sizeof(*doc));
    if (len > TM_ATT_DOC_MAX) {
        tm_err_set(TM_ERR_TOO_LARGE, "document: %zu bytes, more than %d", len, TM_ATT_DOC_MAX);
        return TM_ATT_ERR_CBOR;
    }
    /* libcbor 0.8 refuses the one-byte tag heads 0xc6..0xd4, COSE_Sign1's 0xd2 among
     * them: take that tag off here (NSM documents come untagged anyway). */
    bool tagged = len > 0 && cose[0] == 0xd0 + (COSE_TAG_SIGN1 - 16);
    tm_status st = tm_cbor_load(cose + tagged, len - tagged, 8, &top);
    if (st != TM_OK) return from_status(tm_err_prefix(st, "document: "), TM_ATT_ERR_CBOR);
    tm_att_error err = tagged ? cose_parts(top, doc) : cose_top(top, doc);
    cbor_decref(&top);
    if (err == TM_ATT_OK) err = check_protected(doc);
    if (err == TM_ATT_OK) err = parse_payload(doc);
    if (err != TM_ATT_OK) tm_att_doc_free(doc);
    return err;
}
