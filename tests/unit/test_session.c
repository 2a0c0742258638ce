/* The session and chain layers: responses to each request kind, refusals as
 * RemoteSignerError with an (empty, encoded) vote, extension signatures on exactly the
 * non-nil precommits, echo of the request, persistence before release, and concurrent
 * conflicting requests from several threads yielding one signature. */
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tmkms/buf.h"
#include "tmkms/chain.h"
#include "tmkms/log.h"
#include "tmkms/metrics.h"
#include "tmkms/session.h"

#include "../lib/mem_store.h"


typedef struct {
    mem_store store;
    tm_chain *chain;
    tm_session session;
    tm_session_scratch *scratch;
    tm_metrics *metrics; /* the registry the chain counts into, or NULL */
} fixture;

static const uint8_t seed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static int setup(void **state)
{
    assert_true(sodium_init() >= 0);
    fixture *f = calloc(1, sizeof(*f));
    f->store.base.ops = &mem_store_ops;
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    tm_sign_state fresh = {0};
    assert_int_equal(tm_chain_open("sess-chain", true, signer, &f->store.base, &fresh, &f->chain), TM_OK);
    f->session.chain = f->chain;
    f->session.max_height = 1000;
    f->session.addr = "unix://test";
    f->scratch = tm_session_scratch_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tm_chain_close(f->chain);
    tm_session_scratch_free(f->scratch);
    tm_metrics_free(f->metrics);
    free(f);
    return 0;
}

/* The same, with a metrics registry (the chain takes the process's at open). */
static int setup_metrics(void **state)
{
    tm_metrics *m = NULL;
    assert_int_equal(tm_metrics_new(&m), TM_OK);
    tm_metrics_set_global(m);
    int r = setup(state);
    tm_metrics_set_global(NULL);
    ((fixture *)*state)->metrics = m;
    return r;
}

static uint8_t hash_a[32] = {0xAA};
static uint8_t hash_b[32] = {0xBB};

typedef struct {
    Tendermint__Privval__Message msg;
    Tendermint__Privval__SignVoteRequest req;
    Tendermint__Types__Vote vote;
    Tendermint__Types__BlockID bid;
    Tendermint__Types__PartSetHeader psh;
    Google__Protobuf__Timestamp ts;
} vote_req;

static void make_vote(vote_req *r, int type, int64_t h, int32_t round, const uint8_t *hash, int64_t ts,
                      const char *chain)
{
    static const Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    static const Tendermint__Privval__SignVoteRequest q = TENDERMINT__PRIVVAL__SIGN_VOTE_REQUEST__INIT;
    static const Tendermint__Types__Vote v = TENDERMINT__TYPES__VOTE__INIT;
    static const Tendermint__Types__BlockID b = TENDERMINT__TYPES__BLOCK_ID__INIT;
    static const Tendermint__Types__PartSetHeader p = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    static const Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    r->msg = m;
    r->req = q;
    r->vote = v;
    r->bid = b;
    r->psh = p;
    r->ts = t;
    r->vote.type = type;
    r->vote.height = h;
    r->vote.round = round;
    if (hash) {
        r->bid.hash.data = (uint8_t *)hash;
        r->bid.hash.len = 32;
        r->psh.total = 1;
        r->psh.hash.data = (uint8_t *)hash;
        r->psh.hash.len = 32;
    }
    r->bid.part_set_header = &r->psh;
    r->vote.block_id = &r->bid;
    r->ts.seconds = ts;
    r->vote.timestamp = &r->ts;
    r->req.vote = &r->vote;
    r->req.chain_id = (char *)chain;
    r->msg.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST;
    r->msg.sign_vote_request = &r->req;
}

/* Round-trip through the wire encoding, as a real request arrives. */
static tm_pv_msg *wire(const tm_pv_msg *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tm_privval_encode(msg, &buf, &len), TM_OK);
    tm_reader r = tm_reader_init(buf, len);
    uint64_t body = 0;
    assert_int_equal(tm_read_uvarint(&r, &body), TM_OK);
    tm_pv_msg *out = NULL;
    assert_int_equal(tm_privval_decode(buf + r.pos, (size_t)body, &out), TM_OK);
    free(buf);
    return out;
}

