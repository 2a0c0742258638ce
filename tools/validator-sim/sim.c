#include "sim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "canon.h"

struct sim_seen {
    bool used;
    int64_t h;
    int32_t r;
    int32_t type;
    uint8_t sb_hash[32];
};

int hrs_cmp(sim_hrs a, sim_hrs b)
{
    if (a.h != b.h) {
        return a.h < b.h ? -1 : 1;
    }
    if (a.r != b.r) {
        return a.r < b.r ? -1 : 1;
    }
    return a.step < b.step ? -1 : (a.step > b.step ? 1 : 0);
}

int type_to_step(int32_t type)
{
    switch (type) {
    case TYPE_PROPOSAL: return STEP_PROPOSAL;
    case TYPE_PREVOTE: return STEP_PREVOTE;
    case TYPE_PRECOMMIT: return STEP_PRECOMMIT;
    default: return 0;
    }
}

const char *type_name(int32_t type)
{
    switch (type) {
    case TYPE_PROPOSAL: return "proposal";
    case TYPE_PREVOTE: return "prevote";
    case TYPE_PRECOMMIT: return "precommit";
    default: return "bad-type";
    }
}

const char *reason_name(sim_reason r)
{
    static const char *const names[R_COUNT] = {
        "double-sign conflict", "height/round/step regression",        "wrong chain id", "above max_height",
        "malformed request",    "after a crash (either answer valid)",
    };
    return r < R_COUNT ? names[r] : "?";
}

void sim_init(sim *s, const char *chain_id, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->chain_id = chain_id;
    s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    s->clock_s = 1700000000;
    s->cursor = 1;
    s->record_fd = -1;
    s->accept_timeout_ms = 30000;
    s->w.lfd = -1;
    s->w.fd = -1;
}

void sim_free(sim *s)
{
    free(s->seen);
    s->seen = NULL;
    if (s->record_fd >= 0) {
        close(s->record_fd);
        s->record_fd = -1;
    }
}

void sim_fail(sim *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    s->n_fail++;
}

void sim_say(sim *s, const char *fmt, ...)
{
    if (!s->verbose) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* xorshift64*: reproducible sequences from --seed. */
uint64_t sim_rand(sim *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint32_t sim_rand_below(sim *s, uint32_t n)
{
    return n ? (uint32_t)(sim_rand(s) % n) : 0;
}

bool sim_accept(sim *s)
{
    wire_status st = wire_accept(&s->w, s->accept_timeout_ms);
    if (st != WS_OK) {
        if (st != WS_STOPPED) {
            sim_fail(s, "tmkms did not connect within %d ms (%s)", s->accept_timeout_ms,
                     wire_status_name(st));
        }
        return false;
    }
    s->n_conn++;
    sim_say(s, "  [connection %lu accepted]", s->n_conn);
    return true;
}

/* ---- request builders ---- */

static void fill_rand(sim *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)sim_rand(s);
    }
}

void sim_block_random(sim *s, sim_block *b)
{
    memset(b, 0, sizeof(*b));
    b->hash_len = 32;
    b->phash_len = 32;
    fill_rand(s, b->hash, 32);
    fill_rand(s, b->phash, 32);
    b->total = 1 + sim_rand_below(s, 4);
}

static void set_block(Tendermint__Types__BlockID *bid, Tendermint__Types__PartSetHeader *psh, sim_block *dst,
                      const sim_block *b)
{
    tendermint__types__block_id__init(bid);
    tendermint__types__part_set_header__init(psh);
    bid->part_set_header = psh; /* non-nullable in Go: CometBFT always sends it */
    if (!b) {
        memset(dst, 0, sizeof(*dst));
        return;
    }
    *dst = *b;
    bid->hash.data = dst->hash;
    bid->hash.len = dst->hash_len;
    psh->total = dst->total;
    psh->hash.data = dst->phash;
    psh->hash.len = dst->phash_len;
}

static void next_time(sim *s, Google__Protobuf__Timestamp *ts)
{
    google__protobuf__timestamp__init(ts);
    s->clock_s += 1;
    ts->seconds = s->clock_s;
    ts->nanos = (int32_t)sim_rand_below(s, 1000000000u);
}

