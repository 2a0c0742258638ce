/* libFuzzer target: the canonical encoding round trip (src/core/canonical.c). The input is
 * a privval Message body; a SignVoteRequest or SignProposalRequest in it gets its sign
 * bytes computed for the request's chain id, and those bytes are decoded back as the
 * canonical protobuf type a verifier decodes (CanonicalVote / CanonicalProposal /
 * CanonicalVoteExtension, proto/tendermint/types/canonical.proto): the length prefix is
 * the body's length and every field equals the request's (a nil block id absent, a
 * missing timestamp Go's zero time), whether or not the request validates. For requests
 * that validate, tm_sign_bytes_inspect reads the same height, round, type and block hash
 * back, and the bytes differ from themselves only by timestamp. Any disagreement aborts.
 * Seeds: CometBFT's published vote vectors and the vectors CometBFT v0.38.26 computed
 * (tools/validator-sim), as requests: fuzz/seeds/canonical.py writes fuzz/corpus/canonical/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/buf.h"
#include "tmkms/privval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) abort();                                                                                          \
    } while (0)

static bool bytes_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* The body after the uvarint prefix, which must be exactly the rest. */
static void body_of(const uint8_t *sb, size_t len, const uint8_t **body, size_t *body_len)
{
    tm_reader r = tm_reader_init(sb, len);
    uint64_t n = 0;
    CHECK(tm_read_uvarint(&r, &n) == TM_OK);
    CHECK(n == tm_reader_left(&r));
    *body = sb + r.pos;
    *body_len = (size_t)n;
}

static void check_block_id(const Tendermint__Types__BlockID *want, const Tendermint__Types__CanonicalBlockID *got)
{
    if (tm_pv_block_id_is_nil(want)) {
        CHECK(got == NULL);
        return;
    }
    CHECK(got != NULL && got->part_set_header != NULL);
    CHECK(bytes_eq(got->hash, want->hash));
    const Tendermint__Types__PartSetHeader *psh = want->part_set_header;
    ProtobufCBinaryData none = {0, NULL};
    CHECK(got->part_set_header->total == (psh ? psh->total : 0));
    CHECK(bytes_eq(got->part_set_header->hash, psh ? psh->hash : none));
}

static void check_timestamp(const Google__Protobuf__Timestamp *want, const Google__Protobuf__Timestamp *got)
{
    CHECK(got != NULL);
    CHECK(got->seconds == (want ? want->seconds : TM_GO_ZERO_TIME_SECONDS));
    CHECK(got->nanos == (want ? want->nanos : 0));
}

static void check_inspect(const uint8_t *sb, size_t len, int32_t type, int64_t height, int64_t round,
                          const Tendermint__Types__BlockID *bid, bool is_proposal)
{
    tm_sign_bytes_info info;
    tm_timestamp ts;
    CHECK(tm_sign_bytes_inspect(sb, len, &info) == TM_OK);
    CHECK(info.type == type && info.height == height && info.round == round);
    if (tm_pv_block_id_is_nil(bid))
        CHECK(info.block_hash_len == 0);
    else
        CHECK(info.block_hash_len == bid->hash.len && memcmp(info.block_hash, bid->hash.data, bid->hash.len) == 0);
    CHECK(tm_sign_bytes_differ_only_by_timestamp(sb, len, sb, len, is_proposal, &ts));
}

static void vote(const Tendermint__Privval__SignVoteRequest *req)
{
    const tm_pv_vote *v = req->vote;
    const char *chain_id = req->chain_id ? req->chain_id : "";
    uint8_t sb[TM_MAX_SIGN_BYTES], again[TM_MAX_SIGN_BYTES];
    size_t len = 0, len2 = 0;
    if (tm_vote_sign_bytes(chain_id, v, sb, sizeof(sb), &len) != TM_OK) return; /* over TM_MAX_SIGN_BYTES */
    CHECK(tm_vote_sign_bytes(chain_id, v, again, sizeof(again), &len2) == TM_OK);
    CHECK(len == len2 && memcmp(sb, again, len) == 0);

    const uint8_t *body;
    size_t body_len;
    body_of(sb, len, &body, &body_len);
    Tendermint__Types__CanonicalVote *cv = tendermint__types__canonical_vote__unpack(NULL, body_len, body);
    CHECK(cv != NULL);
    CHECK(cv->type == v->type && cv->height == v->height && cv->round == v->round);
    CHECK(strcmp(cv->chain_id, chain_id) == 0);
    check_block_id(v->block_id, cv->block_id);
    check_timestamp(v->timestamp, cv->timestamp);
    tendermint__types__canonical_vote__free_unpacked(cv, NULL);

    bool valid = tm_validate_vote(v) == TM_OK;
    if (valid) check_inspect(sb, len, v->type, v->height, v->round, v->block_id, false);

    uint8_t *ext = NULL;
    size_t ext_len = 0;
    if (tm_vote_extension_sign_bytes(chain_id, v, &ext, &ext_len) != TM_OK) return;
    body_of(ext, ext_len, &body, &body_len);
    Tendermint__Types__CanonicalVoteExtension *ce =
        tendermint__types__canonical_vote_extension__unpack(NULL, body_len, body);
    CHECK(ce != NULL);
    CHECK(bytes_eq(ce->extension, v->extension) && ce->height == v->height && ce->round == v->round);
    CHECK(strcmp(ce->chain_id, chain_id) == 0);
    tendermint__types__canonical_vote_extension__free_unpacked(ce, NULL);
    free(ext);
}

static void proposal(const Tendermint__Privval__SignProposalRequest *req)
{
    const tm_pv_proposal *p = req->proposal;
    const char *chain_id = req->chain_id ? req->chain_id : "";
    uint8_t sb[TM_MAX_SIGN_BYTES], again[TM_MAX_SIGN_BYTES];
    size_t len = 0, len2 = 0;
    if (tm_proposal_sign_bytes(chain_id, p, sb, sizeof(sb), &len) != TM_OK) return;
    CHECK(tm_proposal_sign_bytes(chain_id, p, again, sizeof(again), &len2) == TM_OK);
    CHECK(len == len2 && memcmp(sb, again, len) == 0);

    const uint8_t *body;
    size_t body_len;
    body_of(sb, len, &body, &body_len);
    Tendermint__Types__CanonicalProposal *cp = tendermint__types__canonical_proposal__unpack(NULL, body_len, body);
    CHECK(cp != NULL);
    /* The type is always the proposal's: CometBFT's CanonicalizeProposal sets it. */
    CHECK(cp->type == TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL);
    CHECK(cp->height == p->height && cp->round == p->round && cp->pol_round == p->pol_round);
    CHECK(strcmp(cp->chain_id, chain_id) == 0);
    check_block_id(p->block_id, cp->block_id);
    check_timestamp(p->timestamp, cp->timestamp);
    tendermint__types__canonical_proposal__free_unpacked(cp, NULL);

    if (tm_validate_proposal(p) == TM_OK)
        check_inspect(sb, len, TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL, p->height, p->round,
                      p->block_id, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    tm_pv_msg *m = NULL;
    if (tm_privval_decode(copy, size, &m) == TM_OK) {
        if (m->sum_case == TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST && m->sign_vote_request->vote)
            vote(m->sign_vote_request);
        else if (m->sum_case == TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_PROPOSAL_REQUEST &&
                 m->sign_proposal_request->proposal)
            proposal(m->sign_proposal_request);
        tm_pv_msg_free(m);
    }
    free(copy);
    return 0;
}
