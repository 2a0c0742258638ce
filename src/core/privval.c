/* privval framing (uvarint length + tendermint.privval.Message), decoding through
 * protobuf-c, and the field checks a request passes before anything is signed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/buf.h"
#include "tmkms/privval.h"

#define READ_CHUNK 4096
#define MAX_VARINT 10
#define HASH_LEN 32
#define MAX_EXTENSION ((size_t)1 << 20)
/* Go's time.Time range that gogoproto accepts: 0001-01-01 to 9999-12-31. */
#define MIN_TIMESTAMP_SECONDS TM_GO_ZERO_TIME_SECONDS
#define MAX_TIMESTAMP_SECONDS 253402300799LL

void tm_frame_reader_init(tm_frame_reader *fr, size_t max_frame)
{
    memset(fr, 0, sizeof(*fr));
    fr->max_frame = max_frame;
}

void tm_frame_reader_free(tm_frame_reader *fr)
{
    free(fr->buf);
    memset(fr, 0, sizeof(*fr));
}

static tm_status reserve(tm_frame_reader *fr, size_t need)
{
    if (need <= fr->cap) return TM_OK;
    size_t cap = fr->cap ? fr->cap : READ_CHUNK;
    while (cap < need) cap *= 2;
    uint8_t *grown = realloc(fr->buf, cap);
    TM_ENSURE(grown != NULL, TM_ERR_NOMEM, "out of memory for a %zu-byte frame", need);
    fr->buf = grown;
    fr->cap = cap;
    return TM_OK;
}

/* Is fr->buf a complete frame? *total = prefix + body when yes, 0 when more is needed. */
static tm_status frame_size(const tm_frame_reader *fr, size_t *prefix, size_t *total)
{
    *total = 0;
    size_t n = fr->len < MAX_VARINT ? fr->len : MAX_VARINT;
    size_t i = 0;
    while (i < n && (fr->buf[i] & 0x80)) i++;
    if (i == n) {
        TM_ENSURE(n < MAX_VARINT, TM_ERR_INVALID, "frame length prefix longer than %d bytes", MAX_VARINT);
        return TM_OK; /* prefix still arriving */
    }
    tm_reader r = tm_reader_init(fr->buf, i + 1);
    uint64_t body = 0;
    TM_TRY(tm_read_uvarint(&r, &body));
    TM_ENSURE(body > 0, TM_ERR_INVALID, "empty frame");
    TM_ENSURE(body <= fr->max_frame, TM_ERR_TOO_LARGE, "frame of %" PRIu64 " bytes exceeds the %zu-byte bound", body,
              fr->max_frame);
    *prefix = r.pos;
    if (fr->len - r.pos >= body) *total = r.pos + (size_t)body;
    return TM_OK;
}

tm_status tm_privval_read(tm_conn *conn, tm_frame_reader *fr, tm_pv_msg **out)
{
    for (;;) {
        size_t prefix = 0, total = 0;
        TM_TRY(frame_size(fr, &prefix, &total));
        if (total > 0) {
            tm_status status = tm_privval_decode(fr->buf + prefix, total - prefix, out);
            memmove(fr->buf, fr->buf + total, fr->len - total); /* keep coalesced frames */
            fr->len -= total;
            return status;
        }
        TM_TRY(reserve(fr, fr->len + READ_CHUNK));
        size_t got = 0;
        TM_TRY(tm_conn_read(conn, fr->buf + fr->len, fr->cap - fr->len, &got));
        fr->len += got;
    }
}

tm_status tm_privval_decode(const uint8_t *body, size_t len, tm_pv_msg **out)
{
    tm_pv_msg *msg = (tm_pv_msg *)protobuf_c_message_unpack(&tendermint__privval__message__descriptor, NULL, len, body);
    TM_ENSURE(msg != NULL, TM_ERR_INVALID, "undecodable privval message (%zu bytes)", len);
    if (msg->sum_case == TENDERMINT__PRIVVAL__MESSAGE__SUM__NOT_SET) {
        tm_pv_msg_free(msg);
        return tm_err_set(TM_ERR_INVALID, "privval message with no request or response set");
    }
    *out = msg;
    return TM_OK;
}

void tm_pv_msg_free(tm_pv_msg *msg)
{
    if (msg) protobuf_c_message_free_unpacked(&msg->base, NULL);
}

tm_status tm_privval_encode(const tm_pv_msg *msg, uint8_t **out, size_t *len)
{
    size_t body = protobuf_c_message_get_packed_size(&msg->base);
    size_t total = tm_uvarint_size(body) + body;
    uint8_t *buf = malloc(total);
    TM_ENSURE(buf != NULL, TM_ERR_NOMEM, "out of memory");
    tm_writer w = tm_writer_init(buf, total);
    tm_status status = tm_write_uvarint(&w, body);
    if (status != TM_OK) {
        free(buf);
        return status;
    }
    protobuf_c_message_pack(&msg->base, buf + w.len);
    *out = buf;
    *len = total;
    return TM_OK;
}