void vreq_init(sim *s, sim_vreq *q, int32_t type, int64_t h, int32_t r, const sim_block *b, bool with_ts)
{
    memset(q, 0, sizeof(*q));
    tendermint__types__vote__init(&q->v);
    q->v.type = (Tendermint__Types__SignedMsgType)type;
    q->v.height = h;
    q->v.round = r;
    set_block(&q->bid, &q->psh, &q->blk, b);
    q->v.block_id = &q->bid;
    next_time(s, &q->ts);
    q->v.timestamp = with_ts ? &q->ts : NULL;
    if (s->have_pubkey) {
        uint8_t digest[32];
        crypto_hash_sha256(digest, s->pubkey, sizeof(s->pubkey));
        memcpy(q->addr, digest, sizeof(q->addr)); /* the validator address: SHA-256(pk)[:20] */
    }
    q->v.validator_address.data = q->addr;
    q->v.validator_address.len = sizeof(q->addr);
}

void vreq_set_ext(sim_vreq *q, const uint8_t *ext, size_t n)
{
    free(q->ext);
    q->ext = NULL;
    q->v.extension.data = NULL;
    q->v.extension.len = 0;
    if (n == 0) {
        return;
    }
    q->ext = malloc(n);
    if (!q->ext) {
        return;
    }
    memcpy(q->ext, ext, n);
    q->v.extension.data = q->ext;
    q->v.extension.len = n;
}

void vreq_copy(sim_vreq *dst, const sim_vreq *src)
{
    *dst = *src;
    dst->v.block_id = &dst->bid;
    dst->bid.part_set_header = &dst->psh;
    dst->bid.hash.data = dst->blk.hash;
    dst->psh.hash.data = dst->blk.phash;
    dst->v.timestamp = src->v.timestamp ? &dst->ts : NULL;
    dst->v.validator_address.data = dst->addr;
    dst->ext = NULL;
    dst->v.extension.data = NULL;
    dst->v.extension.len = 0;
    vreq_set_ext(dst, src->v.extension.data, src->v.extension.len);
}

void vreq_free(sim_vreq *q)
{
    free(q->ext);
    q->ext = NULL;
    q->v.extension.data = NULL;
    q->v.extension.len = 0;
}

void preq_init(sim *s, sim_preq *q, int64_t h, int32_t r, int32_t pol_round, const sim_block *b, bool with_ts)
{
    memset(q, 0, sizeof(*q));
    tendermint__types__proposal__init(&q->p);
    q->p.type = TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PROPOSAL;
    q->p.height = h;
    q->p.round = r;
    q->p.pol_round = pol_round;
    set_block(&q->bid, &q->psh, &q->blk, b);
    q->p.block_id = &q->bid;
    next_time(s, &q->ts);
    q->p.timestamp = with_ts ? &q->ts : NULL;
}

void preq_copy(sim_preq *dst, const sim_preq *src)
{
    *dst = *src;
    dst->p.block_id = &dst->bid;
    dst->bid.part_set_header = &dst->psh;
    dst->bid.hash.data = dst->blk.hash;
    dst->psh.hash.data = dst->blk.phash;
    dst->p.timestamp = src->p.timestamp ? &dst->ts : NULL;
}

/* ---- exchanging one request ---- */

static sim_outcome outcome_of(wire_status st)
{
    switch (st) {
    case WS_CLOSED: return OUT_CLOSED;
    case WS_TIMEOUT: return OUT_TIMEOUT;
    case WS_STOPPED: return OUT_STOPPED;
    default: return OUT_BAD;
    }
}

/* Sends msg and reads the answer; a broken connection is reported, not failed: the
 * scenario knows whether it was expected. */
