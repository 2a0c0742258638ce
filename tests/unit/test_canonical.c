/* Canonical sign bytes against CometBFT's published vectors, plus the encodings that
 * implementations get wrong: missing vs present-but-empty timestamps, nil block ids,
 * negative pol_round, and the timestamp-only comparison. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/privval.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    if (!hex) return 0; /* an absent field */
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        const char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        char *end = NULL;
        unsigned long v = strtoul(byte, &end, 16);
        assert_true(end == byte + 2 && v <= 0xff);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void test_cometbft_vote_vectors(void **unused)
{
    (void)unused;
    const char *shared = getenv("TMKMS_SHARED_DIR");
    assert_non_null(shared);
    char path[1024];
    snprintf(path, sizeof(path), "%s/vectors/cometbft-vote-signbytes.json", shared);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc) fail_msg("%s: %s", path, err.text);
    json_t *vectors = json_object_get(doc, "vectors");
    assert_true(json_array_size(vectors) >= 6);
    size_t i;
    json_t *v;
    json_array_foreach(vectors, i, v)
    {
        json_t *vote_json = json_object_get(v, "vote");
        Tendermint__Types__Vote vote = TENDERMINT__TYPES__VOTE__INIT;
        vote.type = (Tendermint__Types__SignedMsgType)json_integer_value(json_object_get(vote_json, "type"));
        vote.height = json_integer_value(json_object_get(vote_json, "height"));
        vote.round = (int32_t)json_integer_value(json_object_get(vote_json, "round"));
        uint8_t ext[64];
        const char *ext_hex = json_string_value(json_object_get(vote_json, "extension"));
        if (ext_hex) {
            vote.extension.len = unhex(ext_hex, ext, sizeof(ext));
            vote.extension.data = ext;
        }
        uint8_t want[256], got[TM_MAX_SIGN_BYTES];
        size_t want_len = unhex(json_string_value(json_object_get(v, "want")), want, sizeof(want));
        size_t got_len = 0;
        assert_int_equal(tm_vote_sign_bytes(json_string_value(json_object_get(v, "chain_id")), &vote, got,
                                            sizeof(got), &got_len),
                         TM_OK);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
    }
    json_decref(doc);
}

/* Vectors computed by CometBFT v0.38.26's own VoteSignBytes, ProposalSignBytes and
 * VoteExtensionSignBytes (tools/validator-sim/gen-vectors), covering block ids, rounds,
 * pol_round, timestamps and extensions. */
static void fill_block_id(json_t *j, Tendermint__Types__BlockID *bid, Tendermint__Types__PartSetHeader *psh,
                          uint8_t *hash, uint8_t *part_hash)
{
    json_t *b = json_object_get(j, "block_id");
    bid->part_set_header = psh;
    if (!b) return;
    bid->hash.len = unhex(json_string_value(json_object_get(b, "hash")), hash, 32);
    bid->hash.data = hash;
    psh->total = (uint32_t)json_integer_value(json_object_get(b, "total"));
    psh->hash.len = unhex(json_string_value(json_object_get(b, "part_hash")), part_hash, 32);
    psh->hash.data = part_hash;
}