tm_status tm_privval_write(tm_conn *conn, const tm_pv_msg *msg)
{
    uint8_t stack[1024];
    size_t body = protobuf_c_message_get_packed_size(&msg->base);
    size_t total = tm_uvarint_size(body) + body;
    /* Responses are small unless they echo a vote extension: avoid malloc on the hot path. */
    uint8_t *buf = total <= sizeof(stack) ? stack : malloc(total);
    TM_ENSURE(buf != NULL, TM_ERR_NOMEM, "out of memory");
    tm_writer w = tm_writer_init(buf, total);
    tm_status status = tm_write_uvarint(&w, body);
    if (status == TM_OK) {
        protobuf_c_message_pack(&msg->base, buf + w.len);
        status = tm_conn_write_all(conn, buf, total);
    }
    if (buf != stack) free(buf);
    return status;
}

/* ---- request validation ---- */

static tm_status check_hash(const char *field, const ProtobufCBinaryData *h)
{
    TM_ENSURE(h->len == 0 || h->len == HASH_LEN, TM_ERR_INVALID, "%s: %zu bytes, want 0 or %d", field, h->len,
              HASH_LEN);
    return TM_OK;
}

/* BlockID.ValidateBasic plus "either empty or complete". */
static tm_status check_block_id(const char *what, const Tendermint__Types__BlockID *bid, bool must_be_complete)
{
    char field[64];
    if (!bid) {
        TM_ENSURE(!must_be_complete, TM_ERR_INVALID, "%s.block_id: missing", what);
        return TM_OK;
    }
    snprintf(field, sizeof(field), "%s.block_id.hash", what);
    TM_TRY(check_hash(field, &bid->hash));
    const Tendermint__Types__PartSetHeader *psh = bid->part_set_header;
    if (psh) {
        snprintf(field, sizeof(field), "%s.block_id.part_set_header.hash", what);
        TM_TRY(check_hash(field, &psh->hash));
    }
    bool zero = tm_pv_block_id_is_nil(bid);
    bool complete = bid->hash.len == HASH_LEN && psh && psh->total > 0 && psh->hash.len == HASH_LEN;
    TM_ENSURE(complete || (zero && !must_be_complete), TM_ERR_INVALID,
              "%s.block_id: %s", what, must_be_complete ? "must be complete (hash and part set header)"
                                                        : "must be either empty or complete");
    return TM_OK;
}

static tm_status check_timestamp(const char *what, const Google__Protobuf__Timestamp *ts)
{
    if (!ts) return TM_OK; /* Go's zero time */
    TM_ENSURE(ts->nanos >= 0 && ts->nanos < 1000000000, TM_ERR_INVALID, "%s.timestamp.nanos: %d out of range", what,
              ts->nanos);
    TM_ENSURE(ts->seconds >= MIN_TIMESTAMP_SECONDS && ts->seconds <= MAX_TIMESTAMP_SECONDS, TM_ERR_INVALID,
              "%s.timestamp.seconds: %" PRId64 " outside years 1-9999", what, ts->seconds);
    return TM_OK;
}

tm_status tm_validate_vote(const tm_pv_vote *vote)
{
    bool precommit = vote->type == TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT;
    TM_ENSURE(precommit || vote->type == TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PREVOTE, TM_ERR_INVALID,
              "vote.type: %d is not a prevote (1) or precommit (2)", (int)vote->type);
    TM_ENSURE(vote->height > 0, TM_ERR_INVALID, "vote.height: %" PRId64 " is not positive", vote->height);
    TM_ENSURE(vote->round >= 0, TM_ERR_INVALID, "vote.round: %d is negative", vote->round);
    TM_TRY(check_block_id("vote", vote->block_id, false));
    TM_TRY(check_timestamp("vote", vote->timestamp));
    bool non_nil_precommit = precommit && !tm_pv_block_id_is_nil(vote->block_id);
    TM_ENSURE(vote->extension.len == 0 || non_nil_precommit, TM_ERR_INVALID,
              "vote.extension: only non-nil precommits carry an extension");
    TM_ENSURE(vote->extension.len <= MAX_EXTENSION, TM_ERR_INVALID, "vote.extension: %zu bytes exceed %zu",
              vote->extension.len, MAX_EXTENSION);
    return TM_OK;
}

tm_status tm_validate_proposal(const tm_pv_proposal *p)
{
    TM_ENSURE(p->type == TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL, TM_ERR_INVALID,
              "proposal.type: %d is not a proposal (32)", (int)p->type);
    TM_ENSURE(p->height > 0, TM_ERR_INVALID, "proposal.height: %" PRId64 " is not positive", p->height);
    TM_ENSURE(p->round >= 0, TM_ERR_INVALID, "proposal.round: %d is negative", p->round);
    TM_ENSURE(p->pol_round >= -1 && p->pol_round < p->round, TM_ERR_INVALID,
              "proposal.pol_round: %d must be -1 or in [0, round %d)", p->pol_round, p->round);
    TM_TRY(check_block_id("proposal", p->block_id, true));
    TM_TRY(check_timestamp("proposal", p->timestamp));
    return TM_OK;
}
