#include "tmkms/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/clock.h"
#include "tmkms/log.h"

/* Everything a response points to that is not part of the request. */
struct tm_session_scratch {
    Tendermint__Privval__PubKeyResponse pubkey_resp;
    Tendermint__Crypto__PublicKey pubkey;
    Tendermint__Privval__SignedVoteResponse vote_resp;
    Tendermint__Privval__SignedProposalResponse proposal_resp;
    Tendermint__Privval__PingResponse ping_resp;
    Tendermint__Privval__RemoteSignerError error;
    Tendermint__Types__Vote empty_vote;
    Tendermint__Types__Proposal empty_proposal;
    Google__Protobuf__Timestamp timestamp;
    char error_text[512];
    uint8_t signature[TM_ED25519_SIG_LEN];
    uint8_t ext_signature[TM_ED25519_SIG_LEN];
    uint8_t pubkey_bytes[TM_ED25519_PUBKEY_LEN];
    uint8_t sign_bytes[TM_MAX_SIGN_BYTES];
    /* Request fields replaced while answering, restored before the request is freed (the
     * request owns its allocations; the replacements live here). */
    ProtobufCBinaryData *restore_sig, *restore_ext_sig;
    ProtobufCBinaryData saved_sig, saved_ext_sig;
    Google__Protobuf__Timestamp **restore_ts;
    Google__Protobuf__Timestamp *saved_ts;
    /* Refusal log lines of this connection: a token bucket, so a node that sends nothing
     * but bad requests cannot flood the log (see refuse()). */
    tm_histogram *latency; /* this connection's chain and transport, or NULL */
    double log_tokens;
    uint64_t log_refill_us;
    unsigned long log_suppressed;
};

/* Up to REFUSAL_LOG_BURST refusal lines at once, then REFUSAL_LOG_PER_S per second. */
#define REFUSAL_LOG_BURST 20.0
#define REFUSAL_LOG_PER_S 10.0

tm_session_scratch *tm_session_scratch_new(void)
{
    return calloc(1, sizeof(tm_session_scratch));
}

void tm_session_scratch_free(tm_session_scratch *scratch)
{
    free(scratch);
}

static void scratch_reset(tm_session_scratch *s)
{
    static const Tendermint__Privval__PubKeyResponse pubkey_resp = TENDERMINT__PRIVVAL__PUB_KEY_RESPONSE__INIT;
    static const Tendermint__Crypto__PublicKey pubkey = TENDERMINT__CRYPTO__PUBLIC_KEY__INIT;
    static const Tendermint__Privval__SignedVoteResponse vote_resp = TENDERMINT__PRIVVAL__SIGNED_VOTE_RESPONSE__INIT;
    static const Tendermint__Privval__SignedProposalResponse proposal_resp =
        TENDERMINT__PRIVVAL__SIGNED_PROPOSAL_RESPONSE__INIT;
    static const Tendermint__Privval__PingResponse ping_resp = TENDERMINT__PRIVVAL__PING_RESPONSE__INIT;
    static const Tendermint__Privval__RemoteSignerError error = TENDERMINT__PRIVVAL__REMOTE_SIGNER_ERROR__INIT;
    static const Tendermint__Types__Vote empty_vote = TENDERMINT__TYPES__VOTE__INIT;
    static const Tendermint__Types__Proposal empty_proposal = TENDERMINT__TYPES__PROPOSAL__INIT;
    static const Google__Protobuf__Timestamp timestamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    s->pubkey_resp = pubkey_resp;
    s->pubkey = pubkey;
    s->vote_resp = vote_resp;
    s->proposal_resp = proposal_resp;
    s->ping_resp = ping_resp;
    s->error = error;
    s->empty_vote = empty_vote;
    s->empty_proposal = empty_proposal;
    s->timestamp = timestamp;
    s->restore_sig = s->restore_ext_sig = NULL;
    s->restore_ts = NULL;
}

/* Put back what the response borrowed from the request, so freeing the request frees
 * only its own allocations. */
void tm_session_done(tm_session_scratch *s)
{
    if (s->restore_sig) *s->restore_sig = s->saved_sig;
    if (s->restore_ext_sig) *s->restore_ext_sig = s->saved_ext_sig;
    if (s->restore_ts) *s->restore_ts = s->saved_ts;
    s->restore_sig = s->restore_ext_sig = NULL;
    s->restore_ts = NULL;
}

