/* Internal helpers over libcbor shared by the NSM messages and attestation documents. */
#ifndef TMKMS_AWS_CBOR_UTIL_H
#define TMKMS_AWS_CBOR_UTIL_H

#include <cbor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/error.h"

/* Loads exactly one CBOR item spanning all of in[0..len): well-formed, no trailing bytes,
 * at most max_containers arrays/maps/tags/indefinite strings in all (which bounds the
 * nesting libcbor recurses over when freeing). TM_ERR_INVALID / TM_ERR_NOMEM. */
tm_status tm_cbor_load(const uint8_t *in, size_t len, size_t max_containers, cbor_item_t **out);

/* The content of a byte string (or text string when `text`), definite or chunked, as a
 * malloc'd copy with a NUL appended (not counted in *len). TM_ERR_INVALID on a type
 * mismatch. */
tm_status tm_cbor_copy_string(const cbor_item_t *item, bool text, uint8_t **out, size_t *len);

/* True if `item` is a definite text string equal to `s`. */
bool tm_cbor_text_is(const cbor_item_t *item, const char *s);

/* CBOR null / a boolean. Safe on any item: libcbor 0.8's cbor_is_null and cbor_is_bool
 * assert (abort) when given a float (found by fuzzing). */
bool tm_cbor_is_null(const cbor_item_t *item);
bool tm_cbor_get_bool(const cbor_item_t *item, bool *out);

/* An unsigned integer's value, any width. */
bool tm_cbor_get_uint(const cbor_item_t *item, uint64_t *out);

/* An unsigned integer in its shortest encoding (as serde_cbor and ciborium write it). */
cbor_item_t *tm_cbor_build_uint(uint64_t v);

/* Serializes into a malloc'd buffer. */
tm_status tm_cbor_serialize(const cbor_item_t *item, uint8_t **out, size_t *len);

/* map[key] = value for a text key; takes ownership of value (freed on failure too). */
tm_status tm_cbor_map_put(cbor_item_t *map, const char *key, cbor_item_t *value);

#endif
