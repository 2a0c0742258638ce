/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
 * The TOML parser, the JSON log lines (jansson refuses anything else) and the metric
 * label values check it the same way. */
#ifndef TMKMS_UTF8_H
#define TMKMS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the well-formed sequence at s, reading at most `avail` bytes, with
 * its code point in *cp (when cp is not NULL); 0 when there is none (also when avail is 0). */
size_t tm_utf8_len(const unsigned char *s, size_t avail, uint32_t *cp);

/* Whether the NUL-terminated `s` is well-formed UTF-8. */
bool tm_utf8_valid(const char *s);

/* Replace each byte that does not start a well-formed sequence with '?', in place. */
void tm_utf8_sanitize(char *s);

#endif
