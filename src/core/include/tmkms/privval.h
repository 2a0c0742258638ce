/* CometBFT privval protocol: uvarint-length-delimited tendermint.privval.Message frames
 * and the canonical sign bytes of votes, proposals and vote extensions. */
#ifndef TMKMS_PRIVVAL_H
#define TMKMS_PRIVVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tendermint/privval/types.pb-c.h"
#include "tendermint/types/canonical.pb-c.h"
#include "tmkms/conn.h"
#include "tmkms/error.h"
#include "tmkms/types.h"

typedef Tendermint__Privval__Message tm_pv_msg;
typedef Tendermint__Types__Vote tm_pv_vote;
typedef Tendermint__Types__Proposal tm_pv_proposal;

/* CometBFT bounds a vote extension at 1 MiB (types.MaxVoteExtensionSize in practice is
 * app-defined; 1 MiB is what CometBFT's p2p layer carries). A frame holds one vote with
 * its extension plus signatures and fields: 1 MiB + 64 KiB of slack. */
#define TM_PRIVVAL_MAX_FRAME (((size_t)1 << 20) + ((size_t)64 << 10))

/* Reads frames from a connection; keeps bytes that arrived beyond the current frame. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len; /* bytes held */
    size_t max_frame;
} tm_frame_reader;

void tm_frame_reader_init(tm_frame_reader *fr, size_t max_frame);
void tm_frame_reader_free(tm_frame_reader *fr);
/* Read one whole message (blocking). A frame above max_frame is TM_ERR_TOO_LARGE, an
 * undecodable one TM_ERR_INVALID; both leave the stream unusable: close it. The message
 * is freed with tm_pv_msg_free. */
tm_status tm_privval_read(tm_conn *conn, tm_frame_reader *fr, tm_pv_msg **out);
/* Encode and write one message with its uvarint length prefix. */
tm_status tm_privval_write(tm_conn *conn, const tm_pv_msg *msg);
/* Encode into a malloc'd buffer (prefix included); for tests and tools. */
tm_status tm_privval_encode(const tm_pv_msg *msg, uint8_t **out, size_t *len);
/* Decode one frame body (no prefix). */
tm_status tm_privval_decode(const uint8_t *body, size_t len, tm_pv_msg **out);
void tm_pv_msg_free(tm_pv_msg *msg);

/* Check a request's fields before anything is signed: type, height > 0, round >= 0,
 * hash lengths (0 or 32), part set header, pol_round range, extension only on non-nil
 * precommits. Errors name the field ("vote.block_id.hash: 31 bytes, want 0 or 32"). */
tm_status tm_validate_vote(const tm_pv_vote *vote);
tm_status tm_validate_proposal(const tm_pv_proposal *proposal);
/* A nil block id: no hash and an empty part set header (types.BlockID.IsNil). */
bool tm_pv_block_id_is_nil(const Tendermint__Types__BlockID *block_id);

/* Canonical, length-delimited sign bytes, byte-exact with CometBFT. A missing timestamp
 * is Go's zero time. Written to out[cap]; *len set. */
tm_status tm_vote_sign_bytes(const char *chain_id, const tm_pv_vote *vote, uint8_t *out, size_t cap, size_t *len);
tm_status tm_proposal_sign_bytes(const char *chain_id, const tm_pv_proposal *proposal, uint8_t *out, size_t cap,
                                 size_t *len);
/* Vote extension sign bytes; the extension can be 1 MiB, so the buffer is malloc'd. */
tm_status tm_vote_extension_sign_bytes(const char *chain_id, const tm_pv_vote *vote, uint8_t **out, size_t *len);

/* Whether two sign bytes of the same kind differ only in their timestamp (CometBFT's
 * checkVotesOnlyDifferByTimestamp / checkProposalsOnlyDifferByTimestamp). On true,
 * *last_ts is the timestamp inside `last`. Undecodable input yields false. */
bool tm_sign_bytes_differ_only_by_timestamp(const uint8_t *last, size_t last_len, const uint8_t *next,
                                            size_t next_len, bool is_proposal, tm_timestamp *last_ts);

/* Decode stored canonical sign bytes for display/export (height, round, type, block id
 * hash prefix). Returns TM_ERR_INVALID for bytes that are not a canonical vote/proposal. */
typedef struct {
    int32_t type; /* 1 prevote, 2 precommit, 32 proposal */
    int64_t height;
    int64_t round;
    uint8_t block_hash[32];
    size_t block_hash_len;
    tm_timestamp timestamp;
} tm_sign_bytes_info;
tm_status tm_sign_bytes_inspect(const uint8_t *sb, size_t len, tm_sign_bytes_info *info);

#endif