static sim_outcome exchange(sim *s, const Tendermint__Privval__Message *msg,
                            Tendermint__Privval__Message **resp)
{
    *resp = NULL;
    if (s->w.fd < 0) {
        return OUT_CLOSED;
    }
    wire_status st = wire_send(&s->w, msg, s->split_chunk);
    if (st == WS_OK) {
        st = wire_recv(&s->w, resp);
    }
    if (st == WS_OK) {
        return OUT_SIGNED; /* "answered"; the caller classifies */
    }
    if (st == WS_TIMEOUT) {
        s->n_timeouts++;
        sim_fail(s, "tmkms did not answer within %d ms", s->w.timeout_ms);
    } else if (st == WS_BADFRAME) {
        sim_fail(s, "tmkms sent an undecodable or oversized frame");
    } else if (st == WS_SYS) {
        sim_fail(s, "socket error: %s", strerror(errno));
    }
    if (st != WS_STOPPED) {
        wire_drop(&s->w);
    }
    return outcome_of(st);
}

sim_outcome sim_ping(sim *s)
{
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PingRequest ping = TENDERMINT__PRIVVAL__PING_REQUEST__INIT;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_REQUEST;
    m.ping_request = &ping;
    s->n_ping++;
    Tendermint__Privval__Message *resp;
    sim_outcome out = exchange(s, &m, &resp);
    if (out != OUT_SIGNED) {
        return out;
    }
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_RESPONSE) {
        sim_fail(s, "ping: answered with message case %d, want PingResponse", (int)resp->sum_case);
        out = OUT_BAD;
    }
    tendermint__privval__message__free_unpacked(resp, NULL);
    return out;
}

static void record_line(sim *s, const char *line)
{
    if (s->record_fd < 0) {
        return;
    }
    /* One write per line with O_APPEND: lines from a killed run are never interleaved. */
    size_t n = strlen(line);
    if (write(s->record_fd, line, n) != (ssize_t)n) {
        sim_fail(s, "--record: write failed: %s", strerror(errno));
    }
}

static void hex_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    sodium_bin2hex(out, cap, p, n < (cap - 1) / 2 ? n : (cap - 1) / 2);
}

static sim_outcome take_pubkey(sim *s, const Tendermint__Privval__PubKeyResponse *r)
{
    const Tendermint__Crypto__PublicKey *pk = r->pub_key;
    if (!pk || pk->sum_case != TENDERMINT__CRYPTO__PUBLIC_KEY__SUM_ED25519 || pk->ed25519.len != SIM_PK_LEN) {
        sim_fail(s, "pubkey: the answer carries no 32-byte ed25519 key");
        return OUT_BAD;
    }
    if (s->have_pubkey && memcmp(s->pubkey, pk->ed25519.data, SIM_PK_LEN) != 0) {
        sim_fail(s, "pubkey: the key changed during the run");
    }
    if (s->have_expect_pk && memcmp(s->expect_pk, pk->ed25519.data, SIM_PK_LEN) != 0) {
        sim_fail(s, "pubkey: not the expected key (--expect-pubkey)");
    }
    if (!s->have_pubkey) {
        memcpy(s->pubkey, pk->ed25519.data, SIM_PK_LEN);
        s->have_pubkey = true;
        char hex[2 * SIM_PK_LEN + 1], line[128];
        hex_of(s->pubkey, SIM_PK_LEN, hex, sizeof(hex));
        snprintf(line, sizeof(line), "pubkey %s\n", hex);
        record_line(s, line);
    }
    return OUT_SIGNED;
}

