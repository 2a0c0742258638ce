/* tm_chain with a high-availability backend (ha.h): several instances, each its own
 * chain and local store, share one cluster record held by an in-memory backend that can
 * fail, time out, or let a competitor write just before a swap. Checked: a new signature
 * leaves only after its swap won and its local persist; an instance that lost to the
 * same (or timestamp-only different) sign bytes returns the winner's signature, anything
 * else is refused; the cluster's record becomes the local state of an instance that was
 * behind; an unavailable cluster or a swap of unknown outcome releases nothing. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tmkms/chain.h"
#include "tmkms/privval.h"

#include "../lib/mem_store.h"
#include "../lib/vote_bytes.h"

#define CHAIN "ha-chain"

static const uint8_t seed[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint8_t hash_a[32] = {0xAA, 1};
static const uint8_t hash_b[32] = {0xBB, 2};


/* ---- the cluster: one record per backend (one chain), with injected faults */
typedef struct {
    tm_ha_backend base;
    tm_ha_record rec;
    int swaps;
    bool load_unavailable;
    bool swap_unknown;         /* the swap errors out (its outcome unknown); it did apply */
    bool competitor_pending;   /* before the next swap, another instance writes this: */
    tm_sign_state competitor;
} mem_cluster;

static tm_status cluster_load(tm_ha_backend *b, const char *chain_id, tm_ha_record *out)
{
    mem_cluster *c = (mem_cluster *)b;
    assert_string_equal(chain_id, CHAIN);
    if (c->load_unavailable) return tm_err_set(TM_ERR_UNAVAILABLE, "etcd: no endpoint answered");
    *out = c->rec;
    return TM_OK;
}

static tm_status cluster_swap(tm_ha_backend *b, const char *chain_id, int64_t expected, const tm_sign_state *next,
                              bool *won, tm_ha_record *current)
{
    mem_cluster *c = (mem_cluster *)b;
    assert_string_equal(chain_id, CHAIN);
    c->swaps++;
    if (c->competitor_pending) {
        c->competitor_pending = false;
        c->rec.state = c->competitor;
        c->rec.revision++;
    }
    *won = c->rec.revision == expected;
    if (*won) {
        c->rec.state = *next;
        c->rec.revision++;
    }
    *current = c->rec;
    if (c->swap_unknown) return tm_err_set(TM_ERR_UNAVAILABLE, "etcd: timed out");
    return TM_OK;
}

static void cluster_close(tm_ha_backend *b)
{
    (void)b;
}

static const struct tm_ha_backend_ops cluster_ops = {cluster_load, cluster_swap, cluster_close};

/* ---- instances */
typedef struct {
    mem_store store;
    tm_chain *chain;
} instance;

static void instance_open(instance *in, mem_cluster *cluster, int64_t local_height)
{
    memset(in, 0, sizeof(*in));
    in->store.base.ops = &mem_store_ops;
    in->store.saved.height = local_height;
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    assert_int_equal(tm_chain_open(CHAIN, false, signer, &in->store.base, &in->store.saved, &in->chain), TM_OK);
    tm_chain_set_ha(in->chain, &cluster->base);
}

static void cluster_init(mem_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->base.ops = &cluster_ops;
}

/* Sign bytes of a vote at (h, 0, s) for block 0 (A), 1 (B) or 2 (nil), at time t. */
static size_t vote_bytes(int64_t h, tm_step s, int block, int64_t t, uint8_t out[TM_MAX_SIGN_BYTES])
{
    size_t len = test_vote_sign_bytes(CHAIN, s, h, 0, block == 0 ? hash_a : block == 1 ? hash_b : NULL, t, out);
    assert_true(len > 0);
    return len;
}

typedef struct {
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t len;
    tm_guard_request req;
} vote_req;

static const tm_guard_request *vote(vote_req *v, int64_t h, tm_step s, int block, int64_t t)
{
    v->len = vote_bytes(h, s, block, t, v->sb);
    v->req = (tm_guard_request){h, 0, s, v->sb, v->len};
    return &v->req;
}

/* The signed state a competitor would write for a vote. */
static tm_sign_state signed_state(int64_t h, tm_step s, int block, int64_t t)
{
    tm_sign_state st = {.height = h, .step = s, .has_signature = true};
    st.sign_bytes_len = vote_bytes(h, s, block, t, st.sign_bytes);
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(st.signature, NULL, st.sign_bytes, st.sign_bytes_len, sk);
    sodium_memzero(sk, sizeof(sk));
    return st;
}

