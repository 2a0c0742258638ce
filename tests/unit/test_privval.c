/* privval framing and decoding: frames split at every byte boundary, several frames in one
 * read, a declared length above the bound refused before its body is read, malformed
 * prefixes and bodies refused, and every message kind surviving a round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/privval.h"
#include "../lib/mem_conn.h"

/* A SignVoteRequest frame at height h. */
static uint8_t *vote_frame(int64_t h, size_t *len)
{
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__SignVoteRequest r = TENDERMINT__PRIVVAL__SIGN_VOTE_REQUEST__INIT;
    Tendermint__Types__Vote v = TENDERMINT__TYPES__VOTE__INIT;
    v.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PREVOTE;
    v.height = h;
    r.vote = &v;
    r.chain_id = "frame-chain";
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST;
    m.sign_vote_request = &r;
    uint8_t *buf = NULL;
    assert_int_equal(tm_privval_encode(&m, &buf, len), TM_OK);
    return buf;
}

static void test_split_at_every_boundary(void **unused)
{
    (void)unused;
    size_t len = 0;
    uint8_t *frame = vote_frame(77, &len);
    for (size_t chunk = 1; chunk <= len; chunk++) {
        mem_conn c = mem_conn_over(frame, len, chunk);
        tm_frame_reader fr;
        tm_frame_reader_init(&fr, TM_PRIVVAL_MAX_FRAME);
        tm_pv_msg *m = NULL;
        assert_int_equal(tm_privval_read(&c.base, &fr, &m), TM_OK);
        assert_int_equal(m->sum_case, TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST);
        assert_int_equal(m->sign_vote_request->vote->height, 77);
        assert_string_equal(m->sign_vote_request->chain_id, "frame-chain");
        tm_pv_msg_free(m);
        assert_int_equal(tm_privval_read(&c.base, &fr, &m), TM_ERR_EOF);
        tm_frame_reader_free(&fr);
    }
    free(frame);
}

static void test_coalesced_frames(void **unused)
{
    (void)unused;
    uint8_t stream[4096];
    size_t total = 0;
    for (int h = 1; h <= 20; h++) {
        size_t len = 0;
        uint8_t *f = vote_frame(h, &len);
        memcpy(stream + total, f, len);
        total += len;
        free(f);
    }
    mem_conn c = mem_conn_over(stream, total, sizeof(stream)); /* everything in one read */
    tm_frame_reader fr;
    tm_frame_reader_init(&fr, TM_PRIVVAL_MAX_FRAME);
    for (int h = 1; h <= 20; h++) {
        tm_pv_msg *m = NULL;
        assert_int_equal(tm_privval_read(&c.base, &fr, &m), TM_OK);
        assert_int_equal(m->sign_vote_request->vote->height, h);
        tm_pv_msg_free(m);
    }
    assert_int_equal(c.reads, 1);
    tm_frame_reader_free(&fr);
}

static void expect_frame_error(const uint8_t *data, size_t len, tm_status want, const char *fragment)
{
    mem_conn c = mem_conn_over(data, len, 3);
    tm_frame_reader fr;
    tm_frame_reader_init(&fr, 1024);
    tm_pv_msg *m = NULL;
    assert_int_equal(tm_privval_read(&c.base, &fr, &m), want);
    if (fragment && !strstr(tm_err_msg(), fragment)) fail_msg("'%s' lacks '%s'", tm_err_msg(), fragment);
    assert_true(fr.cap <= 8192); /* nothing was allocated for a refused length */
    tm_frame_reader_free(&fr);
}

