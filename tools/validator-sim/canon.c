#include "canon.h"

#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2 };

void pb_out_free(pb_out *o)
{
    free(o->data);
    memset(o, 0, sizeof(*o));
}

static bool pb_reserve(pb_out *o, size_t n)
{
    if (o->failed) {
        return false;
    }
    if (n <= o->cap - o->len) {
        return true;
    }
    size_t want = o->cap ? o->cap : 64;
    while (want - o->len < n) {
        if (want > SIZE_MAX / 2) {
            o->failed = true;
            return false;
        }
        want *= 2;
    }
    uint8_t *p = realloc(o->data, want);
    if (!p) {
        o->failed = true;
        return false;
    }
    o->data = p;
    o->cap = want;
    return true;
}

void pb_put_raw(pb_out *o, const uint8_t *p, size_t n)
{
    if (n == 0 || !pb_reserve(o, n)) {
        return;
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

void pb_put_uvarint(pb_out *o, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        tmp[n++] = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    pb_put_raw(o, tmp, n);
}

static void pb_tag(pb_out *o, uint32_t field, unsigned wire)
{
    pb_put_uvarint(o, ((uint64_t)field << 3) | wire);
}

void pb_field_varint(pb_out *o, uint32_t field, uint64_t v)
{
    if (v == 0) {
        return;
    }
    pb_tag(o, field, WIRE_VARINT);
    pb_put_uvarint(o, v);
}

void pb_field_sfixed64(pb_out *o, uint32_t field, int64_t v)
{
    if (v == 0) {
        return;
    }
    uint64_t u = (uint64_t)v;
    uint8_t le[8];
    for (size_t i = 0; i < 8; i++) {
        le[i] = (uint8_t)(u >> (8 * i));
    }
    pb_tag(o, field, WIRE_FIXED64);
    pb_put_raw(o, le, sizeof(le));
}

void pb_field_bytes(pb_out *o, uint32_t field, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return;
    }
    pb_tag(o, field, WIRE_LEN);
    pb_put_uvarint(o, n);
    pb_put_raw(o, p, n);
}

void pb_field_msg(pb_out *o, uint32_t field, const pb_out *msg)
{
    if (msg->failed) {
        o->failed = true;
        return;
    }
    pb_tag(o, field, WIRE_LEN);
    pb_put_uvarint(o, msg->len);
    pb_put_raw(o, msg->data, msg->len);
}

static void pb_field_string(pb_out *o, uint32_t field, const char *s)
{
    if (s) {
        pb_field_bytes(o, field, (const uint8_t *)s, strlen(s));
    }
}

bool canon_block_id_is_zero(const Tendermint__Types__BlockID *b)
{
    if (!b) {
        return true;
    }
    const Tendermint__Types__PartSetHeader *psh = b->part_set_header;
    bool psh_zero = !psh || (psh->total == 0 && psh->hash.len == 0);
    return b->hash.len == 0 && psh_zero;
}

void canon_timestamp(const Google__Protobuf__Timestamp *ts, int64_t *seconds, int32_t *nanos)
{
    if (ts) {
        *seconds = ts->seconds;
        *nanos = ts->nanos;
    } else {
        *seconds = SIM_GO_ZERO_SECONDS;
        *nanos = 0;
    }
}

/* CanonicalBlockID {1 hash, 2 CanonicalPartSetHeader {1 total, 2 hash}}; the part set
 * header is non-nullable in Go, so it is written even when empty. The whole block id is
 * left out (nil pointer in Go) when it is zero. */
static void put_block_id(pb_out *o, uint32_t field, const Tendermint__Types__BlockID *b)
{
    if (canon_block_id_is_zero(b)) {
        return;
    }
    pb_out psh = {0}, bid = {0};
    if (b->part_set_header) {
        pb_field_varint(&psh, 1, b->part_set_header->total);
        pb_field_bytes(&psh, 2, b->part_set_header->hash.data, b->part_set_header->hash.len);
    }
    pb_field_bytes(&bid, 1, b->hash.data, b->hash.len);
    pb_field_msg(&bid, 2, &psh);
    pb_field_msg(o, field, &bid);
    pb_out_free(&psh);
    pb_out_free(&bid);
}

/* Timestamp is non-nullable (gogoproto stdtime): always written. */
static void put_timestamp(pb_out *o, uint32_t field, const Google__Protobuf__Timestamp *ts)
{
    int64_t s;
    int32_t n;
    canon_timestamp(ts, &s, &n);
    pb_out t = {0};
    pb_field_varint(&t, 1, (uint64_t)s);
    pb_field_varint(&t, 2, (uint64_t)(int64_t)n);
    pb_field_msg(o, field, &t);
    pb_out_free(&t);
}

/* Prefix the message with its uvarint length, as protoio.MarshalDelimited does. */
static int finish_delimited(pb_out *body, pb_out *out)
{
    memset(out, 0, sizeof(*out));
    if (!body->failed) {
        pb_put_uvarint(out, body->len);
        pb_put_raw(out, body->data, body->len);
    }
    int rc = (body->failed || out->failed) ? -1 : 0;
    pb_out_free(body);
    if (rc != 0) {
        pb_out_free(out);
    }
    return rc;
}

int canon_vote(const char *chain_id, const Tendermint__Types__Vote *v, pb_out *out)
{
    pb_out b = {0};
    pb_field_varint(&b, 1, (uint64_t)(int64_t)v->type);
    pb_field_sfixed64(&b, 2, v->height);
    pb_field_sfixed64(&b, 3, (int64_t)v->round);
    put_block_id(&b, 4, v->block_id);
    put_timestamp(&b, 5, v->timestamp);
    pb_field_string(&b, 6, chain_id);
    return finish_delimited(&b, out);
}

int canon_proposal(const char *chain_id, const Tendermint__Types__Proposal *p, pb_out *out)
{
    pb_out b = {0};
    /* CanonicalizeProposal always signs type 32, whatever the request carried. */
    pb_field_varint(&b, 1, TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL);
    pb_field_sfixed64(&b, 2, p->height);
    pb_field_sfixed64(&b, 3, (int64_t)p->round);
    /* pol_round is an int64 varint: -1 takes ten bytes. */
    pb_field_varint(&b, 4, (uint64_t)(int64_t)p->pol_round);
    put_block_id(&b, 5, p->block_id);
    put_timestamp(&b, 6, p->timestamp);
    pb_field_string(&b, 7, chain_id);
    return finish_delimited(&b, out);
}

int canon_vote_extension(const char *chain_id, const Tendermint__Types__Vote *v, pb_out *out)
{
    pb_out b = {0};
    pb_field_bytes(&b, 1, v->extension.data, v->extension.len);
    pb_field_sfixed64(&b, 2, v->height);
    pb_field_sfixed64(&b, 3, (int64_t)v->round);
    pb_field_string(&b, 4, chain_id);
    return finish_delimited(&b, out);
}
