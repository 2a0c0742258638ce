/* One chain hammered from 8 threads through the real file state store: at every
 * height/round/step all threads ask at once (a barrier per step), each for one of three
 * votes (block A, block B, nil), so the chain sees identical and conflicting requests
 * racing. Checked: at most one signature per h/r/s, every released signature verifies and
 * is over the same sign bytes as every other one released for that h/r/s, and when a
 * thread gets a signature the state file on disk (read without the signer's lock, as
 * `tmkms state show` does) is already at or above that h/r/s. And a shutdown (the signer
 * destroyed under the chain's lock) while threads answer pubkey and extension requests.
 * Run under ThreadSanitizer by `make test-tsan`. */
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/chain.h"
#include "tmkms/privval.h"
#include "tmkms/state.h"

#include "../lib/vote_bytes.h"

#define THREADS 8
#define ROUNDS 2
#define STEPS 2 /* prevote, precommit */
#define CHAIN "conc-chain"

static const uint8_t seed[32] = {7, 7, 7, 7, 1, 2, 3, 4};
static const uint8_t hash_a[32] = {0xAA, 1};
static const uint8_t hash_b[32] = {0xBB, 2};

typedef struct {
    int64_t height;
    int32_t round;
    tm_step step;
    tm_guard_verdict verdict;
    uint8_t sb[TM_MAX_SIGN_BYTES];
    size_t sb_len;
    uint8_t sig[TM_ED25519_SIG_LEN];
} released;

typedef struct {
    tm_chain *chain;
    const char *path;
    const uint8_t *pubkey;
    pthread_barrier_t *barrier;
    released *out; /* n_steps entries; out[i].sb_len == 0: refused */
    int index;
    int n_steps;
    int refused;
    int disk_behind;   /* the file below a released h/r/s */
    int disk_mismatch; /* the file at that h/r/s with other sign bytes */
    int unreadable;    /* the file could not be read */
    int bad_sig;
    int other_error;   /* a refusal that is not a double-sign refusal */
} worker;

static void step_of(int i, int64_t *h, int32_t *r, tm_step *s)
{
    *h = 1 + i / (ROUNDS * STEPS);
    *r = (i / STEPS) % ROUNDS;
    *s = i % STEPS == 0 ? TM_STEP_PREVOTE : TM_STEP_PRECOMMIT;
}

/* Sign bytes of a vote at (h, r, s) for block 0 (A), 1 (B) or 2 (nil), with the same
 * timestamp for every thread: equal requests are identical. */
static size_t vote_sign_bytes(int64_t h, int32_t r, tm_step s, int block, uint8_t out[TM_MAX_SIGN_BYTES])
{
    return test_vote_sign_bytes(CHAIN, s, h, r, block == 0 ? hash_a : block == 1 ? hash_b : NULL, 1700000000 + h, out);
}

static void *work(void *arg)
{
    worker *w = arg;
    unsigned rnd = 0x9e3779b9u * (unsigned)(w->index + 1);
    for (int i = 0; i < w->n_steps; i++) {
        released *out = &w->out[i];
        memset(out, 0, sizeof(*out));
        step_of(i, &out->height, &out->round, &out->step);
        rnd = rnd * 1103515245u + 12345u;
        int block = (int)((rnd >> 16) % 3);
        uint8_t sb[TM_MAX_SIGN_BYTES];
        size_t len = vote_sign_bytes(out->height, out->round, out->step, block, sb);
        tm_guard_request req = {out->height, out->round, out->step, sb, len};
        tm_chain_sign_result result;
        pthread_barrier_wait(w->barrier); /* all threads ask for this h/r/s at once */
        tm_status status = len ? tm_chain_sign(w->chain, &req, &result) : TM_ERR_INVALID;
        if (status != TM_OK) {
            w->refused++;
            if (status != TM_ERR_DOUBLE_SIGN) w->other_error++;
            continue;
        }
        memcpy(out->sb, sb, len);
        out->sb_len = len;
        out->verdict = result.verdict;
        memcpy(out->sig, result.signature, sizeof(out->sig));
        if (crypto_sign_verify_detached(out->sig, sb, len, w->pubkey) != 0) w->bad_sig++;
        /* Released: the state on disk must already be at or above this h/r/s. */
        tm_sign_state disk;
        if (tm_state_file_read(w->path, CHAIN, &disk) != TM_OK) {
            w->unreadable++;
            continue;
        }
        int cmp = tm_hrs_compare(disk.height, disk.round, disk.step, out->height, out->round, out->step);
        if (cmp < 0) w->disk_behind++;
        else if (cmp == 0 && (disk.sign_bytes_len != len || memcmp(disk.sign_bytes, sb, len) != 0 ||
                              memcmp(disk.signature, out->sig, sizeof(out->sig)) != 0))
            w->disk_mismatch++;
    }
    return NULL;
}

