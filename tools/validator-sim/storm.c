/* The storm: a random but forward-moving consensus sequence with repeats, timestamp-only
 * repeats, conflicts and regressions mixed in. With `crashes` set, tmkms is being killed
 * meanwhile: a request lost with the connection may or may not have moved the state, so
 * until tmkms answers above it either answer is accepted for the requests it could
 * affect, while the invariants (valid signatures, no two sign bytes at one h/r/type,
 * nothing signed below a released signature) are checked on every answer. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "scenarios.h"
#include "tmkms/clock.h"

typedef enum { K_NEW, K_IDENTICAL, K_TIMESTAMP, K_CONFLICT, K_BELOW } storm_kind;

/* A request of either kind, with its h/r/s. */
typedef struct {
    bool is_proposal;
    sim_vreq v;
    sim_preq p;
} storm_req;

typedef struct {
    int64_t h;
    int32_t r;
    int phase; /* 0 proposal, 1 prevote, 2 precommit */
    sim_block blk;
    bool round_nil;
    storm_req last_ok; /* the request behind s->last */
    bool have_last_ok;
    storm_req lost; /* the natural request whose answer was lost */
    bool have_lost;
} storm_state;

static sim_hrs req_hrs(const storm_req *q)
{
    if (q->is_proposal) {
        return (sim_hrs){q->p.p.height, q->p.p.round, STEP_PROPOSAL};
    }
    return (sim_hrs){q->v.v.height, q->v.v.round, type_to_step(q->v.v.type)};
}

static void req_copy(storm_req *dst, const storm_req *src)
{
    vreq_free(&dst->v);
    dst->is_proposal = src->is_proposal;
    vreq_copy(&dst->v, &src->v);
    preq_copy(&dst->p, &src->p);
}

/* Moves the natural sequence one step: proposal (sometimes), prevote, precommit, then a
 * new round (sometimes) or a new height (sometimes skipping some). */
static void advance(sim *s, storm_state *st)
{
    st->phase++;
    if (st->phase <= 2) {
        return;
    }
    st->phase = 0;
    if (sim_rand_below(s, 5) == 0) {
        st->r++;
    } else {
        st->h += 1 + (sim_rand_below(s, 20) == 0 ? sim_rand_below(s, 3) : 0);
        st->r = 0;
    }
    if (st->h >= s->cursor) {
        s->cursor = st->h + 1;
    }
    sim_block_random(s, &st->blk);
    st->round_nil = sim_rand_below(s, 7) == 0;
}

static void make_natural(sim *s, storm_state *st, storm_req *q)
{
    if (st->phase == 0 && sim_rand_below(s, 3) != 0) {
        st->phase = 1; /* not the proposer this round */
    }
    q->is_proposal = st->phase == 0;
    vreq_free(&q->v);
    if (q->is_proposal) {
        int32_t pol = st->r > 0 && sim_rand_below(s, 2) ? (int32_t)sim_rand_below(s, (uint32_t)st->r) : -1;
        preq_init(s, &q->p, st->h, st->r, pol, &st->blk, true);
        return;
    }
    int32_t type = st->phase == 1 ? TYPE_PREVOTE : TYPE_PRECOMMIT;
    bool nil = st->round_nil || (type == TYPE_PRECOMMIT && sim_rand_below(s, 10) == 0);
    vreq_init(s, &q->v, type, st->h, st->r, nil ? NULL : &st->blk, sim_rand_below(s, 10) != 0);
    if (type == TYPE_PRECOMMIT && !nil) {
        uint8_t ext[96];
        size_t n = sim_rand_below(s, sizeof(ext) + 1);
        for (size_t i = 0; i < n; i++) {
            ext[i] = (uint8_t)sim_rand(s);
        }
        vreq_set_ext(&q->v, ext, n);
    }
}

/* A request of kind k that plays with the last released signature; returns the kind
 * actually made (K_IDENTICAL when there is nothing below to regress to). */