static void test_cometbft_generated_vectors(void **unused)
{
    (void)unused;
    char path[1024];
    snprintf(path, sizeof(path), "%s/tools/validator-sim/vectors-cometbft.json", getenv("TMKMS_SOURCE_DIR"));
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc) fail_msg("%s: %s", path, err.text);
    size_t i, kinds[3] = {0, 0, 0};
    json_t *j;
    json_array_foreach(json_object_get(doc, "vectors"), i, j)
    {
        const char *kind = json_string_value(json_object_get(j, "kind"));
        const char *chain = json_string_value(json_object_get(j, "chain_id"));
        Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
        Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        uint8_t hash[32], part_hash[32], ext[256], want[512], got[TM_MAX_SIGN_BYTES];
        fill_block_id(j, &bid, &psh, hash, part_hash);
        json_t *tj = json_object_get(j, "timestamp");
        if (tj) {
            ts.seconds = json_integer_value(json_object_get(tj, "seconds"));
            ts.nanos = (int32_t)json_integer_value(json_object_get(tj, "nanos"));
        }
        size_t want_len = unhex(json_string_value(json_object_get(j, "want")), want, sizeof(want));
        size_t got_len = 0;
        uint8_t *ext_bytes = NULL;
        if (strcmp(kind, "proposal") == 0) {
            Tendermint__Types__Proposal p = TENDERMINT__TYPES__PROPOSAL__INIT;
            p.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
            p.height = json_integer_value(json_object_get(j, "height"));
            p.round = (int32_t)json_integer_value(json_object_get(j, "round"));
            p.pol_round = (int32_t)json_integer_value(json_object_get(j, "pol_round"));
            p.block_id = &bid;
            p.timestamp = tj ? &ts : NULL;
            assert_int_equal(tm_proposal_sign_bytes(chain, &p, got, sizeof(got), &got_len), TM_OK);
            kinds[1]++;
        } else {
            Tendermint__Types__Vote v = TENDERMINT__TYPES__VOTE__INIT;
            v.type = (Tendermint__Types__SignedMsgType)json_integer_value(json_object_get(j, "type"));
            v.height = json_integer_value(json_object_get(j, "height"));
            v.round = (int32_t)json_integer_value(json_object_get(j, "round"));
            v.block_id = &bid;
            v.timestamp = tj ? &ts : NULL;
            const char *ext_hex = json_string_value(json_object_get(j, "extension"));
            if (ext_hex) {
                v.extension.len = unhex(ext_hex, ext, sizeof(ext));
                v.extension.data = ext;
            }
            if (strcmp(kind, "extension") == 0) {
                assert_int_equal(tm_vote_extension_sign_bytes(chain, &v, &ext_bytes, &got_len), TM_OK);
                assert_true(got_len <= sizeof(got));
                memcpy(got, ext_bytes, got_len);
                free(ext_bytes);
                kinds[2]++;
            } else {
                assert_int_equal(tm_vote_sign_bytes(chain, &v, got, sizeof(got), &got_len), TM_OK);
                kinds[0]++;
            }
        }
        if (got_len != want_len || memcmp(got, want, want_len) != 0) fail_msg("vector %zu (%s) differs", i, kind);
    }
    assert_true(kinds[0] >= 3 && kinds[1] >= 3 && kinds[2] >= 3);
    json_decref(doc);
}