/* Handle a request; returns the decoded response (what the node would read). */
static tm_pv_msg *handle(fixture *f, const tm_pv_msg *request)
{
    tm_pv_msg *req = wire(request);
    tm_pv_msg resp;
    assert_int_equal(tm_session_handle(&f->session, req, &resp, f->scratch), TM_OK);
    tm_pv_msg *out = wire(&resp);
    tm_session_done(f->scratch);
    tm_pv_msg_free(req);
    return out;
}

static void assert_vote_signed(const fixture *f, const tm_pv_msg *resp, bool want_ext)
{
    assert_int_equal(resp->sum_case, TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE);
    const Tendermint__Privval__SignedVoteResponse *r = resp->signed_vote_response;
    assert_null(r->error);
    assert_non_null(r->vote);
    assert_int_equal(r->vote->signature.len, 64);
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t len = 0;
    assert_int_equal(tm_vote_sign_bytes("sess-chain", r->vote, sb, sizeof(sb), &len), TM_OK);
    assert_int_equal(crypto_sign_verify_detached(r->vote->signature.data, sb, len, f->chain->signer->pubkey), 0);
    if (!want_ext) {
        assert_int_equal(r->vote->extension_signature.len, 0);
        return;
    }
    assert_int_equal(r->vote->extension_signature.len, 64);
    uint8_t *ext = NULL;
    assert_int_equal(tm_vote_extension_sign_bytes("sess-chain", r->vote, &ext, &len), TM_OK);
    assert_int_equal(crypto_sign_verify_detached(r->vote->extension_signature.data, ext, len,
                                                 f->chain->signer->pubkey),
                     0);
    free(ext);
}

static void assert_vote_refused(const tm_pv_msg *resp, const char *why)
{
    assert_int_equal(resp->sum_case, TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE);
    const Tendermint__Privval__SignedVoteResponse *r = resp->signed_vote_response;
    assert_non_null(r->error);
    assert_non_null(strstr(r->error->description, why));
    /* Go's SignedVoteResponse.vote is non-nullable: it must be on the wire, and empty. */
    assert_non_null(r->vote);
    assert_int_equal(r->vote->signature.len, 0);
    assert_int_equal(r->vote->height, 0);
}

static void test_ping_and_pubkey(void **state)
{
    fixture *f = *state;
    Tendermint__Privval__Message ping = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PingRequest pr = TENDERMINT__PRIVVAL__PING_REQUEST__INIT;
    ping.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_REQUEST;
    ping.ping_request = &pr;
    tm_pv_msg *resp = handle(f, &ping);
    assert_int_equal(resp->sum_case, TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_RESPONSE);
    tm_pv_msg_free(resp);

    Tendermint__Privval__Message pk = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PubKeyRequest pkr = TENDERMINT__PRIVVAL__PUB_KEY_REQUEST__INIT;
    pkr.chain_id = "sess-chain";
    pk.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_REQUEST;
    pk.pub_key_request = &pkr;
    resp = handle(f, &pk);
    assert_int_equal(resp->sum_case, TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE);
    assert_null(resp->pub_key_response->error);
    assert_int_equal(resp->pub_key_response->pub_key->ed25519.len, 32);
    assert_memory_equal(resp->pub_key_response->pub_key->ed25519.data, f->chain->signer->pubkey, 32);
    tm_pv_msg_free(resp);

    pkr.chain_id = "other-chain";
    resp = handle(f, &pk);
    assert_non_null(resp->pub_key_response->error);
    assert_non_null(resp->pub_key_response->pub_key); /* non-nullable: encoded even on error */
    tm_pv_msg_free(resp);
}

static void test_extension_signatures_only_on_non_nil_precommits(void **state)
{
    fixture *f = *state;
    vote_req r;
    tm_pv_msg *resp;
    make_vote(&r, 1, 5, 0, hash_a, 100, "sess-chain"); /* prevote */
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, false);
    tm_pv_msg_free(resp);
    make_vote(&r, 2, 5, 0, NULL, 100, "sess-chain"); /* nil precommit */
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, false);
    tm_pv_msg_free(resp);
    make_vote(&r, 2, 6, 0, hash_a, 100, "sess-chain"); /* non-nil precommit, empty extension */
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, true);
    tm_pv_msg_free(resp);
    make_vote(&r, 2, 7, 0, hash_a, 100, "sess-chain"); /* non-nil precommit with extension */
    r.vote.extension.data = (uint8_t *)"ext-data";
    r.vote.extension.len = 8;
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, true);
    assert_int_equal(resp->signed_vote_response->vote->extension.len, 8); /* echoed */
    tm_pv_msg_free(resp);
    assert_int_equal(f->store.persists, 4);
}

