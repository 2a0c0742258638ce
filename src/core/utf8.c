/* See utf8.h. */
#include "tmkms/utf8.h"

#include <string.h>

size_t tm_utf8_len(const unsigned char *s, size_t avail, uint32_t *cp)
{
    if (avail == 0) return 0;
    unsigned char c = s[0];
    size_t n;
    uint32_t v;
    uint32_t min;
    if (c < 0x80) {
        n = 1, v = c, min = 0;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    if (cp) *cp = v;
    return n;
}

bool tm_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left > 0) {
        size_t n = tm_utf8_len(p, left, NULL);
        if (n == 0) return false;
        p += n;
        left -= n;
    }
    return true;
}

void tm_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s);
    while (left > 0) {
        size_t n = tm_utf8_len(p, left, NULL);
        if (n == 0) {
            *p = '?';
            n = 1;
        }
        p += n;
        left -= n;
    }
}