static void set_binary(tm_session_scratch *s, ProtobufCBinaryData *field, int which, uint8_t *data, size_t len)
{
    if (which == 0) {
        s->restore_sig = field;
        s->saved_sig = *field;
    } else {
        s->restore_ext_sig = field;
        s->saved_ext_sig = *field;
    }
    field->data = data;
    field->len = len;
}

static void set_timestamp(tm_session_scratch *s, Google__Protobuf__Timestamp **field, tm_timestamp ts)
{
    s->restore_ts = field;
    s->saved_ts = *field;
    s->timestamp.seconds = ts.seconds;
    s->timestamp.nanos = ts.nanos;
    *field = &s->timestamp;
}

static Tendermint__Privval__RemoteSignerError *make_error(tm_session_scratch *s, const char *what)
{
    snprintf(s->error_text, sizeof(s->error_text), "%s", what);
    s->error.code = 0; /* as CometBFT's own signer: a set error field is the refusal */
    s->error.description = s->error_text;
    return &s->error;
}

/* A request's chain id must be the connection's chain. */
static tm_status check_chain_id(const tm_session *session, const char *chain_id)
{
    TM_ENSURE(chain_id && strcmp(chain_id, session->chain->id) == 0, TM_ERR_REFUSED,
              "wrong chain id '%.64s': this connection serves '%s'", chain_id ? chain_id : "",
              session->chain->id);
    return TM_OK;
}

static tm_status check_max_height(const tm_session *session, int64_t height)
{
    TM_ENSURE(session->max_height <= 0 || height <= session->max_height, TM_ERR_REFUSED,
              "height %" PRId64 " is above max_height %" PRId64, height, session->max_height);
    return TM_OK;
}

