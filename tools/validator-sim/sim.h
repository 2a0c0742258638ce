/* The simulator's state and its one primitive: send a request, check every property of
 * the answer that must always hold, then compare it with what the scenario expects. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tendermint/privval/types.pb-c.h"
#include "wire.h"

#define SIM_SIG_LEN 64
#define SIM_PK_LEN 32
#define SIM_MAX_SB 512

/* FilePV's steps: the order a chain's signatures must follow within a round. */
enum { STEP_PROPOSAL = 1, STEP_PREVOTE = 2, STEP_PRECOMMIT = 3 };
enum { TYPE_PREVOTE = 1, TYPE_PRECOMMIT = 2, TYPE_PROPOSAL = 32 };

typedef struct {
    int64_t h;
    int32_t r;
    int step;
} sim_hrs;

int hrs_cmp(sim_hrs a, sim_hrs b);
int type_to_step(int32_t type);
const char *type_name(int32_t type);

/* A signature tmkms released: what it covers and the timestamp it came with. */
typedef struct {
    bool valid;
    sim_hrs at;
    int32_t type;
    uint8_t sig[SIM_SIG_LEN];
    int64_t ts_s;
    int32_t ts_n;
    uint8_t sb[SIM_MAX_SB];
    size_t sb_len;
} sim_sig;

typedef enum {
    EXP_SIGN,   /* a new signature over exactly this request */
    EXP_SAME,   /* the earlier signature (and the earlier timestamp) returned */
    EXP_REFUSE, /* an error response without a signature */
    EXP_ANY,    /* unknowable (a request was lost in a crash): only the invariants hold */
} sim_expect;

typedef enum {
    R_CONFLICT = 0,
    R_REGRESSION,
    R_WRONG_CHAIN,
    R_MAX_HEIGHT,
    R_MALFORMED,
    R_UNCERTAIN,
    R_COUNT,
} sim_reason;
const char *reason_name(sim_reason r);

typedef enum { OUT_SIGNED, OUT_REFUSED, OUT_CLOSED, OUT_TIMEOUT, OUT_STOPPED, OUT_BAD } sim_outcome;

/* A block id; a NULL block pointer in the builders means nil. `hash_len`/`phash_len`
 * other than 32 make malformed requests. */
typedef struct {
    uint8_t hash[40];
    size_t hash_len;
    uint32_t total;
    uint8_t phash[40];
    size_t phash_len;
} sim_block;

/* A vote request with storage for everything it points to. */
typedef struct {
    Tendermint__Types__Vote v;
    Tendermint__Types__BlockID bid;
    Tendermint__Types__PartSetHeader psh;
    Google__Protobuf__Timestamp ts;
    sim_block blk;
    uint8_t addr[20];
    uint8_t *ext;
} sim_vreq;

typedef struct {
    Tendermint__Types__Proposal p;
    Tendermint__Types__BlockID bid;
    Tendermint__Types__PartSetHeader psh;
    Google__Protobuf__Timestamp ts;
    sim_block blk;
} sim_preq;

typedef struct {
    wire w;
    const char *chain_id;
    int accept_timeout_ms;
    size_t split_chunk; /* > 0: requests are written in pieces of this size */
    bool verbose;
    int64_t max_height; /* tmkms's configured max_height, 0 when none */
    int64_t cursor;     /* the next height no request has used yet */
    uint64_t rng;
    int64_t clock_s; /* the simulated block time */
    uint8_t pubkey[SIM_PK_LEN];
    bool have_pubkey;
    uint8_t expect_pk[SIM_PK_LEN];
    bool have_expect_pk;
    int record_fd;
    sim_sig last; /* the highest signature tmkms released */
    /* Every (h, r, type) signed in this run with the hash of its sign bytes. */
    struct sim_seen *seen;
    size_t seen_cap, seen_len;
    /* Counters for the summary. */
    unsigned long n_ping, n_pubkey, n_vote, n_proposal, n_raw;
    unsigned long n_sig_new, n_sig_same, n_ext_sig, n_double_sign;
    unsigned long n_refused[R_COUNT], n_refused_unexpected;
    char refuse_example[R_COUNT][128];
    unsigned long n_conn, n_closed_expected, n_closed_unexpected, n_timeouts;
    unsigned long n_fail;
    /* The request in flight when the connection last broke, if it could have moved the
     * state: until tmkms answers at or above it, what it persisted is unknown. */
    bool uncertain;
    sim_hrs uncertain_at;
} sim;

void sim_init(sim *s, const char *chain_id, uint64_t seed);
void sim_free(sim *s);
void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_say(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_rand(sim *s);
uint32_t sim_rand_below(sim *s, uint32_t n);

/* Waits for tmkms to (re)connect. */
bool sim_accept(sim *s);

void sim_block_random(sim *s, sim_block *b);
/* Builders; `b` NULL = nil block id; `with_ts` false leaves the timestamp out (Go zero). */
void vreq_init(sim *s, sim_vreq *q, int32_t type, int64_t h, int32_t r, const sim_block *b, bool with_ts);
void vreq_set_ext(sim_vreq *q, const uint8_t *ext, size_t n);
void vreq_copy(sim_vreq *dst, const sim_vreq *src);
void vreq_free(sim_vreq *q);
void preq_init(sim *s, sim_preq *q, int64_t h, int32_t r, int32_t pol_round, const sim_block *b,
               bool with_ts);
void preq_copy(sim_preq *dst, const sim_preq *src);

sim_outcome sim_ping(sim *s);
/* Asks for the public key; with a foreign chain id only an error answer is good. */
sim_outcome sim_pubkey(sim *s, const char *chain_id);
/* `prev`: the earlier signature at this h/r/s for EXP_SAME (also consulted for EXP_ANY).
 * `chain_id` NULL means the simulator's chain. `out` may be NULL. */
sim_outcome sim_vote(sim *s, const char *label, const sim_vreq *q, const char *chain_id, sim_expect exp,
                     sim_reason reason, const sim_sig *prev, sim_sig *out);
sim_outcome sim_proposal(sim *s, const char *label, const sim_preq *q, const char *chain_id, sim_expect exp,
                         sim_reason reason, const sim_sig *prev, sim_sig *out);

void sim_print_summary(sim *s, const char *title);

#endif
