#include "scenarios.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* Outside the storm, tmkms must keep the connection: anything else ends the scenario. */
static bool alive(sim *s, sim_outcome out)
{
    if (out == OUT_SIGNED || out == OUT_REFUSED || out == OUT_BAD) {
        return s->w.fd >= 0;
    }
    if (out == OUT_CLOSED) {
        s->n_closed_unexpected++;
        sim_fail(s, "tmkms closed the connection unexpectedly");
    }
    return false;
}

static bool vote(sim *s, const char *label, const sim_vreq *q, sim_expect exp, sim_reason why,
                 const sim_sig *prev, sim_sig *out)
{
    return alive(s, sim_vote(s, label, q, NULL, exp, why, prev, out));
}

static bool proposal(sim *s, const char *label, const sim_preq *q, sim_expect exp, sim_reason why,
                     const sim_sig *prev, sim_sig *out)
{
    return alive(s, sim_proposal(s, label, q, NULL, exp, why, prev, out));
}

/* Two pings in one write, and one ping written a byte at a time. */
static bool framing_checks(sim *s)
{
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PingRequest ping = TENDERMINT__PRIVVAL__PING_REQUEST__INIT;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_REQUEST;
    m.ping_request = &ping;
    uint8_t *one;
    size_t n;
    if (wire_encode(&m, &one, &n) != 0 || n > 8) {
        return false;
    }
    uint8_t two[16];
    memcpy(two, one, n);
    memcpy(two + n, one, n);
    free(one);
    s->n_raw++;
    if (wire_send_raw(&s->w, two, 2 * n) != WS_OK) {
        sim_fail(s, "coalesced pings: write failed");
        return false;
    }
    for (int i = 0; i < 2; i++) {
        Tendermint__Privval__Message *resp;
        wire_status st = wire_recv(&s->w, &resp);
        if (st != WS_OK || resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_RESPONSE) {
            sim_fail(s, "coalesced pings: answer %d: %s", i + 1,
                     st == WS_OK ? "not a PingResponse" : wire_status_name(st));
            if (st == WS_OK) {
                tendermint__privval__message__free_unpacked(resp, NULL);
            }
            return false;
        }
        tendermint__privval__message__free_unpacked(resp, NULL);
    }
    sim_say(s, "  %-44s -> 2 PingResponses", "two pings in one write");
    s->split_chunk = 1;
    sim_outcome out = sim_ping(s);
    s->split_chunk = 0;
    sim_say(s, "  %-44s -> %s", "a ping written one byte at a time",
            out == OUT_SIGNED ? "PingResponse" : "no answer");
    return alive(s, out);
}

static bool basic_prelude(sim *s)
{
    if (!alive(s, sim_ping(s)) || !alive(s, sim_pubkey(s, s->chain_id))) {
        return false;
    }
    if (!s->have_pubkey) {
        return false;
    }
    if (!alive(s, sim_pubkey(s, "some-other-chain"))) {
        return false;
    }
    return framing_checks(s);
}

/* One height of a normal chain; `variant` picks the shape so that every kind of
 * request appears: nil and non-nil, with and without extension, without timestamp. */