static const char *block_prefix(const Tendermint__Types__BlockID *bid, char out[13])
{
    static const char hex[] = "0123456789ABCDEF";
    if (!bid || bid->hash.len == 0) return "nil";
    size_t n = bid->hash.len < 6 ? bid->hash.len : 6;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bid->hash.data[i] >> 4];
        out[2 * i + 1] = hex[bid->hash.data[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static const char *verdict_word(tm_guard_verdict v)
{
    return v == TM_GUARD_SIGN ? "signed" : v == TM_GUARD_REUSE ? "re-sent signature for" : "re-sent signature (earlier timestamp) for";
}

static tm_step vote_step(const tm_pv_vote *vote)
{
    return vote->type == TENDERMINT__TYPES__SIGNED_MSG_TYPE__SIGNED_MSG_TYPE_PRECOMMIT ? TM_STEP_PRECOMMIT
                                                                                       : TM_STEP_PREVOTE;
}

/* Every non-nil precommit gets an extension signature, freshly made (as FilePV). */
static tm_status sign_extension(const tm_session *session, tm_pv_vote *vote, tm_session_scratch *s)
{
    if (!session->chain->sign_extensions || vote_step(vote) != TM_STEP_PRECOMMIT ||
        tm_pv_block_id_is_nil(vote->block_id))
        return TM_OK;
    uint8_t *ext_bytes = NULL;
    size_t ext_len = 0;
    TM_TRY(tm_vote_extension_sign_bytes(session->chain->id, vote, &ext_bytes, &ext_len));
    tm_status status = tm_chain_sign_unguarded(session->chain, ext_bytes, ext_len, s->ext_signature);
    free(ext_bytes);
    TM_TRY(status);
    set_binary(s, &vote->extension_signature, 1, s->ext_signature, sizeof(s->ext_signature));
    return TM_OK;
}

static tm_status sign_vote(const tm_session *session, Tendermint__Privval__SignVoteRequest *req,
                           tm_session_scratch *s)
{
    tm_pv_vote *vote = req->vote;
    TM_ENSURE(vote != NULL, TM_ERR_INVALID, "sign_vote_request.vote: missing");
    TM_TRY(check_chain_id(session, req->chain_id));
    TM_TRY(tm_validate_vote(vote));
    TM_TRY(check_max_height(session, vote->height));
    if (!session->chain->sign_extensions && (vote->extension.len > 0))
        return tm_err_set(TM_ERR_REFUSED, "vote.extension: sign_extensions is off for this chain");

    size_t sb_len = 0;
    TM_TRY(tm_vote_sign_bytes(session->chain->id, vote, s->sign_bytes, sizeof(s->sign_bytes), &sb_len));
    TM_TRY(sign_extension(session, vote, s));

    uint64_t start = tm_monotonic_us();
    tm_guard_request greq = {vote->height, vote->round, vote_step(vote), s->sign_bytes, sb_len};
    tm_chain_sign_result res;
    TM_TRY(tm_chain_sign(session->chain, &greq, &res));
    memcpy(s->signature, res.signature, sizeof(s->signature));
    set_binary(s, &vote->signature, 0, s->signature, sizeof(s->signature));
    if (res.verdict == TM_GUARD_REUSE_EARLIER_TIMESTAMP) set_timestamp(s, &vote->timestamp, res.earlier_ts);
    uint64_t took_us = tm_monotonic_us() - start;
    tm_chain_metrics_signed(session->chain->metrics,
                            greq.step == TM_STEP_PRECOMMIT ? TM_SIGNED_PRECOMMIT : TM_SIGNED_PREVOTE);
    if (vote->extension_signature.len) tm_chain_metrics_signed(session->chain->metrics, TM_SIGNED_EXTENSION);
    tm_histogram_observe_ns(s->latency, took_us * 1000u);

    char bp[13];
    tm_log_info("sign", "[%s] %s %s %" PRId64 "/%d block=%s%s in %" PRIu64 " us", session->chain->id,
                verdict_word(res.verdict), tm_step_name(greq.step), vote->height, vote->round,
                block_prefix(vote->block_id, bp), vote->extension_signature.len ? " +ext" : "", took_us);
    return TM_OK;
}

static tm_status sign_proposal(const tm_session *session, Tendermint__Privval__SignProposalRequest *req,
                               tm_session_scratch *s)
{
    tm_pv_proposal *prop = req->proposal;
    TM_ENSURE(prop != NULL, TM_ERR_INVALID, "sign_proposal_request.proposal: missing");
    TM_TRY(check_chain_id(session, req->chain_id));
    TM_TRY(tm_validate_proposal(prop));
    TM_TRY(check_max_height(session, prop->height));

    size_t sb_len = 0;
    TM_TRY(tm_proposal_sign_bytes(session->chain->id, prop, s->sign_bytes, sizeof(s->sign_bytes), &sb_len));
    uint64_t start = tm_monotonic_us();
    tm_guard_request greq = {prop->height, prop->round, TM_STEP_PROPOSE, s->sign_bytes, sb_len};
    tm_chain_sign_result res;
    TM_TRY(tm_chain_sign(session->chain, &greq, &res));
    memcpy(s->signature, res.signature, sizeof(s->signature));
    set_binary(s, &prop->signature, 0, s->signature, sizeof(s->signature));
    if (res.verdict == TM_GUARD_REUSE_EARLIER_TIMESTAMP) set_timestamp(s, &prop->timestamp, res.earlier_ts);
    uint64_t took_us = tm_monotonic_us() - start;
    tm_chain_metrics_signed(session->chain->metrics, TM_SIGNED_PROPOSAL);
    tm_histogram_observe_ns(s->latency, took_us * 1000u);

    char bp[13];
    tm_log_info("sign", "[%s] %s proposal %" PRId64 "/%d pol=%d block=%s in %" PRIu64 " us", session->chain->id,
                verdict_word(res.verdict), prop->height, prop->round, prop->pol_round,
                block_prefix(prop->block_id, bp), took_us);
    return TM_OK;
}

/* Whether this refusal may be logged: the bucket starts full and refills with time. */
static bool refusal_log_allowed(tm_session_scratch *s)
{
    uint64_t now = tm_monotonic_us();
    if (s->log_refill_us == 0) s->log_tokens = REFUSAL_LOG_BURST;
    else s->log_tokens += (double)(now - s->log_refill_us) * REFUSAL_LOG_PER_S / 1e6;
    if (s->log_tokens > REFUSAL_LOG_BURST) s->log_tokens = REFUSAL_LOG_BURST;
    s->log_refill_us = now;
    if (s->log_tokens < 1.0) return false;
    s->log_tokens -= 1.0;
    return true;
}

/* Every refusal is answered; its log line is rate-limited per connection, and the count
 * of lines left out is logged with the next one that is not. */
static void refuse(const tm_session *session, const char *kind, tm_status status, tm_session_scratch *s)
{
    tm_chain_metrics_refused(session->chain->metrics, tm_refusal_classify(status, tm_err_msg()));
    if (!refusal_log_allowed(s)) {
        s->log_suppressed++;
        make_error(s, tm_err_msg());
        return;
    }
    if (s->log_suppressed)
        tm_log_warn("sign", "[%s] %lu refusals from %s not logged (more than %.0f/s)", session->chain->id,
                    s->log_suppressed, session->addr, REFUSAL_LOG_PER_S);
    s->log_suppressed = 0;
    tm_log_warn("sign", "[%s] refused %s from %s: %s", session->chain->id, kind, session->addr, tm_err_msg());
    make_error(s, tm_err_msg());
}

static void answer_pubkey(const tm_session *session, Tendermint__Privval__PubKeyRequest *req, tm_pv_msg *resp,
                          tm_session_scratch *s)
{
    resp->sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_RESPONSE;
    resp->pub_key_response = &s->pubkey_resp;
    s->pubkey_resp.pub_key = &s->pubkey; /* non-nullable in Go: always encoded */
    /* Nodes before CometBFT 0.35 send no chain id; any other mismatch is refused. */
    if (req->chain_id && req->chain_id[0] && check_chain_id(session, req->chain_id) != TM_OK) {
        refuse(session, "pubkey request", TM_ERR_REFUSED, s);
        s->pubkey_resp.error = &s->error;
        return;
    }
    memcpy(s->pubkey_bytes, session->chain->pubkey, sizeof(s->pubkey_bytes));
    s->pubkey.sum_case = TENDERMINT__CRYPTO__PUBLIC_KEY__SUM_ED25519;
    s->pubkey.ed25519.data = s->pubkey_bytes;
    s->pubkey.ed25519.len = sizeof(s->pubkey_bytes);
}

tm_status tm_session_handle(const tm_session *session, tm_pv_msg *req, tm_pv_msg *resp, tm_session_scratch *s)
{
    static const tm_pv_msg init = TENDERMINT__PRIVVAL__MESSAGE__INIT;
    tm_status status;
    tm_session_done(s);
    scratch_reset(s);
    *resp = init;
    switch (req->sum_case) {
    case TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_REQUEST:
        resp->sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_PING_RESPONSE;
        resp->ping_response = &s->ping_resp;
        return TM_OK;
    case TENDERMINT__PRIVVAL__MESSAGE__SUM_PUB_KEY_REQUEST:
        answer_pubkey(session, req->pub_key_request, resp, s);
        return TM_OK;
    case TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST:
        resp->sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_VOTE_RESPONSE;
        resp->signed_vote_response = &s->vote_resp;
        status = sign_vote(session, req->sign_vote_request, s);
        if (status == TM_OK) {
            s->vote_resp.vote = req->sign_vote_request->vote;
        } else {
            tm_session_done(s);
            refuse(session, "vote", status, s);
            s->vote_resp.vote = &s->empty_vote; /* non-nullable in Go: always encoded */
            s->vote_resp.error = &s->error;
        }
        return TM_OK;
    case TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_PROPOSAL_REQUEST:
        resp->sum_case = TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGNED_PROPOSAL_RESPONSE;
        resp->signed_proposal_response = &s->proposal_resp;
        status = sign_proposal(session, req->sign_proposal_request, s);
        if (status == TM_OK) {
            s->proposal_resp.proposal = req->sign_proposal_request->proposal;
        } else {
            tm_session_done(s);
            refuse(session, "proposal", status, s);
            s->proposal_resp.proposal = &s->empty_proposal;
            s->proposal_resp.error = &s->error;
        }
        return TM_OK;
    default:
        return tm_err_set(TM_ERR_INVALID, "unexpected message (oneof case %d): not a request", (int)req->sum_case);
    }
}

tm_status tm_session_serve(const tm_session *session, tm_conn *conn, uint64_t *answered)
{
    tm_status status;
    *answered = 0;
    tm_frame_reader fr;
    tm_session_scratch *s = tm_session_scratch_new();
    if (!s) return tm_err_set(TM_ERR_NOMEM, "out of memory");
    tm_frame_reader_init(&fr, TM_PRIVVAL_MAX_FRAME);
    s->latency = tm_chain_metrics_latency(tm_metrics_global(), session->chain->id, session->addr);
    for (;;) {
        tm_pv_msg *req = NULL;
        tm_pv_msg resp;
        status = tm_privval_read(conn, &fr, &req);
        if (status != TM_OK) break;
        status = tm_session_handle(session, req, &resp, s);
        if (status == TM_OK) status = tm_privval_write(conn, &resp);
        if (status == TM_OK) ++*answered;
        tm_session_done(s);
        tm_pv_msg_free(req);
        if (status != TM_OK) break;
    }
    tm_frame_reader_free(&fr);
    tm_session_scratch_free(s);
    return status;
}