static void test_malformed_frames(void **unused)
{
    (void)unused;
    const uint8_t too_large[] = {0x80, 0x80, 0x80, 0x08, 1, 2, 3}; /* 16 MiB declared */
    expect_frame_error(too_large, sizeof(too_large), TM_ERR_TOO_LARGE, "exceeds");
    const uint8_t just_over[] = {0x81, 0x08}; /* 1025 > 1024 */
    expect_frame_error(just_over, sizeof(just_over), TM_ERR_TOO_LARGE, "1025");
    const uint8_t empty[] = {0x00};
    expect_frame_error(empty, sizeof(empty), TM_ERR_INVALID, "empty frame");
    const uint8_t long_prefix[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    expect_frame_error(long_prefix, sizeof(long_prefix), TM_ERR_INVALID, "prefix");
    const uint8_t overlong[] = {0x85, 0x00, 0x3a};
    expect_frame_error(overlong, sizeof(overlong), TM_ERR_INVALID, "overlong");
    const uint8_t garbage[] = {0x04, 0xff, 0xff, 0xff, 0xff};
    expect_frame_error(garbage, sizeof(garbage), TM_ERR_INVALID, "undecodable");
    const uint8_t no_oneof[] = {0x02, 0x50, 0x01}; /* only an unknown field 10 */
    expect_frame_error(no_oneof, sizeof(no_oneof), TM_ERR_INVALID, "no request");
    const uint8_t truncated[] = {0x10, 0x1a, 0x02};
    expect_frame_error(truncated, sizeof(truncated), TM_ERR_EOF, NULL);
}

static void test_round_trip_every_kind(void **unused)
{
    (void)unused;
    Tendermint__Privval__PingRequest ping = TENDERMINT__PRIVVAL__PING_REQUEST__INIT;
    Tendermint__Privval__PingResponse pong = TENDERMINT__PRIVVAL__PING_RESPONSE__INIT;
    Tendermint__Privval__PubKeyRequest pkr = TENDERMINT__PRIVVAL__PUB_KEY_REQUEST__INIT;
    Tendermint__Privval__PubKeyResponse pks = TENDERMINT__PRIVVAL__PUB_KEY_RESPONSE__INIT;
    Tendermint__Crypto__PublicKey pk = TENDERMINT__CRYPTO__PUBLIC_KEY__INIT;
    Tendermint__Privval__SignedVoteResponse svr = TENDERMINT__PRIVVAL__SIGNED_VOTE_RESPONSE__INIT;
    Tendermint__Privval__SignProposalRequest spr = TENDERMINT__PRIVVAL__SIGN_PROPOSAL_REQUEST__INIT;
    Tendermint__Privval__SignedProposalResponse sps = TENDERMINT__PRIVVAL__SIGNED_PROPOSAL_RESPONSE__INIT;
    Tendermint__Privval__RemoteSignerError err = TENDERMINT__PRIVVAL__REMOTE_SIGNER_ERROR__INIT;
    Tendermint__Types__Vote empty_vote = TENDERMINT__TYPES__VOTE__INIT;
    Tendermint__Types__Proposal prop = TENDERMINT__TYPES__PROPOSAL__INIT;
    uint8_t key[32] = {7};
    pkr.chain_id = "c";
    pk.sum_case = TENDERMINT__CRYPTO__PUBLIC_KEY__SUM_ED25519;
    pk.ed25519 = (ProtobufCBinaryData){32, key};
    pks.pub_key = &pk;
    err.description = "refused";
    svr.vote = &empty_vote;
    svr.error = &err;
    prop.height = 9;
    spr.proposal = &prop;
    sps.proposal = &prop;
    struct {
        Tendermint__Privval__Message__SumCase kind;
        void *body;
    } cases[] = {
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_REQUEST, &ping},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_RESPONSE, &pong},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_REQUEST, &pkr},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE, &pks},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE, &svr},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_PROPOSAL_REQUEST, &spr},
        {TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_PROPOSAL_RESPONSE, &sps},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
        m.sum_case = cases[i].kind;
        m.ping_request = cases[i].body; /* the oneof shares one pointer */
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(tm_privval_encode(&m, &buf, &len), TM_OK);
        tm_pv_msg *back = NULL;
        assert_int_equal(tm_privval_decode(buf + 1, len - 1, &back), TM_OK);
        assert_int_equal(back->sum_case, cases[i].kind);
        if (cases[i].kind == TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE) {
            /* the non-nullable vote is on the wire even when empty: field 1, length 0 */
            /* frame length, 0x22 (field 4), length, then 0x0a 0x00: an empty vote, encoded */
            assert_int_equal(buf[1], 0x22);
            assert_int_equal(buf[3], 0x0a);
            assert_int_equal(buf[4], 0x00);
            assert_non_null(back->signed_vote_response->vote);
            assert_string_equal(back->signed_vote_response->error->description, "refused");
        }
        if (cases[i].kind == TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE)
            assert_memory_equal(back->pub_key_response->pub_key->ed25519.data, key, 32);
        tm_pv_msg_free(back);
        free(buf);
    }
}

static void test_validation_names_fields(void **unused)
{
    (void)unused;
    Tendermint__Types__Vote v = TENDERMINT__TYPES__VOTE__INIT;
    Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t h[32] = {1};
    v.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT;
    v.height = 3;
    bid.part_set_header = &psh;
    v.block_id = &bid;
    assert_int_equal(tm_validate_vote(&v), TM_OK); /* nil precommit */
    v.type = 32;
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.type"));
    v.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT;
    v.height = 0;
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.height"));
    v.height = 3;
    v.round = -1;
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.round"));
    v.round = 0;
    bid.hash = (ProtobufCBinaryData){32, h}; /* hash without part set header: incomplete */
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.block_id"));
    psh.total = 1;
    psh.hash = (ProtobufCBinaryData){31, h};
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.block_id.part_set_header.hash"));
    psh.hash.len = 32;
    assert_int_equal(tm_validate_vote(&v), TM_OK);
    ts.nanos = 1000000000;
    v.timestamp = &ts;
    assert_int_equal(tm_validate_vote(&v), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "vote.timestamp.nanos"));

    Tendermint__Types__Proposal p = TENDERMINT__TYPES__PROPOSAL__INIT;
    p.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
    p.height = 3;
    p.round = 2;
    p.pol_round = 2;
    p.block_id = &bid;
    assert_int_equal(tm_validate_proposal(&p), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "proposal.pol_round"));
    p.pol_round = -1;
    assert_int_equal(tm_validate_proposal(&p), TM_OK);
    p.block_id = NULL;
    assert_int_equal(tm_validate_proposal(&p), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "proposal.block_id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_at_every_boundary),
        cmocka_unit_test(test_coalesced_frames),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_validation_names_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