sim_outcome sim_pubkey(sim *s, const char *chain_id)
{
    bool foreign = strcmp(chain_id, s->chain_id) != 0;
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__PubKeyRequest req = TENDERMINT__PRIVVAL__PUB_KEY_REQUEST__INIT;
    req.chain_id = (char *)chain_id;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_REQUEST;
    m.pub_key_request = &req;
    s->n_pubkey++;
    Tendermint__Privval__Message *resp;
    sim_outcome out = exchange(s, &m, &resp);
    if (out != OUT_SIGNED) {
        return out;
    }
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE) {
        sim_fail(s, "pubkey: answered with message case %d, want PubKeyResponse", (int)resp->sum_case);
        out = OUT_BAD;
    } else if (resp->pub_key_response->error) {
        const char *d = resp->pub_key_response->error->description;
        if (!foreign) {
            sim_fail(s, "pubkey: refused for our own chain: %s", d ? d : "");
        }
        sim_say(s, "  pubkey for chain \"%s\" -> refused: \"%s\"", chain_id, d ? d : "");
        out = OUT_REFUSED;
    } else if (foreign) {
        /* tmkms answers PubKeyRequest without looking at the chain id; CometBFT never
         * asks a signer for another chain's key, so this is only worth a note. */
        printf("note: tmkms returned a public key for unknown chain \"%s\"\n", chain_id);
    } else {
        out = take_pubkey(s, resp->pub_key_response);
        char b64[64];
        sodium_bin2base64(b64, sizeof(b64), s->pubkey, SIM_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
        sim_say(s, "  pubkey -> ed25519 %s", b64);
    }
    tendermint__privval__message__free_unpacked(resp, NULL);
    return out;
}

/* ---- invariants of a released signature ---- */

static size_t seen_slot(const sim *s, int64_t h, int32_t r, int32_t type)
{
    uint64_t k =
        (uint64_t)h * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uint32_t)r * 0xC2B2AE3D27D4EB4FULL ^ (uint64_t)type;
    size_t i = (size_t)(k % s->seen_cap);
    while (s->seen[i].used && !(s->seen[i].h == h && s->seen[i].r == r && s->seen[i].type == type)) {
        i = (i + 1) % s->seen_cap;
    }
    return i;
}

static bool seen_grow(sim *s)
{
    size_t ncap = s->seen_cap ? s->seen_cap * 2 : 1024;
    struct sim_seen *old = s->seen;
    size_t old_cap = s->seen_cap;
    s->seen = calloc(ncap, sizeof(*s->seen));
    if (!s->seen) {
        s->seen = old;
        return false;
    }
    s->seen_cap = ncap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].used) {
            s->seen[seen_slot(s, old[i].h, old[i].r, old[i].type)] = old[i];
        }
    }
    free(old);
    return true;
}

/* Two different sign bytes signed at one (h, r, type) is a double sign, whatever else. */
static void check_double_sign(sim *s, const sim_sig *g)
{
    if ((s->seen_len + 1) * 2 > s->seen_cap && !seen_grow(s)) {
        sim_fail(s, "out of memory");
        return;
    }
    uint8_t hash[32];
    crypto_hash_sha256(hash, g->sb, g->sb_len);
    struct sim_seen *e = &s->seen[seen_slot(s, g->at.h, g->at.r, g->type)];
    if (!e->used) {
        *e = (struct sim_seen){true, g->at.h, g->at.r, g->type, {0}};
        memcpy(e->sb_hash, hash, sizeof(hash));
        s->seen_len++;
    } else if (memcmp(e->sb_hash, hash, sizeof(hash)) != 0) {
        s->n_double_sign++;
        sim_fail(s, "DOUBLE SIGN: two different %s sign bytes signed at h=%" PRId64 " r=%d",
                 type_name(g->type), g->at.h, g->at.r);
    }
}

static void after_signed(sim *s, const sim_sig *g, const sim_sig *prev)
{
    check_double_sign(s, g);
    int c = s->last.valid ? hrs_cmp(g->at, s->last.at) : 1;
    if (c < 0) {
        sim_fail(
            s, "signed %s h=%" PRId64 " r=%d below the last released signature (h=%" PRId64 " r=%d step %d)",
            type_name(g->type), g->at.h, g->at.r, s->last.at.h, s->last.at.r, s->last.at.step);
    } else if (c > 0) {
        s->last = *g;
    }
    if (prev && prev->valid && memcmp(prev->sig, g->sig, SIM_SIG_LEN) == 0) {
        s->n_sig_same++;
    } else {
        s->n_sig_new++;
    }
    if (s->uncertain && hrs_cmp(g->at, s->uncertain_at) >= 0) {
        s->uncertain = false;
    }
    char sb[2 * SIM_MAX_SB + 1], sig[2 * SIM_SIG_LEN + 1], line[2 * SIM_MAX_SB + 2 * SIM_SIG_LEN + 96];
    hex_of(g->sb, g->sb_len, sb, sizeof(sb));
    hex_of(g->sig, SIM_SIG_LEN, sig, sizeof(sig));
    snprintf(line, sizeof(line), "sig %" PRId64 " %d %d %s %s\n", g->at.h, g->at.r, g->type, sb, sig);
    record_line(s, line);
}

