/* Canonical sign bytes, byte-exact with CometBFT (types/canonical.go, types/vote.go,
 * types/proposal.go): protoio.MarshalDelimited of CanonicalVote / CanonicalProposal /
 * CanonicalVoteExtension, encoded here by protobuf-c from the same field numbers. */
#include <stdlib.h>
#include <string.h>

#include "tmkms/buf.h"
#include "tmkms/privval.h"

typedef Tendermint__Types__CanonicalBlockID canonical_block_id;
typedef Tendermint__Types__CanonicalPartSetHeader canonical_psh;

bool tm_pv_block_id_is_nil(const Tendermint__Types__BlockID *bid)
{
    if (!bid) return true;
    const Tendermint__Types__PartSetHeader *psh = bid->part_set_header;
    bool psh_zero = !psh || (psh->total == 0 && psh->hash.len == 0);
    return bid->hash.len == 0 && psh_zero;
}

/* CanonicalizeBlockID: nil for a zero block id, else hash + part set header. */
static canonical_block_id *canonicalize_block_id(const Tendermint__Types__BlockID *bid, canonical_block_id *cbid,
                                                 canonical_psh *cpsh)
{
    static const canonical_block_id cbid_init = TENDERMINT__TYPES__CANONICAL_BLOCK_ID__INIT;
    static const canonical_psh cpsh_init = TENDERMINT__TYPES__CANONICAL_PART_SET_HEADER__INIT;
    if (tm_pv_block_id_is_nil(bid)) return NULL;
    *cbid = cbid_init;
    *cpsh = cpsh_init;
    cbid->hash = bid->hash;
    if (bid->part_set_header) {
        cpsh->total = bid->part_set_header->total;
        cpsh->hash = bid->part_set_header->hash;
    }
    cbid->part_set_header = cpsh; /* non-nullable in Go: always encoded */
    return cbid;
}

/* A missing timestamp is Go's zero time.Time, which gogoproto encodes as year 1. */
static Google__Protobuf__Timestamp *canonical_timestamp(const Google__Protobuf__Timestamp *ts,
                                                        Google__Protobuf__Timestamp *out)
{
    static const Google__Protobuf__Timestamp init = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    *out = init;
    if (ts) {
        out->seconds = ts->seconds;
        out->nanos = ts->nanos;
    } else {
        out->seconds = TM_GO_ZERO_TIME_SECONDS;
    }
    return out;
}

/* uvarint(length) || message, into out[cap]. */
static tm_status pack_delimited(const ProtobufCMessage *msg, uint8_t *out, size_t cap, size_t *len)
{
    size_t body = protobuf_c_message_get_packed_size(msg);
    size_t prefix = tm_uvarint_size(body);
    TM_ENSURE(body <= cap && prefix <= cap - body, TM_ERR_TOO_LARGE, "sign bytes of %zu bytes exceed %zu", body + prefix,
              cap);
    tm_writer w = tm_writer_init(out, cap);
    TM_TRY(tm_write_uvarint(&w, body));
    protobuf_c_message_pack(msg, out + w.len);
    *len = w.len + body;
    return TM_OK;
}

tm_status tm_vote_sign_bytes(const char *chain_id, const tm_pv_vote *vote, uint8_t *out, size_t cap, size_t *len)
{
    Tendermint__Types__CanonicalVote cv = TENDERMINT__TYPES__CANONICAL_VOTE__INIT;
    canonical_block_id cbid;
    canonical_psh cpsh;
    Google__Protobuf__Timestamp ts;
    cv.type = vote->type;
    cv.height = vote->height;
    cv.round = vote->round;
    cv.block_id = canonicalize_block_id(vote->block_id, &cbid, &cpsh);
    cv.timestamp = canonical_timestamp(vote->timestamp, &ts);
    cv.chain_id = (char *)chain_id;
    return pack_delimited(&cv.base, out, cap, len);
}

tm_status tm_proposal_sign_bytes(const char *chain_id, const tm_pv_proposal *proposal, uint8_t *out, size_t cap,
                                 size_t *len)
{
    Tendermint__Types__CanonicalProposal cp = TENDERMINT__TYPES__CANONICAL_PROPOSAL__INIT;
    canonical_block_id cbid;
    canonical_psh cpsh;
    Google__Protobuf__Timestamp ts;
    cp.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
    cp.height = proposal->height;
    cp.round = proposal->round;
    cp.pol_round = proposal->pol_round;
    cp.block_id = canonicalize_block_id(proposal->block_id, &cbid, &cpsh);
    cp.timestamp = canonical_timestamp(proposal->timestamp, &ts);
    cp.chain_id = (char *)chain_id;
    return pack_delimited(&cp.base, out, cap, len);
}

tm_status tm_vote_extension_sign_bytes(const char *chain_id, const tm_pv_vote *vote, uint8_t **out, size_t *len)
{
    Tendermint__Types__CanonicalVoteExtension ce = TENDERMINT__TYPES__CANONICAL_VOTE_EXTENSION__INIT;
    ce.extension = vote->extension;
    ce.height = vote->height;
    ce.round = vote->round;
    ce.chain_id = (char *)chain_id;
    size_t cap = protobuf_c_message_get_packed_size(&ce.base) + 10;
    uint8_t *buf = malloc(cap);
    TM_ENSURE(buf != NULL, TM_ERR_NOMEM, "out of memory");
    tm_status status = pack_delimited(&ce.base, buf, cap, len);
    if (status != TM_OK) {
        free(buf);
        return status;
    }
    *out = buf;
    return TM_OK;
}