static void test_timestamp_encodings(void **unused)
{
    (void)unused;
    Tendermint__Types__Vote vote = TENDERMINT__TYPES__VOTE__INIT;
    Google__Protobuf__Timestamp epoch = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t len = 0;
    /* absent: Go's zero time, year 1 */
    assert_int_equal(tm_vote_sign_bytes("", &vote, sb, sizeof(sb), &len), TM_OK);
    const uint8_t zero_time[] = {0x0d, 0x2a, 0x0b, 0x08, 0x80, 0x92, 0xb8, 0xc3, 0x98, 0xfe, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(len, sizeof(zero_time));
    assert_memory_equal(sb, zero_time, len);
    /* present but empty: 1970, an empty Timestamp message */
    vote.timestamp = &epoch;
    assert_int_equal(tm_vote_sign_bytes("", &vote, sb, sizeof(sb), &len), TM_OK);
    const uint8_t empty_time[] = {0x02, 0x2a, 0x00};
    assert_int_equal(len, sizeof(empty_time));
    assert_memory_equal(sb, empty_time, len);
}

static void test_proposal_pol_round_is_varint(void **unused)
{
    (void)unused;
    Tendermint__Types__Proposal p = TENDERMINT__TYPES__PROPOSAL__INIT;
    Google__Protobuf__Timestamp epoch = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    p.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
    p.height = 1;
    p.pol_round = -1;
    p.timestamp = &epoch;
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t len = 0;
    assert_int_equal(tm_proposal_sign_bytes("c", &p, sb, sizeof(sb), &len), TM_OK);
    /* type 32, height sfixed64 1, pol_round int64 -1 as a 10-byte varint, timestamp, chain */
    const uint8_t want[] = {0x1b, 0x08, 0x20, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0x20, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x32, 0x00, 0x3a, 0x01, 'c'};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(sb, want, len);
}

static void test_nil_and_non_nil_block_ids(void **unused)
{
    (void)unused;
    Tendermint__Types__Vote vote = TENDERMINT__TYPES__VOTE__INIT;
    Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    uint8_t hash[32];
    memset(hash, 0x11, sizeof(hash));
    vote.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PREVOTE;
    vote.height = 3;
    bid.part_set_header = &psh;
    vote.block_id = &bid; /* present but zero: nil, no field 4 */
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t nil_len = 0, len = 0;
    assert_int_equal(tm_vote_sign_bytes("c", &vote, sb, sizeof(sb), &nil_len), TM_OK);
    for (size_t i = 1; i < nil_len; i++) assert_false(sb[i] == 0x22 && i == 20); /* no block id after height */
    bid.hash.data = hash;
    bid.hash.len = 32;
    psh.total = 1;
    psh.hash.data = hash;
    psh.hash.len = 32;
    assert_int_equal(tm_vote_sign_bytes("c", &vote, sb, sizeof(sb), &len), TM_OK);
    /* + field 4 {hash 32, psh {total 1, hash 32}} = 2 + (2+32) + (2 + 2 + 2+32) */
    assert_int_equal(len, nil_len + 2 + 34 + 38);
    assert_true(tm_pv_block_id_is_nil(NULL));
    assert_false(tm_pv_block_id_is_nil(&bid));
}

static void test_differ_only_by_timestamp(void **unused)
{
    (void)unused;
    Tendermint__Types__Vote vote = TENDERMINT__TYPES__VOTE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    vote.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT;
    vote.height = 9;
    vote.round = 2;
    vote.timestamp = &ts;
    uint8_t a[TM_MAX_SIGN_BYTES], b[TM_MAX_SIGN_BYTES];
    size_t alen, blen;
    ts.seconds = 1000;
    ts.nanos = 5;
    assert_int_equal(tm_vote_sign_bytes("c", &vote, a, sizeof(a), &alen), TM_OK);
    ts.seconds = 2000;
    ts.nanos = 0;
    assert_int_equal(tm_vote_sign_bytes("c", &vote, b, sizeof(b), &blen), TM_OK);
    tm_timestamp last = {0, 0};
    assert_true(tm_sign_bytes_differ_only_by_timestamp(a, alen, b, blen, false, &last));
    assert_int_equal(last.seconds, 1000);
    assert_int_equal(last.nanos, 5);
    vote.round = 3;
    assert_int_equal(tm_vote_sign_bytes("c", &vote, b, sizeof(b), &blen), TM_OK);
    assert_false(tm_sign_bytes_differ_only_by_timestamp(a, alen, b, blen, false, &last));
    assert_false(tm_sign_bytes_differ_only_by_timestamp(a, alen, (const uint8_t *)"\x05garbage", 8, false, &last));

    tm_sign_bytes_info info;
    assert_int_equal(tm_sign_bytes_inspect(a, alen, &info), TM_OK);
    assert_int_equal(info.type, 2);
    assert_int_equal(info.height, 9);
    assert_int_equal(info.round, 2);
    assert_int_equal(info.timestamp.seconds, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cometbft_vote_vectors),
        cmocka_unit_test(test_cometbft_generated_vectors),
        cmocka_unit_test(test_timestamp_encodings),
        cmocka_unit_test(test_proposal_pol_round_is_varint),
        cmocka_unit_test(test_nil_and_non_nil_block_ids),
        cmocka_unit_test(test_differ_only_by_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