static bool bin_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Block ids as CometBFT compares them: an absent part set header is an empty one. */
static bool block_eq(const Tendermint__Types__BlockID *a, const Tendermint__Types__BlockID *b)
{
    static const Tendermint__Types__PartSetHeader zero_psh = TENDERMINT__TYPES__PART_SET_HEADER__INIT;
    static const Tendermint__Types__BlockID zero_bid = TENDERMINT__TYPES__BLOCK_ID__INIT;
    a = a ? a : &zero_bid;
    b = b ? b : &zero_bid;
    const Tendermint__Types__PartSetHeader *pa = a->part_set_header ? a->part_set_header : &zero_psh;
    const Tendermint__Types__PartSetHeader *pb = b->part_set_header ? b->part_set_header : &zero_psh;
    return bin_eq(a->hash, b->hash) && pa->total == pb->total && bin_eq(pa->hash, pb->hash);
}

static bool ts_eq(const Google__Protobuf__Timestamp *a, const Google__Protobuf__Timestamp *b)
{
    int64_t as, bs;
    int32_t an, bn;
    canon_timestamp(a, &as, &an);
    canon_timestamp(b, &bs, &bn);
    return as == bs && an == bn;
}

/* The timestamp may differ from the request only when tmkms returned an earlier
 * signature, and then it must be that signature's timestamp. */
static bool ts_acceptable(const Google__Protobuf__Timestamp *req, const Google__Protobuf__Timestamp *got,
                          const uint8_t *sig, const sim_sig *prev)
{
    if (ts_eq(req, got)) {
        return true;
    }
    int64_t s;
    int32_t n;
    canon_timestamp(got, &s, &n);
    return prev && prev->valid && memcmp(prev->sig, sig, SIM_SIG_LEN) == 0 && prev->ts_s == s &&
           prev->ts_n == n;
}

static bool verify(const sim *s, const uint8_t *sig, const pb_out *msg)
{
    return crypto_sign_verify_detached(sig, msg->data, msg->len, s->pubkey) == 0;
}

static bool fill_sig(sim *s, const char *label, sim_sig *g, int32_t type, int64_t h, int32_t r,
                     const pb_out *sb, const uint8_t *sig, const Google__Protobuf__Timestamp *ts)
{
    memset(g, 0, sizeof(*g));
    if (sb->len > SIM_MAX_SB) {
        sim_fail(s, "%s: sign bytes of %zu bytes", label, sb->len);
        return false;
    }
    g->valid = true;
    g->type = type;
    g->at = (sim_hrs){h, r, type_to_step(type)};
    memcpy(g->sig, sig, SIM_SIG_LEN);
    memcpy(g->sb, sb->data, sb->len);
    g->sb_len = sb->len;
    canon_timestamp(ts, &g->ts_s, &g->ts_n);
    return true;
}

static bool check_ext_sig(sim *s, const char *label, const char *chain, const Tendermint__Types__Vote *rv)
{
    bool want = (int32_t)rv->type == TYPE_PRECOMMIT && !canon_block_id_is_zero(rv->block_id);
    if (!want) {
        if (rv->extension_signature.len != 0) {
            sim_fail(s, "%s: extension signature on a %s (only non-nil precommits get one)", label,
                     canon_block_id_is_zero(rv->block_id) ? "nil vote" : "prevote");
            return false;
        }
        return true;
    }
    if (rv->extension_signature.len != SIM_SIG_LEN) {
        sim_fail(s, "%s: non-nil precommit without a 64-byte extension signature (got %zu bytes)", label,
                 rv->extension_signature.len);
        return false;
    }
    pb_out eb = {0};
    bool ok = canon_vote_extension(chain, rv, &eb) == 0 && verify(s, rv->extension_signature.data, &eb);
    if (!ok) {
        sim_fail(s, "%s: the extension signature does not verify", label);
    }
    pb_out_free(&eb);
    if (ok) {
        s->n_ext_sig++;
    }
    return ok;
}

