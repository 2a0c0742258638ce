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
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
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
        cmocka_unit_test(test_timestamp_encodings),
        cmocka_unit_test(test_proposal_pol_round_is_varint),
        cmocka_unit_test(test_nil_and_non_nil_block_ids),
        cmocka_unit_test(test_differ_only_by_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
