/* The simulator's own protobuf writer and CometBFT canonical sign bytes. Deliberately
 * independent of src/core so that the two encoders check each other. */
#ifndef SIM_CANON_H
#define SIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tendermint/types/types.pb-c.h"

/* Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: what CometBFT signs when a
 * vote or proposal arrives without a timestamp. */
#define SIM_GO_ZERO_SECONDS (-62135596800LL)

/* A growable output buffer; `failed` is sticky so callers check once at the end. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} pb_out;

void pb_out_free(pb_out *o);
void pb_put_raw(pb_out *o, const uint8_t *p, size_t n);
void pb_put_uvarint(pb_out *o, uint64_t v);
/* Field writers: proto3 semantics, a zero value writes nothing. */
void pb_field_varint(pb_out *o, uint32_t field, uint64_t v);
void pb_field_sfixed64(pb_out *o, uint32_t field, int64_t v);
void pb_field_bytes(pb_out *o, uint32_t field, const uint8_t *p, size_t n);
/* An embedded message is always written, even when empty. */
void pb_field_msg(pb_out *o, uint32_t field, const pb_out *msg);

/* Length-delimited CanonicalVote / CanonicalProposal / CanonicalVoteExtension bytes.
 * Return 0 on success and fill *out (caller frees with pb_out_free). */
int canon_vote(const char *chain_id, const Tendermint__Types__Vote *v, pb_out *out);
int canon_proposal(const char *chain_id, const Tendermint__Types__Proposal *p, pb_out *out);
int canon_vote_extension(const char *chain_id, const Tendermint__Types__Vote *v, pb_out *out);

/* types.BlockID.IsZero: no hash and an empty part set header (absent counts as zero). */
bool canon_block_id_is_zero(const Tendermint__Types__BlockID *b);
/* The timestamp CometBFT sees: absent means Go's zero time. */
void canon_timestamp(const Google__Protobuf__Timestamp *ts, int64_t *seconds, int32_t *nanos);

#endif
