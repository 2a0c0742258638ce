/* The double-sign guard's table: regressions, repeats, timestamp-only differences,
 * conflicts, nil versus block votes, and imported states without sign bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/guard.h"
#include "tmkms/privval.h"

#include "../lib/vote_bytes.h"

static uint8_t hash_a[32] = {0xAA, 1, 2, 3};
static uint8_t hash_b[32] = {0xBB, 1, 2, 3};

typedef struct {
    uint8_t bytes[TM_MAX_SIGN_BYTES];
    size_t len;
} sign_bytes;

enum { PREVOTE = 1, PRECOMMIT = 2 };

/* Canonical vote sign bytes for (type, h, r, block hash or NULL for nil, timestamp s). */
static sign_bytes vote_bytes(int type, int64_t h, int32_t r, const uint8_t *hash, int64_t ts)
{
    sign_bytes sb;
    tm_step step = type == PRECOMMIT ? TM_STEP_PRECOMMIT : TM_STEP_PREVOTE;
    sb.len = test_vote_sign_bytes("guard-chain", step, h, r, hash, ts, sb.bytes);
    assert_true(sb.len > 0);
    return sb;
}

static sign_bytes proposal_bytes(int64_t h, int32_t r, int32_t pol, const uint8_t *hash, int64_t ts)
{
    Tendermint__Types__Proposal p = TENDERMINT__TYPES__PROPOSAL__INIT;
    Tendermint__Types__BlockID bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    Tendermint__Types__PartSetHeader psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    Google__Protobuf__Timestamp stamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    p.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
    p.height = h;
    p.round = r;
    p.pol_round = pol;
    bid.hash.data = (uint8_t *)hash;
    bid.hash.len = 32;
    psh.total = 1;
    psh.hash.data = (uint8_t *)hash;
    psh.hash.len = 32;
    bid.part_set_header = &psh;
    p.block_id = &bid;
    stamp.seconds = ts;
    p.timestamp = &stamp;
    sign_bytes sb;
    assert_int_equal(tm_proposal_sign_bytes("guard-chain", &p, sb.bytes, sizeof(sb.bytes), &sb.len), TM_OK);
    return sb;
}

static tm_sign_state last_state(int64_t h, int32_t r, tm_step step, const sign_bytes *sb)
{
    tm_sign_state st = {.height = h, .round = r, .step = step};
    if (sb) {
        memcpy(st.sign_bytes, sb->bytes, sb->len);
        st.sign_bytes_len = sb->len;
        st.has_signature = true;
        memset(st.signature, 0x5A, sizeof(st.signature));
    }
    return st;
}

static tm_status check(const tm_sign_state *last, int64_t h, int32_t r, tm_step step, const sign_bytes *sb,
                       tm_guard_verdict *verdict, tm_timestamp *ts)
{
    tm_guard_request req = {h, r, step, sb->bytes, sb->len};
    return tm_guard_check(last, &req, verdict, ts);
}