static storm_kind make_mischief_kind(sim *s, storm_state *st, storm_req *q, storm_kind k)
{
    req_copy(q, &st->last_ok);
    if (k == K_TIMESTAMP) {
        if (q->is_proposal) {
            q->p.ts.seconds += 1 + sim_rand_below(s, 10);
            q->p.p.timestamp = &q->p.ts;
        } else {
            q->v.ts.seconds += 1 + sim_rand_below(s, 10);
            q->v.v.timestamp = &q->v.ts;
        }
    } else if (k == K_CONFLICT) {
        sim_block other;
        sim_block_random(s, &other);
        if (q->is_proposal) {
            preq_init(s, &q->p, q->p.p.height, q->p.p.round, q->p.p.pol_round, &other, true);
        } else {
            bool was_nil = q->v.blk.hash_len == 0;
            vreq_free(&q->v);
            vreq_init(s, &q->v, q->v.v.type, q->v.v.height, q->v.v.round, was_nil ? &other : NULL, true);
        }
    } else if (k == K_BELOW) {
        /* The step just below the released one, always as a vote. */
        sim_hrs at = req_hrs(&st->last_ok);
        int32_t type = TYPE_PRECOMMIT;
        int64_t h = at.h;
        int32_t r = at.r - 1;
        if (at.step == STEP_PRECOMMIT) {
            type = TYPE_PREVOTE;
            r = at.r;
        } else if (r < 0) {
            h = at.h - 1;
            r = 0;
        }
        if (h < 1) {
            return K_IDENTICAL; /* nothing below: keep the identical repeat */
        }
        q->is_proposal = false;
        vreq_free(&q->v);
        vreq_init(s, &q->v, type, h, r, NULL, true);
    }
    return k;
}

static storm_kind make_mischief(sim *s, storm_state *st, storm_req *q)
{
    return make_mischief_kind(s, st, q, (storm_kind)(K_IDENTICAL + sim_rand_below(s, 4)));
}

/* What tmkms must answer, given what it released and what may have been lost. */
static sim_expect expect_for(const sim *s, storm_kind k, sim_hrs at, sim_reason *why)
{
    *why = R_CONFLICT;
    if (k == K_BELOW) {
        *why = R_REGRESSION;
        return EXP_REFUSE;
    }
    if (k == K_CONFLICT) {
        return EXP_REFUSE; /* the state is at or above the released step either way */
    }
    if (k == K_IDENTICAL || k == K_TIMESTAMP) {
        return s->uncertain ? EXP_ANY : EXP_SAME;
    }
    if (s->uncertain && hrs_cmp(at, s->uncertain_at) <= 0) {
        return EXP_ANY;
    }
    return EXP_SIGN;
}

static const char *kind_name(storm_kind k)
{
    static const char *const names[] = {"", " (identical repeat)", " (timestamp-only repeat)", " (conflict)",
                                        " (regression)"};
    return names[k];
}

static sim_outcome send_req(sim *s, storm_state *st, storm_req *q, storm_kind k)
{
    sim_hrs at = req_hrs(q);
    sim_reason why;
    sim_expect exp = expect_for(s, k, at, &why);
    const sim_sig *prev = (k == K_NEW || k == K_BELOW) ? NULL : &s->last;
    char label[96];
    snprintf(label, sizeof(label), "%-9s h=%" PRId64 " r=%d%s",
             q->is_proposal ? "proposal" : type_name(q->v.v.type), at.h, at.r, kind_name(k));
    sim_sig got;
    sim_outcome out = q->is_proposal ? sim_proposal(s, label, &q->p, NULL, exp, why, prev, &got)
                                     : sim_vote(s, label, &q->v, NULL, exp, why, prev, &got);
    if (out == OUT_SIGNED && s->last.valid && hrs_cmp(got.at, s->last.at) == 0 &&
        memcmp(got.sig, s->last.sig, SIM_SIG_LEN) == 0 && (k == K_NEW || !st->have_last_ok)) {
        req_copy(&st->last_ok, q);
        st->have_last_ok = true;
    }
    if (out == OUT_CLOSED && k == K_NEW && q != &st->lost) {
        req_copy(&st->lost, q);
        st->have_lost = true;
    }
    return out;
}

