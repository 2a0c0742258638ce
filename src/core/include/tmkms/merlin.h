/* Merlin transcripts (https://merlin.cool) over STROBE-128 / Keccak-f[1600]: the
 * transcript CometBFT's Secret Connection hashes its handshake into. Debian has no C
 * implementation, so this is our own, small, proven by the merlin crate's test vector. */
#ifndef TMKMS_MERLIN_H
#define TMKMS_MERLIN_H

#include <stddef.h>
#include <stdint.h>

/* Keccak-f[1600] on 25 little-endian lanes. */
void tm_keccak_f1600(uint64_t state[25]);

typedef struct {
    uint8_t st[200]; /* the Keccak state as bytes */
    uint8_t pos, pos_begin, cur_flags;
} tm_strobe128;

typedef struct {
    tm_strobe128 strobe;
} tm_merlin;

void tm_merlin_init(tm_merlin *t, const uint8_t *label, size_t label_len);
void tm_merlin_append(tm_merlin *t, const uint8_t *label, size_t label_len, const uint8_t *msg, size_t msg_len);
void tm_merlin_challenge(tm_merlin *t, const uint8_t *label, size_t label_len, uint8_t *out, size_t out_len);
/* Wipe the transcript state. */
void tm_merlin_wipe(tm_merlin *t);

#endif
