/* STROBE-128 (the subset Merlin uses: meta-AD, AD, PRF) and Merlin on top, following the
 * merlin crate's construction: rate R = 200 - 128/4 - 2 = 166 bytes. */
#include "tmkms/merlin.h"

#include <sodium.h>
#include <string.h>

#define STROBE_R 166
enum { FLAG_I = 1, FLAG_A = 2, FLAG_C = 4, FLAG_T = 8, FLAG_M = 16, FLAG_K = 32 };

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
static const unsigned rho[24] = {1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi[24] = {10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1};

static uint64_t rotl(uint64_t x, unsigned n)
{
    return (x << n) | (x >> (64 - n));
}

void tm_keccak_f1600(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], t;
        for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            t = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) a[y + x] ^= t;
        }
        t = a[1]; /* rho and pi */
        for (int i = 0; i < 24; i++) {
            uint64_t next = a[pi[i]];
            a[pi[i]] = rotl(t, rho[i]);
            t = next;
        }
        for (int y = 0; y < 25; y += 5) { /* chi */
            for (int x = 0; x < 5; x++) c[x] = a[y + x];
            for (int x = 0; x < 5; x++) a[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
        }
        a[0] ^= round_constants[round];
    }
}

/* The state is kept as bytes; lanes are little-endian, converted around the permutation so
 * the code is correct on any host. */
static void strobe_permute(tm_strobe128 *s)
{
    uint64_t lanes[25];
    for (int i = 0; i < 25; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--) v = v << 8 | s->st[8 * i + b];
        lanes[i] = v;
    }
    tm_keccak_f1600(lanes);
    for (int i = 0; i < 25; i++)
        for (int b = 0; b < 8; b++) s->st[8 * i + b] = (uint8_t)(lanes[i] >> (8 * b));
    sodium_memzero(lanes, sizeof(lanes));
}

static void run_f(tm_strobe128 *s)
{
    s->st[s->pos] ^= s->pos_begin;
    s->st[s->pos + 1] ^= 0x04;
    s->st[STROBE_R + 1] ^= 0x80;
    strobe_permute(s);
    s->pos = 0;
    s->pos_begin = 0;
}

static void absorb(tm_strobe128 *s, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        s->st[s->pos++] ^= data[i];
        if (s->pos == STROBE_R) run_f(s);
    }
}

static void squeeze(tm_strobe128 *s, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[i] = s->st[s->pos];
        s->st[s->pos++] = 0;
        if (s->pos == STROBE_R) run_f(s);
    }
}

static void begin_op(tm_strobe128 *s, uint8_t flags, int more)
{
    if (more) return; /* continuing the previous operation with the same flags */
    uint8_t old_begin = s->pos_begin;
    s->pos_begin = (uint8_t)(s->pos + 1);
    s->cur_flags = flags;
    uint8_t header[2] = {old_begin, flags};
    absorb(s, header, sizeof(header));
    if ((flags & (FLAG_C | FLAG_K)) && s->pos != 0) run_f(s);
}

static void meta_ad(tm_strobe128 *s, const uint8_t *data, size_t len, int more)
{
    begin_op(s, FLAG_M | FLAG_A, more);
    absorb(s, data, len);
}

static void strobe_init(tm_strobe128 *s, const uint8_t *label, size_t len)
{
    static const uint8_t head[6] = {1, STROBE_R + 2, 1, 0, 1, 96};
    memset(s, 0, sizeof(*s));
    memcpy(s->st, head, sizeof(head));
    memcpy(s->st + 6, "STROBEv1.0.2", 12);
    strobe_permute(s);
    meta_ad(s, label, len, 0);
}

static void le32(uint8_t out[4], size_t v)
{
    for (int i = 0; i < 4; i++) out[i] = (uint8_t)(v >> (8 * i));
}

void tm_merlin_init(tm_merlin *t, const uint8_t *label, size_t label_len)
{
    strobe_init(&t->strobe, (const uint8_t *)"Merlin v1.0", 11);
    tm_merlin_append(t, (const uint8_t *)"dom-sep", 7, label, label_len);
}

void tm_merlin_append(tm_merlin *t, const uint8_t *label, size_t label_len, const uint8_t *msg, size_t msg_len)
{
    uint8_t len[4];
    le32(len, msg_len);
    meta_ad(&t->strobe, label, label_len, 0);
    meta_ad(&t->strobe, len, sizeof(len), 1);
    begin_op(&t->strobe, FLAG_A, 0);
    absorb(&t->strobe, msg, msg_len);
}

void tm_merlin_challenge(tm_merlin *t, const uint8_t *label, size_t label_len, uint8_t *out, size_t out_len)
{
    uint8_t len[4];
    le32(len, out_len);
    meta_ad(&t->strobe, label, label_len, 0);
    meta_ad(&t->strobe, len, sizeof(len), 1);
    begin_op(&t->strobe, FLAG_I | FLAG_A | FLAG_C, 0);
    squeeze(&t->strobe, out, out_len);
}

void tm_merlin_wipe(tm_merlin *t)
{
    sodium_memzero(t, sizeof(*t));
}