/* After a lost connection: wait for tmkms to come back, ask for its key as a node does,
 * and sometimes resend the request whose answer was lost. */
static bool recover(sim *s, storm_state *st, const storm_opts *o)
{
    if (!o->crashes) {
        s->n_closed_unexpected++;
        sim_fail(s, "tmkms closed the connection during the storm");
        return false;
    }
    s->n_closed_expected++;
    for (;;) {
        if (!sim_accept(s)) {
            return false;
        }
        sim_outcome out = sim_pubkey(s, s->chain_id);
        if (out == OUT_STOPPED) {
            return false;
        }
        if (out != OUT_CLOSED) {
            break;
        }
        s->n_closed_expected++;
    }
    /* The state must have survived: a conflict at the last released step is refused and
     * a timestamp-only repeat gets the earlier signature back. */
    for (int probe = 0; probe < 2 && st->have_last_ok; probe++) {
        storm_req q;
        memset(&q, 0, sizeof(q));
        storm_kind k = make_mischief_kind(s, st, &q, probe == 0 ? K_CONFLICT : K_TIMESTAMP);
        sim_outcome out = send_req(s, st, &q, k);
        vreq_free(&q.v);
        if (out == OUT_CLOSED) {
            return recover(s, st, o);
        }
        if (out == OUT_STOPPED) {
            return false;
        }
    }
    if (st->have_lost && sim_rand_below(s, 2) == 0) {
        st->have_lost = false;
        sim_outcome out = send_req(s, st, &st->lost, K_NEW);
        if (out == OUT_CLOSED) {
            return recover(s, st, o);
        }
        return out != OUT_STOPPED;
    }
    st->have_lost = false;
    return true;
}

bool scenario_storm(sim *s, const storm_opts *o)
{
    printf("== scenario storm: random sequence (%d heights, %d s; 0 = unbounded)%s\n", o->heights, o->seconds,
           o->crashes ? ", tmkms killed meanwhile" : "");
    if (!s->have_pubkey) {
        sim_outcome out = sim_pubkey(s, s->chain_id);
        /* Killed before it answered the first question: wait for the next tmkms. */
        while (out == OUT_CLOSED && o->crashes) {
            s->n_closed_expected++;
            if (!sim_accept(s)) {
                return false;
            }
            out = sim_pubkey(s, s->chain_id);
        }
        if (out != OUT_SIGNED) {
            return false;
        }
    }
    storm_state st;
    memset(&st, 0, sizeof(st));
    st.h = s->cursor;
    s->cursor = st.h + 1;
    sim_block_random(s, &st.blk);
    uint64_t start_ms = tm_monotonic_ms();
    int64_t first_h = st.h;
    bool ok = true;
    storm_req q;
    memset(&q, 0, sizeof(q));
    while (ok && !wire_stop_requested) {
        if ((o->heights > 0 && st.h - first_h >= o->heights) ||
            (o->seconds > 0 && tm_monotonic_ms() - start_ms >= (uint64_t)o->seconds * 1000u)) {
            break;
        }
        storm_kind k = K_NEW;
        if (st.have_last_ok && sim_rand_below(s, 7) == 0) {
            k = make_mischief(s, &st, &q);
        } else {
            make_natural(s, &st, &q);
            advance(s, &st);
        }
        sim_outcome out = send_req(s, &st, &q, k);
        if (out == OUT_STOPPED) {
            break;
        }
        if (out == OUT_CLOSED || out == OUT_TIMEOUT || s->w.fd < 0) {
            ok = recover(s, &st, o);
        }
    }
    vreq_free(&q.v);
    vreq_free(&st.last_ok.v);
    vreq_free(&st.lost.v);
    return ok || wire_stop_requested;
}