static void test_repeat_and_timestamp_semantics(void **state)
{
    fixture *f = *state;
    vote_req r;
    make_vote(&r, 2, 9, 0, hash_a, 100, "sess-chain");
    tm_pv_msg *first = handle(f, &r.msg);
    assert_vote_signed(f, first, true);
    tm_pv_msg *again = handle(f, &r.msg);
    assert_vote_signed(f, again, true);
    assert_memory_equal(first->signed_vote_response->vote->signature.data,
                        again->signed_vote_response->vote->signature.data, 64);
    make_vote(&r, 2, 9, 0, hash_a, 400, "sess-chain"); /* timestamp only */
    tm_pv_msg *later = handle(f, &r.msg);
    assert_vote_signed(f, later, true);
    assert_int_equal(later->signed_vote_response->vote->timestamp->seconds, 100);
    assert_memory_equal(first->signed_vote_response->vote->signature.data,
                        later->signed_vote_response->vote->signature.data, 64);
    assert_int_equal(f->store.persists, 1); /* repeats persist nothing */
    make_vote(&r, 2, 9, 0, hash_b, 100, "sess-chain"); /* conflict */
    tm_pv_msg *conflict = handle(f, &r.msg);
    assert_vote_refused(conflict, "conflicting data");
    tm_pv_msg_free(first);
    tm_pv_msg_free(again);
    tm_pv_msg_free(later);
    tm_pv_msg_free(conflict);
}

/* tmkms_refusals_total{chain="sess-chain",reason=REASON} in the fixture's registry. */
static long long refusals(const fixture *f, const char *reason)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(tm_metrics_render(f->metrics, &text, &len), TM_OK);
    char key[128];
    snprintf(key, sizeof(key), "\ntmkms_refusals_total{chain=\"sess-chain\",reason=\"%s\"} ", reason);
    const char *at = strstr(text, key);
    long long v = at ? strtoll(at + strlen(key), NULL, 10) : -1;
    free(text);
    return v;
}

/* Each refusal is answered with an error naming what was wrong, nothing is persisted for
 * it, and it is counted under its reason. The reason is read from the refuser's message
 * (tm_refusal_classify): a reworded message that no longer matches fails here. */
static void test_refusals(void **state)
{
    fixture *f = *state;
    vote_req r;
    tm_pv_msg *resp;
    make_vote(&r, 1, 5, 0, hash_a, 100, "sess-chain");
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, false);
    tm_pv_msg_free(resp);
    static const struct {
        int64_t height;
        const uint8_t *hash;
        const char *chain;
        int hash_len;     /* 0: as made */
        bool extension;   /* an extension on this prevote */
        bool store_fails; /* the persist fails */
        const char *why;  /* in the error's description */
        const char *reason;
        long long count; /* of the reason, after this case */
    } cases[] = {
        {5, hash_b, "sess-chain", 0, false, false, "conflicting data", "double_sign", 1},
        {4, hash_a, "sess-chain", 0, false, false, "height regression", "regression", 1},
        {6, hash_a, "wrong-chain", 0, false, false, "wrong chain id", "wrong_chain", 1},
        {1001, hash_a, "sess-chain", 0, false, false, "max_height", "max_height", 1},
        {6, hash_a, "sess-chain", 31, false, false, "block_id.hash", "malformed", 1},
        {6, hash_a, "sess-chain", 0, true, false, "extension", "malformed", 2},
        {6, hash_a, "sess-chain", 0, false, true, "injected fdatasync failure", "persistence_failure", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_vote(&r, 1, cases[i].height, 0, cases[i].hash, 100, cases[i].chain);
        if (cases[i].hash_len) r.bid.hash.len = (size_t)cases[i].hash_len;
        if (cases[i].extension) {
            r.vote.extension.data = (uint8_t *)"x";
            r.vote.extension.len = 1;
        }
        f->store.fail = cases[i].store_fails;
        resp = handle(f, &r.msg);
        assert_vote_refused(resp, cases[i].why);
        tm_pv_msg_free(resp);
        if (refusals(f, cases[i].reason) != cases[i].count)
            fail_msg("case %zu: reason %s counted %lld times, expected %lld", i, cases[i].reason,
                     refusals(f, cases[i].reason), cases[i].count);
    }
    f->store.fail = 0;
    assert_int_equal(refusals(f, "other"), 0);
    assert_int_equal(f->store.persists, 1); /* the first vote only */
}