/* Everything a signed vote answer must satisfy, whatever the scenario expected. */
static bool check_signed_vote(sim *s, const char *label, const sim_vreq *q, const char *chain,
                              const Tendermint__Types__Vote *rv, const sim_sig *prev, sim_sig *g)
{
    if (!rv || rv->signature.len != SIM_SIG_LEN) {
        sim_fail(s, "%s: signed answer without a 64-byte signature", label);
        return false;
    }
    const Tendermint__Types__Vote *v = &q->v;
    if (rv->type != v->type || rv->height != v->height || rv->round != v->round ||
        !block_eq(rv->block_id, v->block_id) || !bin_eq(rv->validator_address, v->validator_address) ||
        rv->validator_index != v->validator_index || !bin_eq(rv->extension, v->extension)) {
        sim_fail(s, "%s: the returned vote is not the request echoed back", label);
        return false;
    }
    if (!ts_acceptable(v->timestamp, rv->timestamp, rv->signature.data, prev)) {
        sim_fail(s,
                 "%s: the returned vote's timestamp differs from the request without being the "
                 "earlier signature's",
                 label);
        return false;
    }
    pb_out sb = {0};
    bool ok = canon_vote(chain, rv, &sb) == 0;
    if (ok && !verify(s, rv->signature.data, &sb)) {
        sim_fail(s, "%s: the vote signature does not verify over the canonical sign bytes", label);
        ok = false;
    }
    ok = ok && check_ext_sig(s, label, chain, rv);
    ok = ok && fill_sig(s, label, g, rv->type, rv->height, rv->round, &sb, rv->signature.data, rv->timestamp);
    pb_out_free(&sb);
    return ok;
}

static bool check_signed_proposal(sim *s, const char *label, const sim_preq *q, const char *chain,
                                  const Tendermint__Types__Proposal *rp, const sim_sig *prev, sim_sig *g)
{
    if (!rp || rp->signature.len != SIM_SIG_LEN) {
        sim_fail(s, "%s: signed answer without a 64-byte signature", label);
        return false;
    }
    const Tendermint__Types__Proposal *p = &q->p;
    if (rp->type != p->type || rp->height != p->height || rp->round != p->round ||
        rp->pol_round != p->pol_round || !block_eq(rp->block_id, p->block_id)) {
        sim_fail(s, "%s: the returned proposal is not the request echoed back", label);
        return false;
    }
    if (!ts_acceptable(p->timestamp, rp->timestamp, rp->signature.data, prev)) {
        sim_fail(s,
                 "%s: the returned proposal's timestamp differs from the request without being the "
                 "earlier signature's",
                 label);
        return false;
    }
    pb_out sb = {0};
    bool ok = canon_proposal(chain, rp, &sb) == 0;
    if (ok && !verify(s, rp->signature.data, &sb)) {
        sim_fail(s, "%s: the proposal signature does not verify over the canonical sign bytes", label);
        ok = false;
    }
    ok = ok &&
         fill_sig(s, label, g, TYPE_PROPOSAL, rp->height, rp->round, &sb, rp->signature.data, rp->timestamp);
    pb_out_free(&sb);
    return ok;
}

/* ---- expectations ---- */

static void describe(sim *s, const char *label, sim_outcome out, const sim_sig *g, const char *err, bool same)
{
    if (!s->verbose) {
        return;
    }
    if (out == OUT_SIGNED) {
        char hex[17];
        hex_of(g->sig, 8, hex, sizeof(hex));
        sim_say(s, "  %-44s -> signed %s.. %s", label, hex, same ? "(the earlier signature)" : "(new)");
    } else if (out == OUT_REFUSED) {
        sim_say(s, "  %-44s -> refused: \"%s\"", label, err ? err : "");
    } else {
        sim_say(s, "  %-44s -> %s", label,
                out == OUT_CLOSED    ? "connection closed"
                : out == OUT_TIMEOUT ? "timeout"
                                     : "no valid answer");
    }
}