static void test_eight_threads_one_chain_file_store(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    const char *long_run = getenv("TMKMS_TEST_LONG");
    int heights = long_run && strcmp(long_run, "1") == 0 ? 500 : 60;
    int n_steps = heights * ROUNDS * STEPS;

    char dir[] = "/tmp/tmkms-conc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof(dir) + 32];
    snprintf(path, sizeof(path), "%s/state", dir);
    tm_sign_state fresh = {0};
    assert_int_equal(tm_state_file_create(path, CHAIN, &fresh), TM_OK);
    tm_state_store *store = NULL;
    tm_sign_state loaded;
    assert_int_equal(tm_state_file_open(path, CHAIN, &store, &loaded), TM_OK);
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    tm_chain *chain = NULL;
    assert_int_equal(tm_chain_open(CHAIN, false, signer, store, &loaded, &chain), TM_OK);

    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS), 0);
    worker workers[THREADS];
    pthread_t tids[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&workers[t], 0, sizeof(workers[t]));
        workers[t].index = t;
        workers[t].chain = chain;
        workers[t].path = path;
        workers[t].pubkey = chain->signer->pubkey;
        workers[t].barrier = &barrier;
        workers[t].n_steps = n_steps;
        workers[t].out = calloc((size_t)n_steps, sizeof(released));
        assert_non_null(workers[t].out);
    }
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&tids[t], NULL, work, &workers[t]), 0);
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(tids[t], NULL), 0);
    pthread_barrier_destroy(&barrier);

    int refused = 0, reused = 0, signed_new = 0;
    for (int t = 0; t < THREADS; t++) {
        const worker *w = &workers[t];
        assert_int_equal(w->bad_sig, 0);
        assert_int_equal(w->disk_behind, 0);
        assert_int_equal(w->disk_mismatch, 0);
        assert_int_equal(w->unreadable, 0);
        assert_int_equal(w->other_error, 0);
        refused += w->refused;
    }
    /* At most one signature per h/r/s: every release there over the same bytes, with the
     * same signature, and exactly one of them a new signature. */
    for (int i = 0; i < n_steps; i++) {
        const released *first = NULL;
        int fresh_sigs = 0;
        for (int t = 0; t < THREADS; t++) {
            const released *r = &workers[t].out[i];
            if (r->sb_len == 0) continue;
            if (r->verdict == TM_GUARD_SIGN) fresh_sigs++;
            else reused++;
            if (!first) first = r;
            assert_int_equal(r->sb_len, first->sb_len);
            assert_memory_equal(r->sb, first->sb, first->sb_len);
            assert_memory_equal(r->sig, first->sig, sizeof(first->sig));
        }
        assert_int_equal(fresh_sigs, first ? 1 : 0);
        signed_new += fresh_sigs;
    }
    /* Every step was contended: 8 threads choosing among 3 votes always conflict somewhere,
     * and some threads ask for what was just signed. */
    assert_int_equal(signed_new, n_steps);
    assert_true(refused > 0);
    assert_true(reused > 0);
    print_message("%d steps x %d threads: %d signatures, %d identical repeats, %d refusals\n", n_steps, THREADS,
                  signed_new, reused, refused);

    tm_sign_state last;
    tm_chain_snapshot(chain, &last, NULL, 0);
    tm_chain_close(chain);
    tm_sign_state disk;
    assert_int_equal(tm_state_file_read(path, CHAIN, &disk), TM_OK);
    assert_int_equal(tm_hrs_compare(disk.height, disk.round, disk.step, last.height, last.round, last.step), 0);
    assert_int_equal(disk.height, heights);
    assert_memory_equal(disk.signature, last.signature, sizeof(last.signature));

    for (int t = 0; t < THREADS; t++) free(workers[t].out);
    unlink(path);
    rmdir(dir);
}