static void test_two_instances_share_one_record(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a, b;
    instance_open(&a, &c, 0);
    instance_open(&b, &c, 0);
    vote_req v;
    tm_chain_sign_result ra, rb;

    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &ra), TM_OK);
    assert_int_equal(ra.verdict, TM_GUARD_SIGN);
    assert_int_equal(c.rec.revision, 1);
    assert_int_equal(a.store.saved.height, 1);

    /* B, asked the same: the winner's signature, and B's local state now holds it. */
    assert_int_equal(tm_chain_sign(b.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &rb), TM_OK);
    assert_int_equal(rb.verdict, TM_GUARD_REUSE);
    assert_memory_equal(ra.signature, rb.signature, TM_ED25519_SIG_LEN);
    assert_int_equal(b.store.saved.height, 1);
    assert_int_equal(c.swaps, 1);

    /* B, asked a conflict at the same step: refused. A timestamp-only change: A's
     * signature and A's timestamp. */
    assert_int_equal(tm_chain_sign(b.chain, vote(&v, 1, TM_STEP_PREVOTE, 1, 100), &rb), TM_ERR_DOUBLE_SIGN);
    assert_int_equal(tm_chain_sign(b.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 107), &rb), TM_OK);
    assert_int_equal(rb.verdict, TM_GUARD_REUSE_EARLIER_TIMESTAMP);
    assert_int_equal(rb.earlier_ts.seconds, 100);
    assert_memory_equal(ra.signature, rb.signature, TM_ED25519_SIG_LEN);

    /* B moves on; A, behind, adopts B's record and refuses its own older step. */
    assert_int_equal(tm_chain_sign(b.chain, vote(&v, 1, TM_STEP_PRECOMMIT, 0, 101), &rb), TM_OK);
    assert_int_equal(rb.verdict, TM_GUARD_SIGN);
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &ra), TM_ERR_DOUBLE_SIGN);
    assert_int_equal(a.store.saved.step, TM_STEP_PRECOMMIT);
    assert_int_equal(c.rec.revision, 2);
    tm_chain_close(a.chain);
    tm_chain_close(b.chain);
}

static void test_lost_race_to_identical_bytes_returns_winner(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    c.competitor_pending = true;
    c.competitor = signed_state(3, TM_STEP_PRECOMMIT, 0, 300);
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PRECOMMIT, 0, 300), &r), TM_OK);
    assert_int_equal(r.verdict, TM_GUARD_REUSE);
    assert_memory_equal(r.signature, c.competitor.signature, TM_ED25519_SIG_LEN);
    assert_int_equal(c.swaps, 1);
    assert_int_equal(a.store.saved.height, 3);
    tm_chain_close(a.chain);
}

static void test_lost_race_to_timestamp_only_returns_winner_timestamp(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    c.competitor_pending = true;
    c.competitor = signed_state(3, TM_STEP_PRECOMMIT, 0, 299);
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PRECOMMIT, 0, 300), &r), TM_OK);
    assert_int_equal(r.verdict, TM_GUARD_REUSE_EARLIER_TIMESTAMP);
    assert_int_equal(r.earlier_ts.seconds, 299);
    assert_memory_equal(r.signature, c.competitor.signature, TM_ED25519_SIG_LEN);
    tm_chain_close(a.chain);
}

static void test_lost_race_to_conflict_is_refused(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    c.competitor_pending = true;
    c.competitor = signed_state(3, TM_STEP_PRECOMMIT, 1, 300);
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PRECOMMIT, 0, 300), &r), TM_ERR_DOUBLE_SIGN);
    assert_non_null(strstr(tm_err_msg(), "another instance signed first"));
    assert_int_equal(tm_refusal_classify(TM_ERR_DOUBLE_SIGN, tm_err_msg()), TM_REFUSAL_HA_LOST_RACE);
    /* The competitor's record is now A's local state: A never signs block A there. */
    assert_memory_equal(a.store.saved.signature, c.competitor.signature, TM_ED25519_SIG_LEN);
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PRECOMMIT, 0, 300), &r), TM_ERR_DOUBLE_SIGN);
    tm_chain_close(a.chain);
}