static void expectation(sim *s, const char *label, sim_expect exp, sim_reason reason, sim_outcome out,
                        const sim_sig *g, const sim_sig *prev, const char *err)
{
    bool same = out == OUT_SIGNED && prev && prev->valid && memcmp(prev->sig, g->sig, SIM_SIG_LEN) == 0;
    describe(s, label, out, g, err, same);
    if (out == OUT_REFUSED) {
        if (exp == EXP_REFUSE || exp == EXP_ANY) {
            sim_reason r = exp == EXP_ANY ? R_UNCERTAIN : reason;
            s->n_refused[r]++;
            if (!s->refuse_example[r][0] && err) {
                snprintf(s->refuse_example[r], sizeof(s->refuse_example[r]), "%s", err);
            }
        } else {
            s->n_refused_unexpected++;
            sim_fail(s, "%s: refused, but it should have been signed: \"%s\"", label, err ? err : "");
        }
        return;
    }
    if (out != OUT_SIGNED) {
        return;
    }
    if (exp == EXP_REFUSE) {
        sim_fail(s, "%s: SIGNED, but it must be refused (%s)", label, reason_name(reason));
    } else if (exp == EXP_SAME && !same) {
        sim_fail(s, "%s: signed anew, but the earlier signature must be returned", label);
    } else if (exp == EXP_SAME && (g->ts_s != prev->ts_s || g->ts_n != prev->ts_n)) {
        sim_fail(s, "%s: the earlier signature came back without the earlier timestamp", label);
    }
}

static const char *error_text(const Tendermint__Privval__RemoteSignerError *e)
{
    return e && e->description ? e->description : "";
}

/* A request in flight when the connection broke may or may not have moved the state. */
static void mark_uncertain(sim *s, sim_hrs at)
{
    if (s->last.valid && hrs_cmp(at, s->last.at) <= 0) {
        return;
    }
    if (!s->uncertain || hrs_cmp(at, s->uncertain_at) > 0) {
        s->uncertain_at = at;
    }
    s->uncertain = true;
}

sim_outcome sim_vote(sim *s, const char *label, const sim_vreq *q, const char *chain_id, sim_expect exp,
                     sim_reason reason, const sim_sig *prev, sim_sig *out_sig)
{
    const char *chain = chain_id ? chain_id : s->chain_id;
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__SignVoteRequest req = TENDERMINT__PRIVVAL__SIGN_VOTE_REQUEST__INIT;
    req.vote = (Tendermint__Types__Vote *)&q->v;
    req.chain_id = (char *)chain;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST;
    m.sign_vote_request = &req;
    s->n_vote++;
    sim_sig g = {0};
    Tendermint__Privval__Message *resp;
    sim_outcome out = exchange(s, &m, &resp);
    if (out != OUT_SIGNED) {
        mark_uncertain(s, (sim_hrs){q->v.height, q->v.round, type_to_step(q->v.type)});
        describe(s, label, out, &g, NULL, false);
        return out;
    }
    const char *err = NULL;
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE) {
        sim_fail(s, "%s: answered with message case %d, want SignedVoteResponse", label, (int)resp->sum_case);
        out = OUT_BAD;
    } else if (resp->signed_vote_response->error) {
        const Tendermint__Types__Vote *rv = resp->signed_vote_response->vote;
        err = error_text(resp->signed_vote_response->error);
        out = OUT_REFUSED;
        if (rv && (rv->signature.len || rv->extension_signature.len)) {
            sim_fail(s, "%s: a refusal that still carries a signature", label);
        }
    } else if (check_signed_vote(s, label, q, chain, resp->signed_vote_response->vote, prev, &g)) {
        after_signed(s, &g, prev);
    } else {
        out = OUT_BAD;
    }
    expectation(s, label, exp, reason, out, &g, prev, err);
    tendermint__privval__message__free_unpacked(resp, NULL);
    if (out_sig) {
        *out_sig = g;
    }
    return out;
}