static void test_forward_progress_is_signed(void **unused)
{
    (void)unused;
    sign_bytes prev = vote_bytes(PREVOTE, 10, 0, hash_a, 100);
    tm_sign_state last = last_state(10, 0, TM_STEP_PREVOTE, &prev);
    tm_guard_verdict v;
    tm_timestamp ts;
    struct {
        int64_t h;
        int32_t r;
        tm_step s;
        int type;
    } cases[] = {
        {10, 0, TM_STEP_PRECOMMIT, PRECOMMIT}, /* next step */
        {10, 1, TM_STEP_PREVOTE, PREVOTE},     /* next round, earlier step */
        {11, 0, TM_STEP_PREVOTE, PREVOTE},     /* next height */
        {1000000, 0, TM_STEP_PREVOTE, PREVOTE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sign_bytes sb = vote_bytes(cases[i].type, cases[i].h, cases[i].r, hash_b, 200);
        assert_int_equal(check(&last, cases[i].h, cases[i].r, cases[i].s, &sb, &v, &ts), TM_OK);
        assert_int_equal(v, TM_GUARD_SIGN);
    }
}

static void test_regressions_are_refused(void **unused)
{
    (void)unused;
    sign_bytes pc = vote_bytes(PRECOMMIT, 10, 2, hash_a, 100);
    tm_sign_state last = last_state(10, 2, TM_STEP_PRECOMMIT, &pc);
    tm_guard_verdict v;
    tm_timestamp ts;
    struct {
        int64_t h;
        int32_t r;
        tm_step s;
        int type;
        const char *word;
    } cases[] = {
        {9, 5, TM_STEP_PRECOMMIT, PRECOMMIT, "height regression"},
        {10, 1, TM_STEP_PRECOMMIT, PRECOMMIT, "round regression"},
        {10, 2, TM_STEP_PREVOTE, PREVOTE, "step regression"},
        {10, 2, TM_STEP_PROPOSE, 0, "step regression"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sign_bytes sb = cases[i].type ? vote_bytes(cases[i].type, cases[i].h, cases[i].r, hash_a, 100)
                                      : proposal_bytes(cases[i].h, cases[i].r, -1, hash_a, 100);
        assert_int_equal(check(&last, cases[i].h, cases[i].r, cases[i].s, &sb, &v, &ts), TM_ERR_DOUBLE_SIGN);
        assert_non_null(strstr(tm_err_msg(), cases[i].word));
    }
}

static void test_identical_repeat_reuses_signature(void **unused)
{
    (void)unused;
    sign_bytes pc = vote_bytes(PRECOMMIT, 7, 0, hash_a, 100);
    tm_sign_state last = last_state(7, 0, TM_STEP_PRECOMMIT, &pc);
    tm_guard_verdict v;
    tm_timestamp ts;
    assert_int_equal(check(&last, 7, 0, TM_STEP_PRECOMMIT, &pc, &v, &ts), TM_OK);
    assert_int_equal(v, TM_GUARD_REUSE);
}

static void test_timestamp_only_difference_reuses_earlier(void **unused)
{
    (void)unused;
    sign_bytes first = vote_bytes(PREVOTE, 7, 0, hash_a, 100);
    sign_bytes later = vote_bytes(PREVOTE, 7, 0, hash_a, 250);
    tm_sign_state last = last_state(7, 0, TM_STEP_PREVOTE, &first);
    tm_guard_verdict v;
    tm_timestamp ts = {0, 0};
    assert_int_equal(check(&last, 7, 0, TM_STEP_PREVOTE, &later, &v, &ts), TM_OK);
    assert_int_equal(v, TM_GUARD_REUSE_EARLIER_TIMESTAMP);
    assert_int_equal(ts.seconds, 100);

    sign_bytes p1 = proposal_bytes(8, 1, -1, hash_a, 100);
    sign_bytes p2 = proposal_bytes(8, 1, -1, hash_a, 300);
    last = last_state(8, 1, TM_STEP_PROPOSE, &p1);
    assert_int_equal(check(&last, 8, 1, TM_STEP_PROPOSE, &p2, &v, &ts), TM_OK);
    assert_int_equal(v, TM_GUARD_REUSE_EARLIER_TIMESTAMP);
    assert_int_equal(ts.seconds, 100);
}

static void test_conflicts_are_refused(void **unused)
{
    (void)unused;
    tm_guard_verdict v;
    tm_timestamp ts;
    /* nil vote then a block vote at the same step, and the reverse */
    sign_bytes nil = vote_bytes(PREVOTE, 7, 0, NULL, 100);
    sign_bytes block = vote_bytes(PREVOTE, 7, 0, hash_a, 100);
    sign_bytes other = vote_bytes(PREVOTE, 7, 0, hash_b, 100);
    tm_sign_state last = last_state(7, 0, TM_STEP_PREVOTE, &nil);
    assert_int_equal(check(&last, 7, 0, TM_STEP_PREVOTE, &block, &v, &ts), TM_ERR_DOUBLE_SIGN);
    assert_non_null(strstr(tm_err_msg(), "conflicting data"));
    last = last_state(7, 0, TM_STEP_PREVOTE, &block);
    assert_int_equal(check(&last, 7, 0, TM_STEP_PREVOTE, &nil, &v, &ts), TM_ERR_DOUBLE_SIGN);
    assert_int_equal(check(&last, 7, 0, TM_STEP_PREVOTE, &other, &v, &ts), TM_ERR_DOUBLE_SIGN);
    /* a different block AND a different timestamp is still a conflict */
    sign_bytes other_late = vote_bytes(PREVOTE, 7, 0, hash_b, 999);
    assert_int_equal(check(&last, 7, 0, TM_STEP_PREVOTE, &other_late, &v, &ts), TM_ERR_DOUBLE_SIGN);
    /* proposals: another pol_round is a conflict */
    sign_bytes p1 = proposal_bytes(8, 2, -1, hash_a, 100);
    sign_bytes p2 = proposal_bytes(8, 2, 1, hash_a, 100);
    last = last_state(8, 2, TM_STEP_PROPOSE, &p1);
    assert_int_equal(check(&last, 8, 2, TM_STEP_PROPOSE, &p2, &v, &ts), TM_ERR_DOUBLE_SIGN);
}

static void test_same_step_without_sign_bytes_is_refused(void **unused)
{
    (void)unused;
    /* An imported state knows h/r/s but not what was signed: nothing at that step. */
    tm_sign_state last = last_state(20, 0, TM_STEP_PRECOMMIT, NULL);
    sign_bytes pc = vote_bytes(PRECOMMIT, 20, 0, hash_a, 100);
    tm_guard_verdict v;
    tm_timestamp ts;
    assert_int_equal(check(&last, 20, 0, TM_STEP_PRECOMMIT, &pc, &v, &ts), TM_ERR_DOUBLE_SIGN);
    sign_bytes next = vote_bytes(PREVOTE, 21, 0, hash_a, 100);
    assert_int_equal(check(&last, 21, 0, TM_STEP_PREVOTE, &next, &v, &ts), TM_OK);
    assert_int_equal(v, TM_GUARD_SIGN);
}

static void test_fresh_state_signs_height_one(void **unused)
{
    (void)unused;
    tm_sign_state fresh = {0};
    sign_bytes sb = proposal_bytes(1, 0, -1, hash_a, 5);
    tm_guard_verdict v;
    tm_timestamp ts;
    assert_int_equal(check(&fresh, 1, 0, TM_STEP_PROPOSE, &sb, &v, &ts), TM_OK);
    assert_int_equal(v, TM_GUARD_SIGN);
}

static void test_hrs_compare(void **unused)
{
    (void)unused;
    assert_true(tm_hrs_compare(1, 0, TM_STEP_PRECOMMIT, 2, 0, TM_STEP_PROPOSE) < 0);
    assert_true(tm_hrs_compare(2, 1, TM_STEP_PROPOSE, 2, 0, TM_STEP_PRECOMMIT) > 0);
    assert_true(tm_hrs_compare(2, 1, TM_STEP_PREVOTE, 2, 1, TM_STEP_PREVOTE) == 0);
    assert_true(tm_hrs_compare(2, 1, TM_STEP_PREVOTE, 2, 1, TM_STEP_PRECOMMIT) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_progress_is_signed),
        cmocka_unit_test(test_regressions_are_refused),
        cmocka_unit_test(test_identical_repeat_reuses_signature),
        cmocka_unit_test(test_timestamp_only_difference_reuses_earlier),
        cmocka_unit_test(test_conflicts_are_refused),
        cmocka_unit_test(test_same_step_without_sign_bytes_is_refused),
        cmocka_unit_test(test_fresh_state_signs_height_one),
        cmocka_unit_test(test_hrs_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