static bool basic_height(sim *s, int64_t h, int variant)
{
    sim_block b;
    sim_block_random(s, &b);
    sim_vreq v;
    sim_preq p;
    char label[96];
    bool ok = true;
    uint8_t ext[200];
    for (size_t i = 0; i < sizeof(ext); i++) {
        ext[i] = (uint8_t)(h + (int64_t)i);
    }
    switch (variant % 4) {
    case 0: /* proposer: proposal, prevote and precommit for the block, empty extension */
        preq_init(s, &p, h, 0, -1, &b, true);
        snprintf(label, sizeof(label), "proposal  h=%" PRId64 " r=0 pol=-1", h);
        ok = proposal(s, label, &p, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PREVOTE, h, 0, &b, true);
        snprintf(label, sizeof(label), "prevote   h=%" PRId64 " r=0 block", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, &b, true);
        snprintf(label, sizeof(label), "precommit h=%" PRId64 " r=0 block, empty ext", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        break;
    case 1: /* round 0 goes nil (votes without timestamps), round 1 commits with pol_round 0 */
        vreq_init(s, &v, TYPE_PREVOTE, h, 0, NULL, false);
        snprintf(label, sizeof(label), "prevote   h=%" PRId64 " r=0 nil, no timestamp", h);
        ok = vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, NULL, false);
        snprintf(label, sizeof(label), "precommit h=%" PRId64 " r=0 nil, no timestamp", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        preq_init(s, &p, h, 1, 0, &b, true);
        snprintf(label, sizeof(label), "proposal  h=%" PRId64 " r=1 pol=0", h);
        ok = ok && proposal(s, label, &p, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PREVOTE, h, 1, &b, true);
        snprintf(label, sizeof(label), "prevote   h=%" PRId64 " r=1 block", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PRECOMMIT, h, 1, &b, true);
        vreq_set_ext(&v, ext, 32);
        snprintf(label, sizeof(label), "precommit h=%" PRId64 " r=1 block, 32-byte ext", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_free(&v);
        break;
    case 2: /* a proposal stamped 1970 (present but empty), then a nil precommit */
        preq_init(s, &p, h, 0, -1, &b, true);
        p.ts.seconds = 0;
        p.ts.nanos = 0;
        snprintf(label, sizeof(label), "proposal  h=%" PRId64 " r=0 timestamp 1970", h);
        ok = proposal(s, label, &p, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PREVOTE, h, 0, &b, true);
        snprintf(label, sizeof(label), "prevote   h=%" PRId64 " r=0 block", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, NULL, true);
        snprintf(label, sizeof(label), "precommit h=%" PRId64 " r=0 nil", h);
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        break;
    default: /* not the proposer; a larger extension, written in 7-byte pieces */
        vreq_init(s, &v, TYPE_PREVOTE, h, 0, &b, true);
        snprintf(label, sizeof(label), "prevote   h=%" PRId64 " r=0 block", h);
        ok = vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, &b, true);
        vreq_set_ext(&v, ext, sizeof(ext));
        snprintf(label, sizeof(label), "precommit h=%" PRId64 " r=0 block, 200-byte ext, split", h);
        s->split_chunk = 7;
        ok = ok && vote(s, label, &v, EXP_SIGN, 0, NULL, NULL);
        s->split_chunk = 0;
        vreq_free(&v);
        break;
    }
    return ok;
}

bool scenario_basic(sim *s, int heights)
{
    printf("== scenario basic: ping, pubkey, framing, %d heights of proposals and votes\n", heights);
    if (!basic_prelude(s)) {
        return false;
    }
    for (int i = 0; i < heights; i++) {
        if (!basic_height(s, s->cursor++, i)) {
            return false;
        }
    }
    return alive(s, sim_ping(s));
}

/* ---- guard: the refusal table ---- */

/* Proposal, then prevote, at h/0: identical repeats, timestamp-only repeats, conflicts. */
static bool guard_proposal_prevote(sim *s, int64_t h, const sim_block *a, const sim_block *b)
{
    sim_preq p, p2;
    sim_vreq v, v2;
    sim_sig ps, vs;
    bool ok = true;
    preq_init(s, &p, h, 0, -1, a, true);
    ok = ok && proposal(s, "proposal h/0 block A", &p, EXP_SIGN, 0, NULL, &ps);
    ok = ok && proposal(s, "same proposal again", &p, EXP_SAME, 0, &ps, NULL);
    preq_init(s, &p2, h, 0, -1, b, true);
    ok = ok && proposal(s, "proposal h/0 block B (conflict)", &p2, EXP_REFUSE, R_CONFLICT, &ps, NULL);
    preq_copy(&p2, &p);
    p2.ts.seconds += 5;
    ok = ok && proposal(s, "proposal h/0 block A, later timestamp", &p2, EXP_SAME, 0, &ps, NULL);
    vreq_init(s, &v, TYPE_PREVOTE, h, 0, a, true);
    ok = ok && vote(s, "prevote h/0 block A", &v, EXP_SIGN, 0, NULL, &vs);
    ok = ok && proposal(s, "proposal h/0 after the prevote", &p, EXP_REFUSE, R_REGRESSION, NULL, NULL);
    ok = ok && vote(s, "same prevote again", &v, EXP_SAME, 0, &vs, NULL);
    vreq_init(s, &v2, TYPE_PREVOTE, h, 0, NULL, true);
    ok = ok && vote(s, "prevote h/0 nil (conflict)", &v2, EXP_REFUSE, R_CONFLICT, &vs, NULL);
    vreq_copy(&v2, &v);
    v2.ts.nanos = (v2.ts.nanos + 1) % 1000000000;
    ok = ok && vote(s, "prevote h/0 block A, other timestamp", &v2, EXP_SAME, 0, &vs, NULL);
    vreq_free(&v2);
    return ok;
}

/* Precommits at h/0, then regressions. */
static bool guard_precommit(sim *s, int64_t h, const sim_block *a, const sim_block *b)
{
    sim_vreq c, c2;
    sim_sig cs;
    bool ok = true;
    vreq_init(s, &c, TYPE_PRECOMMIT, h, 0, a, true);
    vreq_set_ext(&c, (const uint8_t *)"x-extension", 11);
    ok = ok && vote(s, "precommit h/0 block A, extension x", &c, EXP_SIGN, 0, NULL, &cs);
    vreq_copy(&c2, &c);
    vreq_set_ext(&c2, (const uint8_t *)"y-extension-other", 17);
    ok = ok && vote(s, "same precommit, other extension", &c2, EXP_SAME, 0, &cs, NULL);
    vreq_free(&c2);
    vreq_init(s, &c2, TYPE_PRECOMMIT, h, 0, b, true);
    ok = ok && vote(s, "precommit h/0 block B (conflict)", &c2, EXP_REFUSE, R_CONFLICT, &cs, NULL);
    vreq_init(s, &c2, TYPE_PRECOMMIT, h, 0, NULL, true);
    ok = ok && vote(s, "precommit h/0 nil (conflict)", &c2, EXP_REFUSE, R_CONFLICT, &cs, NULL);
    vreq_init(s, &c2, TYPE_PREVOTE, h, 0, a, true);
    ok = ok && vote(s, "prevote h/0 after the precommit", &c2, EXP_REFUSE, R_REGRESSION, NULL, NULL);
    vreq_init(s, &c2, TYPE_PRECOMMIT, h, 1, NULL, true);
    ok = ok && vote(s, "precommit h/1 nil", &c2, EXP_SIGN, 0, NULL, NULL);
    vreq_init(s, &c2, TYPE_PREVOTE, h, 1, NULL, true);
    ok = ok && vote(s, "prevote h/1 after precommit h/1", &c2, EXP_REFUSE, R_REGRESSION, NULL, NULL);
    ok = ok && vote(s, "precommit h/0 again (round regression)", &c, EXP_REFUSE, R_REGRESSION, NULL, NULL);
    vreq_init(s, &c2, TYPE_PREVOTE, h + 1, 0, NULL, true);
    ok = ok && vote(s, "prevote h+1/0 nil", &c2, EXP_SIGN, 0, NULL, NULL);
    vreq_init(s, &c2, TYPE_PRECOMMIT, h, 5, a, true);
    ok = ok && vote(s, "precommit h/5 (height regression)", &c2, EXP_REFUSE, R_REGRESSION, NULL, NULL);
    vreq_free(&c);
    return ok && alive(s, sim_ping(s));
}

/* A refused request must not move the state: the same step signs right after. */
static bool guard_wrong_chain(sim *s, int64_t h, const sim_block *a)
{
    sim_vreq v;
    sim_preq p;
    bool ok = true;
    preq_init(s, &p, h, 0, -1, a, true);
    ok = ok && alive(s, sim_proposal(s, "proposal for chain \"other-chain\"", &p, "other-chain", EXP_REFUSE,
                                     R_WRONG_CHAIN, NULL, NULL));
    vreq_init(s, &v, TYPE_PREVOTE, h, 0, a, true);
    ok = ok && alive(s, sim_vote(s, "prevote for chain \"other-chain\"", &v, "other-chain", EXP_REFUSE,
                                 R_WRONG_CHAIN, NULL, NULL));
    ok = ok && alive(s, sim_vote(s, "prevote with an empty chain id", &v, "", EXP_REFUSE, R_WRONG_CHAIN, NULL,
                                 NULL));
    ok = ok && vote(s, "the same prevote for our chain", &v, EXP_SIGN, 0, NULL, NULL);
    return ok;
}

static bool guard_malformed(sim *s, int64_t h, const sim_block *a)
{
    sim_vreq v;
    sim_preq p;
    sim_block bad = *a;
    bool ok = true;
    bad.hash_len = 31;
    vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, &bad, true);
    ok = ok && vote(s, "precommit, 31-byte block hash", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    bad = *a;
    bad.phash_len = 33;
    vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, &bad, true);
    ok = ok && vote(s, "precommit, 33-byte part set hash", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    vreq_init(s, &v, TYPE_PREVOTE, h, 0, a, true);
    vreq_set_ext(&v, (const uint8_t *)"ext", 3);
    ok = ok && vote(s, "prevote carrying an extension", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    vreq_free(&v);
    vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, NULL, true);
    vreq_set_ext(&v, (const uint8_t *)"ext", 3);
    ok = ok && vote(s, "nil precommit carrying an extension", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    vreq_free(&v);
    vreq_init(s, &v, 0, h, 0, a, true);
    ok = ok && vote(s, "vote of type 0", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    vreq_init(s, &v, TYPE_PREVOTE, h, -1, a, true);
    ok = ok && vote(s, "prevote with round -1", &v, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    preq_init(s, &p, h, 0, -2, a, true);
    ok = ok && proposal(s, "proposal with pol_round -2", &p, EXP_REFUSE, R_MALFORMED, NULL, NULL);
    ok = ok && alive(s, sim_ping(s));
    vreq_init(s, &v, TYPE_PREVOTE, h, 0, a, true);
    ok = ok && vote(s, "a valid prevote at that h/r", &v, EXP_SIGN, 0, NULL, NULL);
    vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, a, true);
    ok = ok && vote(s, "a valid precommit at that h/r", &v, EXP_SIGN, 0, NULL, NULL);
    return ok;
}

bool scenario_guard(sim *s)
{
    printf("== scenario guard: the double-sign guard's refusal table\n");
    if (!s->have_pubkey && !alive(s, sim_pubkey(s, s->chain_id))) {
        return false;
    }
    int64_t h = s->cursor;
    s->cursor += 4;
    sim_block a, b;
    sim_block_random(s, &a);
    sim_block_random(s, &b);
    bool ok = guard_proposal_prevote(s, h, &a, &b) && guard_precommit(s, h, &a, &b) &&
              guard_wrong_chain(s, h + 2, &a) && guard_malformed(s, h + 3, &a);
    if (ok && s->max_height > 0) {
        sim_vreq v;
        vreq_init(s, &v, TYPE_PREVOTE, s->max_height + 1, 0, &a, true);
        ok = vote(s, "prevote at max_height + 1", &v, EXP_REFUSE, R_MAX_HEIGHT, NULL, NULL);
    }
    return ok;
}

/* ---- oversize: the frame bound ---- */

static bool expect_close(sim *s, const char *label, const uint8_t *p, size_t n)
{
    s->n_raw++;
    wire_status st = wire_send_expect_close(&s->w, p, n);
    if (st == WS_OK) {
        s->n_closed_expected++;
        sim_say(s, "  %-44s -> connection closed by tmkms", label);
    } else if (st != WS_STOPPED) {
        sim_fail(s, "%s: tmkms must close the connection, got: %s", label,
                 st == WS_BADFRAME ? "an answer" : wire_status_name(st));
    }
    if (st != WS_OK) {
        return false;
    }
    return sim_accept(s) && alive(s, sim_ping(s));
}

bool scenario_oversize(sim *s)
{
    printf("== scenario oversize: frame bounds and garbage\n");
    if (!s->have_pubkey && !alive(s, sim_pubkey(s, s->chain_id))) {
        return false;
    }
    int64_t h = s->cursor;
    s->cursor += 2;
    sim_block a;
    sim_block_random(s, &a);
    const size_t mib = (size_t)1 << 20;
    uint8_t *big = malloc(mib + (64u << 10) + 16);
    if (!big) {
        return false;
    }
    memset(big, 0x5a, mib);
    sim_vreq v;
    vreq_init(s, &v, TYPE_PRECOMMIT, h, 0, &a, true);
    vreq_set_ext(&v, big, mib);
    bool ok = vote(s, "precommit with a 1 MiB extension", &v, EXP_SIGN, 0, NULL, NULL);
    vreq_free(&v);
    /* Field 1 with wire type 7 does not exist: undecodable. */
    static const uint8_t garbage[] = {0x04, 0x0f, 0xff, 0xff, 0xff};
    ok = ok && expect_close(s, "an undecodable frame", garbage, sizeof(garbage));
    /* A length prefix one byte above 1 MiB + 64 KiB, then that many bytes. */
    size_t body = mib + (64u << 10) + 1;
    size_t n = 0;
    for (uint64_t x = body;; x >>= 7) {
        big[n++] = (uint8_t)((x & 0x7f) | (x >= 0x80 ? 0x80 : 0));
        if (x < 0x80) {
            break;
        }
    }
    memset(big + n, 0x0a, body);
    ok = ok && expect_close(s, "a frame of 1 MiB + 64 KiB + 1", big, n + body);
    free(big);
    vreq_init(s, &v, TYPE_PREVOTE, h + 1, 0, &a, true);
    ok = ok && vote(s, "prevote after reconnecting", &v, EXP_SIGN, 0, NULL, NULL);
    return ok;
}