sim_outcome sim_proposal(sim *s, const char *label, const sim_preq *q, const char *chain_id, sim_expect exp,
                         sim_reason reason, const sim_sig *prev, sim_sig *out_sig)
{
    const char *chain = chain_id ? chain_id : s->chain_id;
    Tendermint__Privval__Message m = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    Tendermint__Privval__SignProposalRequest req = TENDERMINT__PRIVVAL__SIGN_PROPOSAL_REQUEST__INIT;
    req.proposal = (Tendermint__Types__Proposal *)&q->p;
    req.chain_id = (char *)chain;
    m.sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_PROPOSAL_REQUEST;
    m.sign_proposal_request = &req;
    s->n_proposal++;
    sim_sig g = {0};
    Tendermint__Privval__Message *resp;
    sim_outcome out = exchange(s, &m, &resp);
    if (out != OUT_SIGNED) {
        mark_uncertain(s, (sim_hrs){q->p.height, q->p.round, STEP_PROPOSAL});
        describe(s, label, out, &g, NULL, false);
        return out;
    }
    const char *err = NULL;
    if (resp->sum_case != TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_PROPOSAL_RESPONSE) {
        sim_fail(s, "%s: answered with message case %d, want SignedProposalResponse", label,
                 (int)resp->sum_case);
        out = OUT_BAD;
    } else if (resp->signed_proposal_response->error) {
        const Tendermint__Types__Proposal *rp = resp->signed_proposal_response->proposal;
        err = error_text(resp->signed_proposal_response->error);
        out = OUT_REFUSED;
        if (rp && rp->signature.len) {
            sim_fail(s, "%s: a refusal that still carries a signature", label);
        }
    } else if (check_signed_proposal(s, label, q, chain, resp->signed_proposal_response->proposal, prev,
                                     &g)) {
        after_signed(s, &g, prev);
    } else {
        out = OUT_BAD;
    }
    expectation(s, label, exp, reason, out, &g, prev, err);
    tendermint__privval__message__free_unpacked(resp, NULL);
    if (out_sig) {
        *out_sig = g;
    }
    return out;
}

/* ---- summary ---- */

void sim_print_summary(sim *s, const char *title)
{
    unsigned long refused = 0;
    for (int r = 0; r < R_COUNT; r++) {
        refused += s->n_refused[r];
    }
    char b64[64] = "(none)";
    if (s->have_pubkey) {
        sodium_bin2base64(b64, sizeof(b64), s->pubkey, SIM_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
    }
    printf("\nvalidator-sim summary: %s (chain %s)\n", title, s->chain_id);
    printf("  consensus key         %s\n", b64);
    printf("  requests              %lu (ping %lu, pubkey %lu, vote %lu, proposal %lu, raw frames %lu)\n",
           s->n_ping + s->n_pubkey + s->n_vote + s->n_proposal + s->n_raw, s->n_ping, s->n_pubkey, s->n_vote,
           s->n_proposal, s->n_raw);
    printf("  signatures verified   %lu new, %lu repeats of an earlier one, %lu extension signatures\n",
           s->n_sig_new, s->n_sig_same, s->n_ext_sig);
    printf("  refusals              %lu as expected, %lu unexpected\n", refused, s->n_refused_unexpected);
    for (int r = 0; r < R_COUNT; r++) {
        if (s->n_refused[r]) {
            printf("    %-36s %5lu  e.g. \"%s\"\n", reason_name((sim_reason)r), s->n_refused[r],
                   s->refuse_example[r]);
        }
    }
    printf("  connections           %lu (closed by tmkms: %lu expected, %lu unexpected)\n", s->n_conn,
           s->n_closed_expected, s->n_closed_unexpected);
    if (s->last.valid) {
        printf("  highest signed        h=%" PRId64 " r=%d %s\n", s->last.at.h, s->last.at.r,
               type_name(s->last.type));
    }
    printf("  double signs          %lu\n", s->n_double_sign);
    printf("  check failures        %lu\n", s->n_fail);
    printf("result: %s\n", s->n_fail ? "FAIL" : "PASS");
    fflush(stdout);
}
