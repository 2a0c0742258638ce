/* Canonical vote sign bytes for unit tests: a vote of `chain_id` at (h, r, step) for the
 * block with `hash` (32 bytes, used for the block and its part set) or nil (NULL), at
 * `seconds` since the epoch. */
#ifndef TMKMS_TEST_VOTE_BYTES_H
#define TMKMS_TEST_VOTE_BYTES_H

#include "tmkms/privval.h"

/* The length written to out, 0 when the encoder refused. */
static size_t test_vote_sign_bytes(const char *chain_id, tm_step step, int64_t h, int32_t r,
                                   const uint8_t *hash, int64_t seconds, uint8_t out[TM_MAX_SIGN_BYTES])
{
    Tendermint__Types__Vote vote = TENDERMINT__TYPES__VOTE__INIT;
    Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    vote.type = step == TM_STEP_PRECOMMIT ? TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT
                                          : TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PREVOTE;
    vote.height = h;
    vote.round = r;
    if (hash) {
        bid.hash.data = (uint8_t *)hash;
        bid.hash.len = 32;
        psh.total = 1;
        psh.hash.data = (uint8_t *)hash;
        psh.hash.len = 32;
    }
    bid.part_set_header = &psh;
    vote.block_id = &bid;
    ts.seconds = seconds;
    vote.timestamp = &ts;
    size_t len = 0;
    return tm_vote_sign_bytes(chain_id, &vote, out, TM_MAX_SIGN_BYTES, &len) == TM_OK ? len : 0;
}

#endif