static void test_lost_race_to_earlier_step_retries(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    c.competitor_pending = true;
    c.competitor = signed_state(3, TM_STEP_PREVOTE, 1, 300);
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PRECOMMIT, 0, 300), &r), TM_OK);
    assert_int_equal(r.verdict, TM_GUARD_SIGN);
    assert_int_equal(c.swaps, 2);
    assert_int_equal(c.rec.state.step, TM_STEP_PRECOMMIT);
    assert_memory_equal(c.rec.state.signature, r.signature, TM_ED25519_SIG_LEN);
    tm_chain_close(a.chain);
}

static void test_unavailable_cluster_releases_nothing(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    vote_req v;
    tm_chain_sign_result r;
    c.load_unavailable = true;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &r), TM_ERR_UNAVAILABLE);
    assert_int_equal(tm_refusal_classify(TM_ERR_UNAVAILABLE, tm_err_msg()), TM_REFUSAL_HA_UNAVAILABLE);
    assert_int_equal(a.store.persists, 0);
    assert_int_equal(c.swaps, 0);

    /* A swap that timed out may have applied: nothing leaves, nothing is persisted
     * locally; the next request reads the record and answers from it. */
    c.load_unavailable = false;
    c.swap_unknown = true;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &r), TM_ERR_UNAVAILABLE);
    assert_non_null(strstr(tm_err_msg(), "signature withheld"));
    assert_int_equal(a.store.persists, 0);
    assert_int_equal(c.rec.revision, 1);
    c.swap_unknown = false;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &r), TM_OK);
    assert_int_equal(r.verdict, TM_GUARD_REUSE);
    assert_memory_equal(r.signature, c.rec.state.signature, TM_ED25519_SIG_LEN);
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 1, 100), &r), TM_ERR_DOUBLE_SIGN);
    tm_chain_close(a.chain);
}

static void test_local_persist_failure_withholds(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    vote_req v;
    tm_chain_sign_result r;
    a.store.fail = true;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &r), TM_ERR_IO);
    assert_non_null(strstr(tm_err_msg(), "signature withheld"));
    a.store.fail = false;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 1, TM_STEP_PREVOTE, 0, 100), &r), TM_OK);
    assert_int_equal(r.verdict, TM_GUARD_REUSE);
    assert_int_equal(a.store.saved.height, 1);
    tm_chain_close(a.chain);
}

static void test_local_state_ahead_of_cluster(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 5);
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 3, TM_STEP_PREVOTE, 0, 100), &r), TM_ERR_DOUBLE_SIGN);
    assert_int_equal(c.swaps, 0);
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 6, TM_STEP_PREVOTE, 0, 100), &r), TM_OK);
    assert_int_equal(c.rec.state.height, 6);
    tm_chain_close(a.chain);
}

static void test_forged_record_is_refused(void **state)
{
    (void)state;
    mem_cluster c;
    cluster_init(&c);
    instance a;
    instance_open(&a, &c, 0);
    c.rec.state = signed_state(9, TM_STEP_PREVOTE, 0, 900);
    c.rec.state.signature[5] ^= 1;
    c.rec.revision = 4;
    vote_req v;
    tm_chain_sign_result r;
    assert_int_equal(tm_chain_sign(a.chain, vote(&v, 9, TM_STEP_PREVOTE, 0, 900), &r), TM_ERR_CORRUPT);
    assert_non_null(strstr(tm_err_msg(), "not this key's"));
    assert_int_equal(a.store.persists, 0);
    assert_int_equal(c.swaps, 0);
    tm_chain_close(a.chain);
}

int main(void)
{
    if (tm_crypto_init() != TM_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instances_share_one_record),
        cmocka_unit_test(test_lost_race_to_identical_bytes_returns_winner),
        cmocka_unit_test(test_lost_race_to_timestamp_only_returns_winner_timestamp),
        cmocka_unit_test(test_lost_race_to_conflict_is_refused),
        cmocka_unit_test(test_lost_race_to_earlier_step_retries),
        cmocka_unit_test(test_unavailable_cluster_releases_nothing),
        cmocka_unit_test(test_local_persist_failure_withholds),
        cmocka_unit_test(test_local_state_ahead_of_cluster),
        cmocka_unit_test(test_forged_record_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