/* Strip the uvarint prefix; the body must be exactly the rest. */
static tm_status delimited_body(const uint8_t *sb, size_t len, const uint8_t **body, size_t *body_len)
{
    tm_reader r = tm_reader_init(sb, len);
    uint64_t n = 0;
    TM_TRY(tm_read_uvarint(&r, &n));
    TM_ENSURE(n == tm_reader_left(&r), TM_ERR_INVALID, "sign bytes: length prefix %llu, body %zu bytes",
              (unsigned long long)n, tm_reader_left(&r));
    *body = sb + r.pos;
    *body_len = (size_t)n;
    return TM_OK;
}

static ProtobufCMessage *unpack_canonical(const uint8_t *sb, size_t len, bool is_proposal)
{
    const uint8_t *body;
    size_t body_len;
    if (delimited_body(sb, len, &body, &body_len) != TM_OK) return NULL;
    const ProtobufCMessageDescriptor *d = is_proposal ? &tendermint__types__canonical_proposal__descriptor
                                                      : &tendermint__types__canonical_vote__descriptor;
    return protobuf_c_message_unpack(d, NULL, body_len, body);
}

static Google__Protobuf__Timestamp **timestamp_field(ProtobufCMessage *m, bool is_proposal)
{
    return is_proposal ? &((Tendermint__Types__CanonicalProposal *)m)->timestamp
                       : &((Tendermint__Types__CanonicalVote *)m)->timestamp;
}

bool tm_sign_bytes_differ_only_by_timestamp(const uint8_t *last, size_t last_len, const uint8_t *next,
                                            size_t next_len, bool is_proposal, tm_timestamp *last_ts)
{
    bool same = false;
    uint8_t *repacked = NULL;
    ProtobufCMessage *a = unpack_canonical(last, last_len, is_proposal);
    ProtobufCMessage *b = unpack_canonical(next, next_len, is_proposal);
    if (!a || !b) goto out;
    /* Give `next` the last timestamp; then equal encodings mean equal messages but for it
     * (protobuf-c encodes fields in order, and both came from our canonical encoder). */
    Google__Protobuf__Timestamp **ta = timestamp_field(a, is_proposal);
    Google__Protobuf__Timestamp **tb = timestamp_field(b, is_proposal);
    Google__Protobuf__Timestamp *saved = *tb;
    *tb = *ta;
    size_t size = protobuf_c_message_get_packed_size(b);
    size_t body_len;
    const uint8_t *body;
    if (delimited_body(last, last_len, &body, &body_len) == TM_OK && size == body_len && (repacked = malloc(size ? size : 1))) {
        protobuf_c_message_pack(b, repacked);
        same = memcmp(repacked, body, size) == 0;
    }
    *tb = saved;
    if (same && last_ts) {
        last_ts->seconds = *ta ? (*ta)->seconds : 0;
        last_ts->nanos = *ta ? (*ta)->nanos : 0;
    }
out:
    free(repacked);
    if (a) protobuf_c_message_free_unpacked(a, NULL);
    if (b) protobuf_c_message_free_unpacked(b, NULL);
    return same;
}

tm_status tm_sign_bytes_inspect(const uint8_t *sb, size_t len, tm_sign_bytes_info *info)
{
    memset(info, 0, sizeof(*info));
    /* Try a vote first: a proposal's field 4 (pol_round, varint) does not parse as vote
     * field 4 (block id, length-delimited), and a proposal's type is 32. */
    ProtobufCMessage *m = unpack_canonical(sb, len, false);
    if (m && ((Tendermint__Types__CanonicalVote *)m)->type != 32) {
        Tendermint__Types__CanonicalVote *v = (Tendermint__Types__CanonicalVote *)m;
        info->type = v->type;
        info->height = v->height;
        info->round = v->round;
        if (v->block_id && v->block_id->hash.len <= sizeof(info->block_hash)) {
            memcpy(info->block_hash, v->block_id->hash.data, v->block_id->hash.len);
            info->block_hash_len = v->block_id->hash.len;
        }
        if (v->timestamp) info->timestamp = (tm_timestamp){v->timestamp->seconds, v->timestamp->nanos};
        protobuf_c_message_free_unpacked(m, NULL);
        return TM_OK;
    }
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    m = unpack_canonical(sb, len, true);
    TM_ENSURE(m != NULL, TM_ERR_INVALID, "sign bytes are not a canonical vote or proposal");
    Tendermint__Types__CanonicalProposal *p = (Tendermint__Types__CanonicalProposal *)m;
    info->type = p->type;
    info->height = p->height;
    info->round = p->round;
    if (p->block_id && p->block_id->hash.len <= sizeof(info->block_hash)) {
        memcpy(info->block_hash, p->block_id->hash.data, p->block_id->hash.len);
        info->block_hash_len = p->block_id->hash.len;
    }
    if (p->timestamp) info->timestamp = (tm_timestamp){p->timestamp->seconds, p->timestamp->nanos};
    protobuf_c_message_free_unpacked(m, NULL);
    return TM_OK;
}