static unsigned refused_lines, not_logged_lines;

static void count_lines(tm_log_level level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    if (strstr(line, "] refused vote from")) refused_lines++;
    if (strstr(line, "not logged (more than")) not_logged_lines++;
}

/* A node that sends only bad requests: every one is refused, but the log gets at most the
 * burst, then about 10 lines a second, and a line saying how many were left out. */
static void test_refusal_log_is_rate_limited(void **state)
{
    fixture *f = *state;
    vote_req r;
    refused_lines = not_logged_lines = 0;
    tm_log_set_sink(count_lines, NULL);
    for (int i = 0; i < 500; i++) {
        make_vote(&r, 1, 5, 0, hash_a, 100, "wrong-chain");
        tm_pv_msg *resp = handle(f, &r.msg);
        assert_vote_refused(resp, "wrong chain id");
        tm_pv_msg_free(resp);
    }
    assert_true(refused_lines >= 20 && refused_lines <= 25);
    assert_int_equal(not_logged_lines, 0);
    struct timespec pause = {0, 250 * 1000000L}; /* refills about 2 lines */
    nanosleep(&pause, NULL);
    make_vote(&r, 1, 5, 0, hash_a, 100, "wrong-chain");
    tm_pv_msg_free(handle(f, &r.msg));
    assert_int_equal(not_logged_lines, 1);
    tm_log_set_sink(NULL, NULL);
    assert_int_equal(f->store.persists, 0);
}

static void test_no_signature_without_durable_state(void **state)
{
    fixture *f = *state;
    vote_req r;
    make_vote(&r, 1, 5, 0, hash_a, 100, "sess-chain");
    f->store.fail = 1;
    tm_pv_msg *resp = handle(f, &r.msg);
    assert_vote_refused(resp, "injected fdatasync failure");
    tm_pv_msg_free(resp);
    assert_int_equal(f->chain->last.height, 0); /* nothing advanced */
    f->store.fail = 0;
    resp = handle(f, &r.msg);
    assert_vote_signed(f, resp, false);
    tm_pv_msg_free(resp);
    assert_int_equal(f->store.saved.height, 5);
}

/* ---- sentries: concurrent conflicting requests through one chain ---- */
#define RACERS 8

typedef struct {
    tm_chain *chain;
    int index;
    tm_status status;
    tm_chain_sign_result result;
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t sb_len;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    tm_guard_request req = {50, 0, TM_STEP_PREVOTE, r->sb, r->sb_len};
    r->status = tm_chain_sign(r->chain, &req, &r->result);
    return NULL;
}

static void test_concurrent_conflicts_yield_one_signature(void **state)
{
    fixture *f = *state;
    racer racers[RACERS];
    pthread_t tids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        vote_req v;
        uint8_t hash[32] = {(uint8_t)(i % 2 ? 0xAA : 0xBB)}; /* two competing blocks */
        make_vote(&v, 1, 50, 0, hash, 100, "sess-chain");
        racers[i].chain = f->chain;
        racers[i].index = i;
        assert_int_equal(tm_vote_sign_bytes("sess-chain", &v.vote, racers[i].sb, sizeof(racers[i].sb),
                                            &racers[i].sb_len),
                         TM_OK);
    }
    for (int i = 0; i < RACERS; i++) pthread_create(&tids[i], NULL, race, &racers[i]);
    for (int i = 0; i < RACERS; i++) pthread_join(tids[i], NULL);
    int new_sigs = 0, reused = 0, refused = 0;
    const uint8_t *winner = NULL;
    for (int i = 0; i < RACERS; i++) {
        if (racers[i].status != TM_OK) {
            refused++;
            continue;
        }
        if (racers[i].result.verdict == TM_GUARD_SIGN) new_sigs++;
        else reused++;
        if (!winner) winner = racers[i].sb;
        /* every signature released is over the same sign bytes */
        assert_memory_equal(winner, racers[i].sb, racers[i].sb_len);
    }
    assert_int_equal(new_sigs, 1);
    assert_int_equal(new_sigs + reused, RACERS / 2);
    assert_int_equal(refused, RACERS / 2);
    assert_int_equal(f->store.persists, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_and_pubkey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extension_signatures_only_on_non_nil_precommits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repeat_and_timestamp_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup_metrics, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_log_is_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_signature_without_durable_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_conflicts_yield_one_signature, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