/* ---- shutdown while connections are still answering ----
 * tmkms and the enclave stop by taking the chain's lock and destroying the signer. Threads
 * answering pubkey requests and signing vote extensions (no guard, no state) meanwhile must
 * neither read the freed signer nor sign with it: the public key is the chain's own copy,
 * and extension signing takes the lock and is refused once the key is gone. */
typedef struct {
    tm_chain *chain;
    uint8_t pubkey[TM_ED25519_PUBKEY_LEN];
    int signed_ok, bad_sig, wrong_pubkey;
    tm_status last;
} answerer;

static void *answer(void *arg)
{
    answerer *a = arg;
    static const uint8_t ext[] = "extension sign bytes";
    for (;;) {
        uint8_t pk[TM_ED25519_PUBKEY_LEN], sig[TM_ED25519_SIG_LEN];
        memcpy(pk, a->chain->pubkey, sizeof(pk)); /* what the session answers a PubKeyRequest with */
        if (memcmp(pk, a->pubkey, sizeof(pk)) != 0) a->wrong_pubkey++;
        a->last = tm_chain_sign_unguarded(a->chain, ext, sizeof(ext), sig);
        if (a->last != TM_OK) break;
        a->signed_ok++;
        if (crypto_sign_verify_detached(sig, ext, sizeof(ext), a->pubkey) != 0) a->bad_sig++;
    }
    return NULL;
}

static void test_shutdown_under_answering_threads(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char dir[] = "/tmp/tmkms-conc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof(dir) + 32];
    snprintf(path, sizeof(path), "%s/state", dir);
    tm_sign_state fresh = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, CHAIN, &fresh), TM_OK);
    tm_state_store *store = NULL;
    assert_int_equal(tm_state_file_open(path, CHAIN, &store, &loaded), TM_OK);
    tm_signer *signer = NULL;
    assert_int_equal(tm_softsign_from_seed(seed, &signer), TM_OK);
    tm_chain *chain = NULL;
    assert_int_equal(tm_chain_open(CHAIN, true, signer, store, &loaded, &chain), TM_OK);

    answerer as[4];
    pthread_t tids[4];
    for (int i = 0; i < 4; i++) {
        memset(&as[i], 0, sizeof(as[i]));
        as[i].chain = chain;
        memcpy(as[i].pubkey, chain->pubkey, sizeof(as[i].pubkey));
        assert_int_equal(pthread_create(&tids[i], NULL, answer, &as[i]), 0);
    }
    usleep(20000);
    /* The shutdown of tm_service_run and enclave_stop (which then exit holding the lock). */
    pthread_mutex_lock(&chain->lock);
    tm_signer_destroy(chain->signer);
    chain->signer = NULL;
    pthread_mutex_unlock(&chain->lock);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(tids[i], NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(as[i].last, TM_ERR_REFUSED);
        assert_int_equal(as[i].bad_sig, 0);
        assert_int_equal(as[i].wrong_pubkey, 0);
    }
    tm_chain_close(chain);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads_one_chain_file_store),
        cmocka_unit_test(test_shutdown_under_answering_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
