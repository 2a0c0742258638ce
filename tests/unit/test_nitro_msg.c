/* The host<->enclave protocol (src/nitro/msg.c): every body through tm_nitro_send /
 * tm_nitro_recv over a socket pair, the frame on the wire, frame errors, each bound of
 * host.proto (errors name the field, never a credential's text), tm_nitro_recv_expect,
 * tm_nitro_send_error and the SignState conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tmkms/conn.h"
#include "tmkms/log.h"
#include "tmkms/nitro/msg.h"

#define S(x) ((char *)(x))

/* Credential texts: an error message must never contain any of them. */
#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define TOKEN "FwoGZXIvYXdzEJr//////////wEaDOtokenEXAMPLE+/="

/* ---- a connected pair: a writes, b reads ---- */

typedef struct {
    tm_conn *a, *b;
} pair;

static void pair_open(pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(tm_conn_from_fd(sv[0], "a", 2000, &p->a), TM_OK);
    assert_int_equal(tm_conn_from_fd(sv[1], "b", 2000, &p->b), TM_OK);
}

static void pair_close(pair *p)
{
    tm_conn_close(p->a);
    tm_conn_close(p->b);
    p->a = p->b = NULL;
}

static void write_raw(tm_conn *c, const void *buf, size_t len)
{
    assert_int_equal(tm_conn_write_all(c, buf, len), TM_OK);
}

static void write_header(tm_conn *c, uint32_t len)
{
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    write_raw(c, h, 4);
}

/* ---- one valid message of every body ---- */

typedef struct {
    Tmkms__Nitro__AwsCredentials cred;
    Tmkms__Nitro__KeygenRequest keygen_req;
    Tmkms__Nitro__KeygenResponse keygen_resp;
    Tmkms__Nitro__StartRequest start_req;
    Tmkms__Nitro__StartResponse start_resp;
    Tmkms__Nitro__SignState state;
    Tmkms__Nitro__StateLoadRequest load_req;
    Tmkms__Nitro__StateLoadResponse load_resp;
    Tmkms__Nitro__StatePersist persist;
    Tmkms__Nitro__StateAck ack;
    Tmkms__Nitro__LogLine log;
    Tmkms__Nitro__Error err;
    uint8_t sealed[300], pubkey[32], attestation[1000], sealed_id[200], id_pubkey[32], sign_bytes[150], sig[64];
    tm_nitro_msg m;
} fx;

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed + i * 7u);
}

static ProtobufCBinaryData bin(uint8_t *data, size_t len)
{
    ProtobufCBinaryData b = {len, data};
    return b;
}

static void set_body(fx *f, tm_nitro_body body)
{
    f->m.body_case = body;
    switch (body) {
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST: f->m.keygen_request = &f->keygen_req; break;
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE: f->m.keygen_response = &f->keygen_resp; break;
    case TMKMS__NITRO__MESSAGE__BODY_START_REQUEST: f->m.start_request = &f->start_req; break;
    case TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE: f->m.start_response = &f->start_resp; break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST: f->m.state_load_request = &f->load_req; break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE: f->m.state_load_response = &f->load_resp; break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST: f->m.state_persist = &f->persist; break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_ACK: f->m.state_ack = &f->ack; break;
    case TMKMS__NITRO__MESSAGE__BODY_LOG_LINE: f->m.log_line = &f->log; break;
    case TMKMS__NITRO__MESSAGE__BODY_ERROR: f->m.error = &f->err; break;
    default: f->m.keygen_request = NULL; break;
    }
}

static void fx_init(fx *f, tm_nitro_body body)
{
    memset(f, 0, sizeof(*f));
    fill(f->sealed, sizeof(f->sealed), 1);
    fill(f->pubkey, sizeof(f->pubkey), 2);
    fill(f->attestation, sizeof(f->attestation), 3);
    fill(f->sealed_id, sizeof(f->sealed_id), 4);
    fill(f->id_pubkey, sizeof(f->id_pubkey), 5);
    fill(f->sign_bytes, sizeof(f->sign_bytes), 6);
    fill(f->sig, sizeof(f->sig), 7);

    tmkms__nitro__aws_credentials__init(&f->cred);
    f->cred.access_key_id = S(AKID);
    f->cred.secret_access_key = S(SECRET);
    f->cred.session_token = S(TOKEN);

    tmkms__nitro__keygen_request__init(&f->keygen_req);
    f->keygen_req.aws_region = S("eu-west-2");
    f->keygen_req.kms_key_id = S("arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    f->keygen_req.credentials = &f->cred;
    f->keygen_req.identity_key = 1;
    f->keygen_req.kms_proxy_port = 8001;

    tmkms__nitro__keygen_response__init(&f->keygen_resp);
    f->keygen_resp.sealed_consensus_key = bin(f->sealed, sizeof(f->sealed));
    f->keygen_resp.consensus_pubkey = bin(f->pubkey, sizeof(f->pubkey));
    f->keygen_resp.attestation_doc = bin(f->attestation, sizeof(f->attestation));
    f->keygen_resp.sealed_identity_key = bin(f->sealed_id, sizeof(f->sealed_id));
    f->keygen_resp.identity_pubkey = bin(f->id_pubkey, sizeof(f->id_pubkey));

    tmkms__nitro__start_request__init(&f->start_req);
    f->start_req.chain_id = S("cosmoshub-4");
    f->start_req.max_height = 123456789;
    f->start_req.sealed_consensus_key = bin(f->sealed, sizeof(f->sealed));
    f->start_req.sealed_identity_key = bin(f->sealed_id, sizeof(f->sealed_id));
    f->start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION;
    f->start_req.peer_id = S("0123456789abcdef0123456789abcdef01234567");
    f->start_req.state_port = 5001;
    f->start_req.node_port = 5002;
    f->start_req.log_port = 5003;
    f->start_req.aws_region = S("us-east-1");
    f->start_req.credentials = &f->cred;
    f->start_req.kms_proxy_port = 8002;
    f->start_req.sign_extensions = 1;

    tmkms__nitro__start_response__init(&f->start_resp);
    f->start_resp.consensus_pubkey = bin(f->pubkey, sizeof(f->pubkey));

    tmkms__nitro__sign_state__init(&f->state);
    f->state.height = 1000;
    f->state.round = 2;
    f->state.step = 3;
    f->state.sign_bytes = bin(f->sign_bytes, sizeof(f->sign_bytes));
    f->state.signature = bin(f->sig, sizeof(f->sig));

    tmkms__nitro__state_load_request__init(&f->load_req);
    f->load_req.chain_id = S("cosmoshub-4");
    tmkms__nitro__state_load_response__init(&f->load_resp);
    f->load_resp.state = &f->state;
    tmkms__nitro__state_persist__init(&f->persist);
    f->persist.seq = 0x1122334455667788ull;
    f->persist.state = &f->state;
    tmkms__nitro__state_ack__init(&f->ack);
    f->ack.seq = 42;
    tmkms__nitro__log_line__init(&f->log);
    f->log.level = TM_LOG_WARN;
    f->log.text = S("2024-01-01T00:00:00Z WARN [session] peer closed");
    tmkms__nitro__error__init(&f->err);
    f->err.code = TM_ERR_DOUBLE_SIGN;
    f->err.message = S("height 1000 round 2 precommit: conflicting block");

    tmkms__nitro__message__init(&f->m);
    f->m.version = TM_NITRO_PROTO_VERSION;
    set_body(f, body);
}

static const tm_nitro_body all_bodies[] = {
    TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST,      TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE,
    TMKMS__NITRO__MESSAGE__BODY_START_REQUEST,       TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE,
    TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST,  TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE,
    TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST,       TMKMS__NITRO__MESSAGE__BODY_STATE_ACK,
    TMKMS__NITRO__MESSAGE__BODY_LOG_LINE,            TMKMS__NITRO__MESSAGE__BODY_ERROR,
};
#define N_BODIES (sizeof(all_bodies) / sizeof(all_bodies[0]))

/* ---- field comparison ---- */

static void str_eq(const char *got, const char *want)
{
    assert_string_equal(got ? got : "", want ? want : "");
}

static void bin_eq(ProtobufCBinaryData got, ProtobufCBinaryData want)
{
    assert_int_equal(got.len, want.len);
    if (want.len) assert_memory_equal(got.data, want.data, want.len);
}

static void cred_eq(const Tmkms__Nitro__AwsCredentials *got, const Tmkms__Nitro__AwsCredentials *want)
{
    assert_non_null(got);
    str_eq(got->access_key_id, want->access_key_id);
    str_eq(got->secret_access_key, want->secret_access_key);
    str_eq(got->session_token, want->session_token);
}

static void state_eq(const Tmkms__Nitro__SignState *got, const Tmkms__Nitro__SignState *want)
{
    assert_non_null(got);
    assert_int_equal(got->height, want->height);
    assert_int_equal(got->round, want->round);
    assert_int_equal(got->step, want->step);
    bin_eq(got->sign_bytes, want->sign_bytes);
    bin_eq(got->signature, want->signature);
}

static void msg_eq(const tm_nitro_msg *got, const tm_nitro_msg *want)
{
    assert_int_equal(got->version, TM_NITRO_PROTO_VERSION);
    assert_int_equal(got->body_case, want->body_case);
    switch (want->body_case) {
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST: {
        const Tmkms__Nitro__KeygenRequest *g = got->keygen_request, *w = want->keygen_request;
        str_eq(g->aws_region, w->aws_region);
        str_eq(g->kms_key_id, w->kms_key_id);
        cred_eq(g->credentials, w->credentials);
        assert_int_equal(!!g->identity_key, !!w->identity_key);
        assert_int_equal(g->kms_proxy_port, w->kms_proxy_port);
        break;
    }
    case TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE: {
        const Tmkms__Nitro__KeygenResponse *g = got->keygen_response, *w = want->keygen_response;
        bin_eq(g->sealed_consensus_key, w->sealed_consensus_key);
        bin_eq(g->consensus_pubkey, w->consensus_pubkey);
        bin_eq(g->attestation_doc, w->attestation_doc);
        bin_eq(g->sealed_identity_key, w->sealed_identity_key);
        bin_eq(g->identity_pubkey, w->identity_pubkey);
        break;
    }
    case TMKMS__NITRO__MESSAGE__BODY_START_REQUEST: {
        const Tmkms__Nitro__StartRequest *g = got->start_request, *w = want->start_request;
        str_eq(g->chain_id, w->chain_id);
        assert_int_equal(g->max_height, w->max_height);
        bin_eq(g->sealed_consensus_key, w->sealed_consensus_key);
        bin_eq(g->sealed_identity_key, w->sealed_identity_key);
        assert_int_equal(g->transport, w->transport);
        str_eq(g->peer_id, w->peer_id);
        assert_int_equal(g->state_port, w->state_port);
        assert_int_equal(g->node_port, w->node_port);
        assert_int_equal(g->log_port, w->log_port);
        str_eq(g->aws_region, w->aws_region);
        cred_eq(g->credentials, w->credentials);
        assert_int_equal(g->kms_proxy_port, w->kms_proxy_port);
        assert_int_equal(!!g->sign_extensions, !!w->sign_extensions);
        break;
    }
    case TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE:
        bin_eq(got->start_response->consensus_pubkey, want->start_response->consensus_pubkey);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST:
        str_eq(got->state_load_request->chain_id, want->state_load_request->chain_id);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE:
        state_eq(got->state_load_response->state, want->state_load_response->state);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST:
        assert_int_equal(got->state_persist->seq, want->state_persist->seq);
        state_eq(got->state_persist->state, want->state_persist->state);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_STATE_ACK:
        assert_int_equal(got->state_ack->seq, want->state_ack->seq);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_LOG_LINE:
        assert_int_equal(got->log_line->level, want->log_line->level);
        str_eq(got->log_line->text, want->log_line->text);
        break;
    case TMKMS__NITRO__MESSAGE__BODY_ERROR:
        assert_int_equal(got->error->code, want->error->code);
        str_eq(got->error->message, want->error->message);
        break;
    default:
        fail_msg("unexpected body %d", (int)want->body_case);
    }
}

/* Send `m` from a to b and compare what b decodes. */
static void round_trip(tm_nitro_msg *m)
{
    pair p;
    pair_open(&p);
    m->version = 0; /* tm_nitro_send sets it */
    assert_int_equal(tm_nitro_send(p.a, m), TM_OK);
    assert_int_equal(m->version, TM_NITRO_PROTO_VERSION);
    tm_nitro_msg *got = NULL;
    if (tm_nitro_recv(p.b, &got) != TM_OK) fail_msg("%s: %s", tm_nitro_body_name(m->body_case), tm_err_msg());
    assert_non_null(got);
    msg_eq(got, m);
    tm_nitro_msg_free(got);
    pair_close(&p);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- round trips ---- */

static void test_round_trip_every_body(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_BODIES; i++) {
        fx f;
        fx_init(&f, all_bodies[i]);
        assert_int_equal(tm_nitro_msg_validate(&f.m), TM_OK);
        round_trip(&f.m);
    }
}

/* Zero/empty values where allowed, and each bound exactly. */
static void test_round_trip_edges(void **state)
{
    (void)state;
    fx f;

    /* plain transport: no identity key, no peer id, no log port, no session token */
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_START_REQUEST);
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_PLAIN;
    f.start_req.sealed_identity_key = bin(NULL, 0);
    f.start_req.peer_id = NULL;
    f.start_req.log_port = 0;
    f.start_req.max_height = 0;
    f.start_req.kms_proxy_port = 0;
    f.start_req.sign_extensions = 0;
    f.cred.session_token = NULL;
    round_trip(&f.m);

    /* noise with a peer id; bounds at their maxima */
    char *chain = repeat('c', TM_MAX_CHAIN_ID_LEN), *region = repeat('a', TM_NITRO_MAX_REGION);
    char *peer = repeat('P', TM_NITRO_MAX_PEER_ID), *akid = repeat('A', TM_NITRO_MAX_AKID);
    char *secret = repeat('s', TM_NITRO_MAX_SECRET), *token = repeat('t', TM_NITRO_MAX_TOKEN);
    uint8_t *sealed = calloc(1, TM_NITRO_MAX_SEALED), *sealed_id = calloc(1, TM_NITRO_MAX_SEALED);
    uint8_t *att = calloc(1, TM_NITRO_MAX_ATTESTATION);
    assert_non_null(sealed);
    assert_non_null(sealed_id);
    assert_non_null(att);
    fill(sealed, TM_NITRO_MAX_SEALED, 9);
    fill(sealed_id, TM_NITRO_MAX_SEALED, 10);
    fill(att, TM_NITRO_MAX_ATTESTATION, 11);
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_START_REQUEST);
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE;
    f.start_req.chain_id = chain;
    f.start_req.peer_id = peer;
    f.start_req.aws_region = region;
    f.start_req.max_height = INT64_MAX;
    f.start_req.state_port = 0xFFFFFFFEu;
    f.start_req.node_port = 1;
    f.start_req.log_port = 0xFFFFFFFEu;
    f.start_req.kms_proxy_port = 0xFFFFFFFEu;
    f.start_req.sealed_consensus_key = bin(sealed, TM_NITRO_MAX_SEALED);
    f.start_req.sealed_identity_key = bin(sealed_id, TM_NITRO_MAX_SEALED);
    f.cred.access_key_id = akid;
    f.cred.secret_access_key = secret;
    f.cred.session_token = token;
    round_trip(&f.m);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST);
    char *key_id = repeat('k', TM_NITRO_MAX_KEY_ID);
    f.keygen_req.aws_region = region;
    f.keygen_req.kms_key_id = key_id;
    f.keygen_req.identity_key = 0;
    f.keygen_req.kms_proxy_port = 0;
    f.cred.access_key_id = akid;
    f.cred.secret_access_key = secret;
    f.cred.session_token = token;
    round_trip(&f.m);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE);
    f.keygen_resp.sealed_consensus_key = bin(sealed, TM_NITRO_MAX_SEALED);
    f.keygen_resp.attestation_doc = bin(att, TM_NITRO_MAX_ATTESTATION);
    f.keygen_resp.sealed_identity_key = bin(sealed_id, TM_NITRO_MAX_SEALED);
    round_trip(&f.m);
    /* without an identity key */
    f.keygen_resp.sealed_identity_key = bin(NULL, 0);
    f.keygen_resp.identity_pubkey = bin(NULL, 0);
    round_trip(&f.m);

    /* a fresh state: everything zero, no sign bytes, no signature */
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST);
    f.persist.seq = 0;
    f.state.height = 0;
    f.state.round = 0;
    f.state.step = 0;
    f.state.sign_bytes = bin(NULL, 0);
    f.state.signature = bin(NULL, 0);
    round_trip(&f.m);
    /* the largest state */
    uint8_t big_sign_bytes[TM_MAX_SIGN_BYTES];
    fill(big_sign_bytes, sizeof(big_sign_bytes), 12);
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE);
    f.state.height = INT64_MAX;
    f.state.round = INT32_MAX;
    f.state.sign_bytes = bin(big_sign_bytes, sizeof(big_sign_bytes));
    round_trip(&f.m);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST);
    f.load_req.chain_id = chain;
    round_trip(&f.m);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK);
    f.ack.seq = UINT64_MAX;
    round_trip(&f.m);
    f.ack.seq = 0;
    round_trip(&f.m);

    char *line = repeat('~', TM_NITRO_MAX_LOG_LINE), *text = repeat(' ', TM_NITRO_MAX_ERROR);
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_LOG_LINE);
    for (uint32_t level = TM_LOG_ERROR; level <= TM_LOG_DEBUG; level++) {
        f.log.level = level;
        f.log.text = line;
        round_trip(&f.m);
        f.log.text = NULL;
        round_trip(&f.m);
    }
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_ERROR);
    f.err.message = text;
    f.err.code = 0xFFFFFFFFu;
    round_trip(&f.m);
    f.err.message = NULL;
    f.err.code = 0;
    round_trip(&f.m);

    free(chain), free(region), free(peer), free(akid), free(secret), free(token), free(key_id);
    free(sealed), free(sealed_id), free(att), free(line), free(text);
}

/* The bytes on the wire: a 4-byte big-endian length and the packed Message. */
static void test_frame_layout(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE);
    f.m.version = 0;
    pair p;
    pair_open(&p);
    assert_int_equal(tm_nitro_send(p.a, &f.m), TM_OK);
    size_t len = tmkms__nitro__message__get_packed_size(&f.m);
    assert_true(len > 256); /* so the length uses two bytes */
    uint8_t *want = malloc(len), *got = malloc(len);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(tmkms__nitro__message__pack(&f.m, want), len);
    assert_memory_equal(want, "\x08\x01", 2); /* version 1 first */
    uint8_t hdr[4];
    assert_int_equal(tm_conn_read_exact(p.b, hdr, 4), TM_OK);
    assert_int_equal(hdr[0], 0);
    assert_int_equal(hdr[1], (uint8_t)(len >> 16));
    assert_int_equal(hdr[2], (uint8_t)(len >> 8));
    assert_int_equal(hdr[3], (uint8_t)len);
    assert_int_equal(tm_conn_read_exact(p.b, got, len), TM_OK);
    assert_memory_equal(got, want, len);
    free(want);
    free(got);
    pair_close(&p);
}

/* ---- frame errors ---- */

/* A state_ack padded with an unknown field (15, bytes) to exactly `total` bytes. */
static uint8_t *padded_ack(size_t total)
{
    uint8_t *b = malloc(total);
    assert_non_null(b);
    static const uint8_t head[] = {0x08, 0x01, 0x4a, 0x02, 0x08, 0x2a, 0x7a};
    memcpy(b, head, sizeof(head));
    size_t pad = total - sizeof(head) - 3; /* a 3-byte varint length */
    assert_true(pad >= 16384 && pad < 2097152);
    b[7] = (uint8_t)(0x80 | (pad & 0x7f));
    b[8] = (uint8_t)(0x80 | ((pad >> 7) & 0x7f));
    b[9] = (uint8_t)(pad >> 14);
    memset(b + 10, 'x', pad);
    return b;
}

static void expect_recv_fails(tm_conn *c, tm_status want, const char *needle)
{
    tm_nitro_msg *m = (tm_nitro_msg *)&m; /* not NULL: recv must clear it */
    tm_status st = tm_nitro_recv(c, &m);
    if (st != want) fail_msg("got %s (%s), want %s", tm_status_name(st), tm_err_msg(), tm_status_name(want));
    assert_null(m);
    if (needle && !strstr(tm_err_msg(), needle)) fail_msg("\"%s\" does not mention %s", tm_err_msg(), needle);
}

static void test_frame_errors(void **state)
{
    (void)state;
    pair p;

    /* length 0 */
    pair_open(&p);
    write_header(p.a, 0);
    expect_recv_fails(p.b, TM_ERR_INVALID, "frame");
    pair_close(&p);

    /* a length above 64 KiB is refused from the header alone: no body is sent, and waiting
     * for one would end in TM_ERR_TIMEOUT */
    static const uint32_t big[] = {TM_NITRO_FRAME_MAX + 1, 0x01000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        pair_open(&p);
        write_header(p.a, big[i]);
        expect_recv_fails(p.b, TM_ERR_INVALID, "frame");
        pair_close(&p);
    }

    /* exactly 64 KiB is accepted */
    uint8_t *ack = padded_ack(TM_NITRO_FRAME_MAX);
    pair_open(&p);
    write_header(p.a, TM_NITRO_FRAME_MAX);
    write_raw(p.a, ack, TM_NITRO_FRAME_MAX);
    tm_nitro_msg *m = NULL;
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_int_equal(m->body_case, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK);
    assert_int_equal(m->state_ack->seq, 42);
    tm_nitro_msg_free(m);
    pair_close(&p);
    free(ack);

    /* the same through the decoder: 0, 64 KiB, 64 KiB + 1 */
    ack = padded_ack(TM_NITRO_FRAME_MAX + 1);
    m = NULL;
    assert_int_equal(tm_nitro_msg_decode(ack, 0, &m), TM_ERR_INVALID);
    assert_null(m);
    assert_int_equal(tm_nitro_msg_decode(ack, TM_NITRO_FRAME_MAX + 1, &m), TM_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(tm_err_msg(), "frame"));
    free(ack);

    /* truncated: the peer closes inside the header, inside the body, or before anything */
    static const uint8_t body[] = {0x08, 0x01, 0x4a, 0x02, 0x08, 0x2a};
    for (size_t cut = 0; cut < 4 + sizeof(body); cut++) {
        uint8_t frame[4 + sizeof(body)] = {0, 0, 0, sizeof(body)};
        memcpy(frame + 4, body, sizeof(body));
        pair_open(&p);
        if (cut) write_raw(p.a, frame, cut);
        tm_conn_close(p.a);
        p.a = NULL;
        expect_recv_fails(p.b, TM_ERR_EOF, NULL);
        pair_close(&p);
    }
    /* ... and the whole frame decodes */
    pair_open(&p);
    write_header(p.a, sizeof(body));
    write_raw(p.a, body, sizeof(body));
    tm_conn_close(p.a);
    p.a = NULL;
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_int_equal(m->state_ack->seq, 42);
    tm_nitro_msg_free(m);
    pair_close(&p);

    /* bytes that are not a Message */
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        {"\xff\xff\xff\xff", 4},        /* field 0 / bad wire type */
        {"\x08", 1},                    /* a tag without its value */
        {"\x08\x80", 2},                /* a truncated varint */
        {"\x4a\x05\x08\x2a", 4},        /* a length beyond the message */
        {"\x08\x01\x12\x03\x0a\x09", 6}, /* keygen_request claiming 3 bytes of 2 */
        {"\x0b\x0c", 2},                /* groups */
        {"{\"version\":1}", 13},
        /* field number 0 in a two-byte tag (protobuf-c reads it; its re-encoding would not
         * decode): at the top, in a body, in a body's submessage */
        {"\x80\x00\x06\x08\x01\x4a\x02\x08\x2a", 9},
        {"\x08\x01\x4a\x05\x08\x2a\x80\x00\x06", 9},
        {"\x08\x01\x42\x05\x12\x03\x80\x00\x01", 9},
        {"\x08\x01\x12\x05\x1a\x03\x80\x00\x07", 9},
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        pair_open(&p);
        write_header(p.a, (uint32_t)junk[i].len);
        write_raw(p.a, junk[i].bytes, junk[i].len);
        expect_recv_fails(p.b, TM_ERR_INVALID, "not a host.proto Message");
        pair_close(&p);
        m = (tm_nitro_msg *)&m;
        assert_int_equal(tm_nitro_msg_decode((const uint8_t *)junk[i].bytes, junk[i].len, &m), TM_ERR_INVALID);
        assert_null(m);
    }

    /* ... while other unknown fields pass, at any depth */
    static const uint8_t unknown_ok[] = {0x08, 0x01, 0x42, 0x08, 0x12, 0x03, 0xf8, 0x01, 0x01, 0x98, 0x03, 0x05};
    assert_int_equal(tm_nitro_msg_decode(unknown_ok, sizeof(unknown_ok), &m), TM_OK);
    assert_int_equal(m->body_case, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST);
    assert_non_null(m->state_persist->state);
    tm_nitro_msg_free(m);

    /* the sender refuses a message above 64 KiB and writes nothing of it */
    char *huge = repeat('a', TM_NITRO_FRAME_MAX + 100);
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_LOG_LINE);
    f.log.text = huge;
    pair_open(&p);
    assert_int_equal(tm_nitro_send(p.a, &f.m), TM_ERR_TOO_LARGE);
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK);
    assert_int_equal(tm_nitro_send(p.a, &f.m), TM_OK);
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_int_equal(m->body_case, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK);
    tm_nitro_msg_free(m);
    pair_close(&p);
    free(huge);

    /* an invalid message is refused by the receiver even when it is a well-formed frame */
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_LOG_LINE);
    f.log.level = 9;
    pair_open(&p);
    assert_int_equal(tm_nitro_send(p.a, &f.m), TM_OK);
    expect_recv_fails(p.b, TM_ERR_INVALID, "log_line.level");
    pair_close(&p);
}

/* ---- validation ---- */

/* The message is refused with `want`, by tm_nitro_msg_validate and by the decoder on its
 * packed bytes, and the error names `field`. */
static void refused_(fx *f, tm_status want, const char *field, int line)
{
    tm_err_clear();
    tm_status st = tm_nitro_msg_validate(&f->m);
    if (st != want)
        fail_msg("line %d: validate: got %s (%s), want %s naming %s", line, tm_status_name(st), tm_err_msg(),
                 tm_status_name(want), field);
    if (!strstr(tm_err_msg(), field)) fail_msg("line %d: \"%s\" does not name %s", line, tm_err_msg(), field);

    size_t len = tmkms__nitro__message__get_packed_size(&f->m);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    assert_int_equal(tmkms__nitro__message__pack(&f->m, buf), len);
    tm_nitro_msg *m = (tm_nitro_msg *)&m;
    tm_err_clear();
    st = tm_nitro_msg_decode(buf, len, &m);
    free(buf);
    if (st != want)
        fail_msg("line %d: decode: got %s (%s), want %s naming %s", line, tm_status_name(st), tm_err_msg(),
                 tm_status_name(want), field);
    assert_null(m);
    if (!strstr(tm_err_msg(), field)) fail_msg("line %d: \"%s\" does not name %s", line, tm_err_msg(), field);
}
#define refused(f, want, field) refused_((f), (want), (field), __LINE__)

static void accepted_(fx *f, int line)
{
    tm_status st = tm_nitro_msg_validate(&f->m);
    if (st != TM_OK) fail_msg("line %d: refused: %s", line, tm_err_msg());
}
#define accepted(f) accepted_((f), __LINE__)

static void test_version_and_body(void **state)
{
    (void)state;
    fx f;
    for (size_t i = 0; i < N_BODIES; i++) {
        fx_init(&f, all_bodies[i]);
        accepted(&f);
        f.m.version = 0;
        refused(&f, TM_ERR_INVALID, "message.version");
        f.m.version = 2;
        refused(&f, TM_ERR_INVALID, "message.version");
        f.m.version = 0xFFFFFFFFu;
        refused(&f, TM_ERR_INVALID, "message.version");
    }
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY__NOT_SET);
    refused(&f, TM_ERR_INVALID, "no body");
    /* version is checked before the body */
    f.m.version = 3;
    refused(&f, TM_ERR_INVALID, "message.version");
}

static void test_keygen_request_bounds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST);
    static const char *bad_regions[] = {"EU-WEST-2", "eu_west_2", "eu west", "eu.west", "-eu-west-2", "eu-wést"};
    for (size_t i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
        f.keygen_req.aws_region = S(bad_regions[i]);
        refused(&f, TM_ERR_INVALID, "keygen_request.aws_region");
    }
    f.keygen_req.aws_region = S("");
    refused(&f, TM_ERR_INVALID, "keygen_request.aws_region");
    f.keygen_req.aws_region = NULL;
    refused(&f, TM_ERR_INVALID, "keygen_request.aws_region");
    f.keygen_req.aws_region = S("eu-west-2\n");
    refused(&f, TM_ERR_INVALID, "keygen_request.aws_region");
    char *region = repeat('a', TM_NITRO_MAX_REGION + 1);
    f.keygen_req.aws_region = region;
    refused(&f, TM_ERR_TOO_LARGE, "keygen_request.aws_region");
    region[TM_NITRO_MAX_REGION] = '\0';
    accepted(&f);
    f.keygen_req.aws_region = S("ap-southeast-4");
    accepted(&f);
    free(region);

    f.keygen_req.kms_key_id = S("");
    refused(&f, TM_ERR_INVALID, "keygen_request.kms_key_id");
    f.keygen_req.kms_key_id = NULL;
    refused(&f, TM_ERR_INVALID, "keygen_request.kms_key_id");
    f.keygen_req.kms_key_id = S("alias/key\x01");
    refused(&f, TM_ERR_INVALID, "keygen_request.kms_key_id");
    char *key_id = repeat('k', TM_NITRO_MAX_KEY_ID + 1);
    f.keygen_req.kms_key_id = key_id;
    refused(&f, TM_ERR_TOO_LARGE, "keygen_request.kms_key_id");
    key_id[TM_NITRO_MAX_KEY_ID] = '\0';
    accepted(&f);
    f.keygen_req.kms_key_id = S("alias/tmkms");
    accepted(&f);
    free(key_id);

    f.keygen_req.kms_proxy_port = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "keygen_request.kms_proxy_port");
    f.keygen_req.kms_proxy_port = 0;
    accepted(&f);
}

/* Every credential problem names the field and never the credential's text. */
static void check_credentials(fx *f, const char *prefix)
{
    char field[96];
    char *akid_long = repeat('A', TM_NITRO_MAX_AKID + 1), *secret_long = repeat('S', TM_NITRO_MAX_SECRET + 1);
    char *token_long = repeat('T', TM_NITRO_MAX_TOKEN + 1);
    memcpy(secret_long, SECRET, sizeof(SECRET) - 1); /* over the start: repeat() terminated the string */
    memcpy(token_long, TOKEN, sizeof(TOKEN) - 1);
    memcpy(akid_long, AKID, sizeof(AKID) - 1);
    static const char *texts[] = {AKID, SECRET, TOKEN, "AKIAIOSFODNN7", "wJalrXUtnFEMI", "FwoGZXIvYXdz"};
    const struct {
        const char *which;
        char *akid, *secret, *token;
    } cases[] = {
        {"access_key_id", S(""), S(SECRET), S(TOKEN)},
        {"access_key_id", NULL, S(SECRET), S(TOKEN)},
        {"access_key_id", akid_long, S(SECRET), S(TOKEN)},
        {"access_key_id", S(AKID "\x7f"), S(SECRET), S(TOKEN)},
        {"access_key_id", S(AKID "\xc3\xa9"), S(SECRET), S(TOKEN)},
        {"secret_access_key", S(AKID), S(""), S(TOKEN)},
        {"secret_access_key", S(AKID), NULL, S(TOKEN)},
        {"secret_access_key", S(AKID), secret_long, S(TOKEN)},
        {"secret_access_key", S(AKID), S(SECRET "\n"), S(TOKEN)},
        {"secret_access_key", S(AKID), S("wJalrXUtnFEMI\tK7MDENG"), S(TOKEN)},
        {"secret_access_key", S(AKID), S(SECRET "\x80"), S(TOKEN)},
        {"session_token", S(AKID), S(SECRET), token_long},
        {"session_token", S(AKID), S(SECRET), S(TOKEN "\x1b[0m")},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f->cred.access_key_id = cases[i].akid;
        f->cred.secret_access_key = cases[i].secret;
        f->cred.session_token = cases[i].token;
        snprintf(field, sizeof(field), "%s.%s", prefix, cases[i].which);
        refused(f, TM_ERR_INVALID, field);
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
            if (strstr(tm_err_msg(), texts[t])) fail_msg("case %zu: \"%s\" contains a credential", i, tm_err_msg());
    }
    /* the bounds themselves are accepted; the session token may be empty */
    akid_long[TM_NITRO_MAX_AKID] = secret_long[TM_NITRO_MAX_SECRET] = token_long[TM_NITRO_MAX_TOKEN] = '\0';
    f->cred.access_key_id = akid_long;
    f->cred.secret_access_key = secret_long;
    f->cred.session_token = token_long;
    accepted(f);
    f->cred.session_token = NULL;
    accepted(f);
    f->cred.session_token = S("");
    accepted(f);
    f->cred.access_key_id = S(AKID);
    f->cred.secret_access_key = S(SECRET);
    f->cred.session_token = S(TOKEN);
    free(akid_long);
    free(secret_long);
    free(token_long);
}

static void test_credentials(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_REQUEST);
    check_credentials(&f, "keygen_request.credentials");
    f.keygen_req.credentials = NULL;
    refused(&f, TM_ERR_INVALID, "keygen_request.credentials");
    assert_non_null(strstr(tm_err_msg(), "missing"));

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_START_REQUEST);
    check_credentials(&f, "start_request.credentials");
    f.start_req.credentials = NULL;
    refused(&f, TM_ERR_INVALID, "start_request.credentials");
    assert_non_null(strstr(tm_err_msg(), "missing"));
}

static void test_start_request_bounds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_START_REQUEST);

    f.start_req.chain_id = S("");
    refused(&f, TM_ERR_INVALID, "start_request.chain_id");
    f.start_req.chain_id = NULL;
    refused(&f, TM_ERR_INVALID, "start_request.chain_id");
    f.start_req.chain_id = S("chain\x01");
    refused(&f, TM_ERR_INVALID, "start_request.chain_id");
    char *chain = repeat('c', TM_MAX_CHAIN_ID_LEN + 1);
    f.start_req.chain_id = chain;
    refused(&f, TM_ERR_TOO_LARGE, "start_request.chain_id");
    chain[TM_MAX_CHAIN_ID_LEN] = '\0';
    accepted(&f);
    f.start_req.chain_id = S("cosmoshub-4");

    f.start_req.max_height = -1;
    refused(&f, TM_ERR_INVALID, "start_request.max_height");
    f.start_req.max_height = INT64_MIN;
    refused(&f, TM_ERR_INVALID, "start_request.max_height");
    f.start_req.max_height = 0;
    accepted(&f);

    uint8_t *big = calloc(1, TM_NITRO_MAX_SEALED + 1);
    assert_non_null(big);
    f.start_req.sealed_consensus_key = bin(NULL, 0);
    refused(&f, TM_ERR_INVALID, "start_request.sealed_consensus_key");
    f.start_req.sealed_consensus_key = bin(big, TM_NITRO_MAX_SEALED + 1);
    refused(&f, TM_ERR_TOO_LARGE, "start_request.sealed_consensus_key");
    f.start_req.sealed_consensus_key = bin(big, TM_NITRO_MAX_SEALED);
    accepted(&f);
    f.start_req.sealed_consensus_key = bin(big, 1);
    accepted(&f);
    f.start_req.sealed_identity_key = bin(big, TM_NITRO_MAX_SEALED + 1);
    refused(&f, TM_ERR_TOO_LARGE, "start_request.sealed_identity_key");
    f.start_req.sealed_identity_key = bin(big, TM_NITRO_MAX_SEALED);
    accepted(&f);

    /* transports */
    static const int unknown[] = {3, 4, -1, 1000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        f.start_req.transport = (Tmkms__Nitro__Transport)unknown[i];
        refused(&f, TM_ERR_INVALID, "start_request.transport");
    }
    f.start_req.sealed_identity_key = bin(NULL, 0);
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION;
    refused(&f, TM_ERR_INVALID, "start_request.sealed_identity_key");
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE;
    refused(&f, TM_ERR_INVALID, "start_request.sealed_identity_key");
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_PLAIN;
    accepted(&f);
    f.start_req.sealed_identity_key = bin(f.sealed_id, sizeof(f.sealed_id));

    /* peer id: optional except for noise, bounded, printable */
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_NOISE;
    f.start_req.peer_id = S("");
    refused(&f, TM_ERR_INVALID, "start_request.peer_id");
    f.start_req.peer_id = NULL;
    refused(&f, TM_ERR_INVALID, "start_request.peer_id");
    f.start_req.peer_id = S("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
    accepted(&f);
    f.start_req.transport = TMKMS__NITRO__TRANSPORT__TRANSPORT_SECRET_CONNECTION;
    f.start_req.peer_id = NULL;
    accepted(&f);
    f.start_req.peer_id = S("");
    accepted(&f);
    f.start_req.peer_id = S("0123\n");
    refused(&f, TM_ERR_INVALID, "start_request.peer_id");
    char *peer = repeat('p', TM_NITRO_MAX_PEER_ID + 1);
    f.start_req.peer_id = peer;
    refused(&f, TM_ERR_TOO_LARGE, "start_request.peer_id");
    peer[TM_NITRO_MAX_PEER_ID] = '\0';
    accepted(&f);
    f.start_req.peer_id = NULL;

    /* ports */
    f.start_req.state_port = 0;
    refused(&f, TM_ERR_INVALID, "start_request.state_port");
    f.start_req.state_port = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "start_request.state_port");
    f.start_req.state_port = 0xFFFFFFFEu;
    accepted(&f);
    f.start_req.state_port = 1;
    accepted(&f);
    f.start_req.node_port = 0;
    refused(&f, TM_ERR_INVALID, "start_request.node_port");
    f.start_req.node_port = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "start_request.node_port");
    f.start_req.node_port = 5002;
    f.start_req.log_port = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "start_request.log_port");
    f.start_req.log_port = 0;
    accepted(&f);
    f.start_req.kms_proxy_port = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "start_request.kms_proxy_port");
    f.start_req.kms_proxy_port = 0;
    accepted(&f);

    /* region */
    f.start_req.aws_region = S("US-EAST-1");
    refused(&f, TM_ERR_INVALID, "start_request.aws_region");
    f.start_req.aws_region = S("");
    refused(&f, TM_ERR_INVALID, "start_request.aws_region");
    char *region = repeat('b', TM_NITRO_MAX_REGION + 1);
    f.start_req.aws_region = region;
    refused(&f, TM_ERR_TOO_LARGE, "start_request.aws_region");

    free(region);
    free(peer);
    free(big);
    free(chain);
}

static void test_keygen_response_bounds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE);
    uint8_t *big = calloc(1, TM_NITRO_MAX_ATTESTATION + 1);
    assert_non_null(big);

    f.keygen_resp.sealed_consensus_key = bin(NULL, 0);
    refused(&f, TM_ERR_INVALID, "keygen_response.sealed_consensus_key");
    f.keygen_resp.sealed_consensus_key = bin(big, TM_NITRO_MAX_SEALED + 1);
    refused(&f, TM_ERR_TOO_LARGE, "keygen_response.sealed_consensus_key");
    f.keygen_resp.sealed_consensus_key = bin(f.sealed, sizeof(f.sealed));

    static const size_t bad_pub[] = {0, 1, 31, 33, 64};
    for (size_t i = 0; i < sizeof(bad_pub) / sizeof(bad_pub[0]); i++) {
        f.keygen_resp.consensus_pubkey = bin(big, bad_pub[i]);
        refused(&f, bad_pub[i] > 32 ? TM_ERR_TOO_LARGE : TM_ERR_INVALID, "keygen_response.consensus_pubkey");
    }
    f.keygen_resp.consensus_pubkey = bin(f.pubkey, 32);

    f.keygen_resp.attestation_doc = bin(big, TM_NITRO_MAX_ATTESTATION + 1);
    refused(&f, TM_ERR_TOO_LARGE, "keygen_response.attestation_doc");
    f.keygen_resp.attestation_doc = bin(NULL, 0);
    refused(&f, TM_ERR_INVALID, "keygen_response.attestation_doc");
    f.keygen_resp.attestation_doc = bin(big, TM_NITRO_MAX_ATTESTATION);
    accepted(&f);

    f.keygen_resp.sealed_identity_key = bin(big, TM_NITRO_MAX_SEALED + 1);
    refused(&f, TM_ERR_TOO_LARGE, "keygen_response.sealed_identity_key");

    /* identity_pubkey: 32 bytes iff there is a sealed identity key */
    f.keygen_resp.sealed_identity_key = bin(f.sealed_id, sizeof(f.sealed_id));
    for (size_t i = 0; i < sizeof(bad_pub) / sizeof(bad_pub[0]); i++) {
        f.keygen_resp.identity_pubkey = bin(big, bad_pub[i]);
        refused(&f, bad_pub[i] > 32 ? TM_ERR_TOO_LARGE : TM_ERR_INVALID, "keygen_response.identity_pubkey");
    }
    f.keygen_resp.identity_pubkey = bin(f.id_pubkey, 32);
    accepted(&f);
    f.keygen_resp.sealed_identity_key = bin(NULL, 0);
    refused(&f, TM_ERR_TOO_LARGE, "keygen_response.identity_pubkey");
    f.keygen_resp.identity_pubkey = bin(f.id_pubkey, 1);
    refused(&f, TM_ERR_TOO_LARGE, "keygen_response.identity_pubkey");
    f.keygen_resp.identity_pubkey = bin(NULL, 0);
    accepted(&f);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE);
    for (size_t i = 0; i < sizeof(bad_pub) / sizeof(bad_pub[0]); i++) {
        f.start_resp.consensus_pubkey = bin(big, bad_pub[i]);
        refused(&f, bad_pub[i] > 32 ? TM_ERR_TOO_LARGE : TM_ERR_INVALID, "start_response.consensus_pubkey");
    }
    free(big);
}

static void check_sign_state(fx *f, const char *prefix)
{
    char field[96];
    uint8_t big[TM_MAX_SIGN_BYTES + 1];
    memset(big, 0x5a, sizeof(big));
    const struct {
        const char *which;
        tm_status status;
        int64_t height;
        int32_t round;
        uint32_t step;
        size_t sign_len, sig_len;
    } cases[] = {
        {"height", TM_ERR_INVALID, -1, 0, 0, 0, 0},
        {"height", TM_ERR_INVALID, INT64_MIN, 0, 0, 0, 0},
        {"round", TM_ERR_INVALID, 1, -1, 0, 0, 0},
        {"round", TM_ERR_INVALID, 1, INT32_MIN, 0, 0, 0},
        {"step", TM_ERR_INVALID, 1, 0, 4, 0, 0},
        {"step", TM_ERR_INVALID, 1, 0, 0xFFFFFFFFu, 0, 0},
        {"sign_bytes", TM_ERR_TOO_LARGE, 1, 0, 3, TM_MAX_SIGN_BYTES + 1, 64},
        {"signature", TM_ERR_INVALID, 1, 0, 3, 10, 63},
        {"signature", TM_ERR_INVALID, 1, 0, 3, 10, 65},
        {"signature", TM_ERR_INVALID, 1, 0, 3, 10, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f->state.height = cases[i].height;
        f->state.round = cases[i].round;
        f->state.step = cases[i].step;
        f->state.sign_bytes = bin(big, cases[i].sign_len);
        f->state.signature = bin(big, cases[i].sig_len);
        snprintf(field, sizeof(field), "%s.%s", prefix, cases[i].which);
        refused(f, cases[i].status, field);
    }
    f->state.height = INT64_MAX;
    f->state.round = INT32_MAX;
    f->state.step = 3;
    f->state.sign_bytes = bin(big, TM_MAX_SIGN_BYTES);
    f->state.signature = bin(big, 64);
    accepted(f);
    f->state.signature = bin(NULL, 0);
    accepted(f);
}

static void test_state_bounds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE);
    check_sign_state(&f, "state_load_response.state");
    f.load_resp.state = NULL;
    refused(&f, TM_ERR_INVALID, "state_load_response.state");
    assert_non_null(strstr(tm_err_msg(), "missing"));

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST);
    check_sign_state(&f, "state_persist.state");
    f.persist.state = NULL;
    refused(&f, TM_ERR_INVALID, "state_persist.state");
    assert_non_null(strstr(tm_err_msg(), "missing"));

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_REQUEST);
    f.load_req.chain_id = S("");
    refused(&f, TM_ERR_INVALID, "state_load_request.chain_id");
    f.load_req.chain_id = NULL;
    refused(&f, TM_ERR_INVALID, "state_load_request.chain_id");
    char *chain = repeat('x', TM_MAX_CHAIN_ID_LEN + 1);
    f.load_req.chain_id = chain;
    refused(&f, TM_ERR_TOO_LARGE, "state_load_request.chain_id");
    free(chain);
}

static void test_log_and_error_bounds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_LOG_LINE);
    f.log.level = 4;
    refused(&f, TM_ERR_INVALID, "log_line.level");
    f.log.level = 0xFFFFFFFFu;
    refused(&f, TM_ERR_INVALID, "log_line.level");
    f.log.level = TM_LOG_DEBUG;
    f.log.text = S("two\nlines");
    refused(&f, TM_ERR_INVALID, "log_line.text");
    char *line = repeat('l', TM_NITRO_MAX_LOG_LINE + 1);
    f.log.text = line;
    refused(&f, TM_ERR_TOO_LARGE, "log_line.text");
    free(line);

    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_ERROR);
    char *text = repeat('e', TM_NITRO_MAX_ERROR + 1);
    f.err.message = text;
    refused(&f, TM_ERR_TOO_LARGE, "error.message");
    free(text);
    f.err.message = S("bad\x7f");
    refused(&f, TM_ERR_INVALID, "error.message");
}

/* ---- recv_expect and send_error ---- */

static tm_status send_then_expect(fx *f, tm_nitro_body want, tm_nitro_msg **out)
{
    pair p;
    pair_open(&p);
    assert_int_equal(tm_nitro_send(p.a, &f->m), TM_OK);
    tm_status st = tm_nitro_recv_expect(p.b, want, out);
    pair_close(&p);
    return st;
}

static void test_recv_expect(void **state)
{
    (void)state;
    fx f;
    tm_nitro_msg *m = NULL;

    /* the wanted body */
    for (size_t i = 0; i < N_BODIES; i++) {
        fx_init(&f, all_bodies[i]);
        m = NULL;
        assert_int_equal(send_then_expect(&f, all_bodies[i], &m), TM_OK);
        assert_non_null(m);
        msg_eq(m, &f.m);
        tm_nitro_msg_free(m);
    }

    /* an Error carrying a known status becomes that status, with the peer's text */
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_ERROR);
    f.err.code = TM_ERR_DOUBLE_SIGN;
    f.err.message = S("height 1000 round 2 precommit: conflicting block");
    m = NULL;
    assert_int_equal(send_then_expect(&f, TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE, &m), TM_ERR_DOUBLE_SIGN);
    assert_null(m);
    assert_string_equal(tm_err_msg(), "height 1000 round 2 precommit: conflicting block");

    static const struct {
        uint32_t code;
        tm_status want;
    } codes[] = {
        {TM_ERR_INVALID, TM_ERR_INVALID}, {TM_ERR_EOF, TM_ERR_REFUSED},     {TM_ERR_CONFIG, TM_ERR_CONFIG},
        {TM_ERR_TIMEOUT, TM_ERR_TIMEOUT}, {TM_OK, TM_ERR_REFUSED},         {TM_ERR_CONFIG + 1, TM_ERR_REFUSED},
        {0xFFFFFFFFu, TM_ERR_REFUSED},    {0x80000001u, TM_ERR_REFUSED},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        f.err.code = codes[i].code;
        f.err.message = S("the enclave said no");
        m = NULL;
        assert_int_equal(send_then_expect(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK, &m), codes[i].want);
        assert_null(m);
        assert_string_equal(tm_err_msg(), "the enclave said no");
    }
    /* an Error without text is still an error */
    f.err.code = TM_ERR_CRYPTO;
    f.err.message = NULL;
    assert_int_equal(send_then_expect(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK, &m), TM_ERR_CRYPTO);
    assert_null(m);

    /* another body: TM_ERR_INVALID naming both */
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK);
    m = NULL;
    assert_int_equal(send_then_expect(&f, TMKMS__NITRO__MESSAGE__BODY_START_RESPONSE, &m), TM_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(tm_err_msg(), "start_response"));
    assert_non_null(strstr(tm_err_msg(), "state_ack"));
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_KEYGEN_RESPONSE);
    assert_int_equal(send_then_expect(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_LOAD_RESPONSE, &m), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "state_load_response"));
    assert_non_null(strstr(tm_err_msg(), "keygen_response"));

    /* a frame error comes through unchanged */
    pair p;
    pair_open(&p);
    write_header(p.a, 0);
    m = NULL;
    assert_int_equal(tm_nitro_recv_expect(p.b, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK, &m), TM_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(tm_err_msg(), "frame"));
    pair_close(&p);
}

static void test_body_names(void **state)
{
    (void)state;
    static const char *names[] = {"keygen_request",      "keygen_response", "start_request", "start_response",
                                  "state_load_request",  "state_load_response", "state_persist", "state_ack",
                                  "log_line",            "error"};
    for (size_t i = 0; i < N_BODIES; i++) assert_string_equal(tm_nitro_body_name(all_bodies[i]), names[i]);
    assert_string_equal(tm_nitro_body_name(TMKMS__NITRO__MESSAGE__BODY__NOT_SET), "no body");
    assert_string_equal(tm_nitro_body_name((tm_nitro_body)99), "no body");
}

static void test_send_error(void **state)
{
    (void)state;
    char text[700];
    for (size_t i = 0; i < sizeof(text) - 1; i++) text[i] = (char)('A' + i % 26);
    text[sizeof(text) - 1] = '\0';
    text[0] = '\x01';
    text[10] = '\n';
    text[20] = '\x7f';
    text[30] = (char)0xc3;
    text[31] = (char)0xa9;
    text[511] = '\t';
    text[512] = '\x02'; /* beyond the cut */

    pair p;
    pair_open(&p);
    tm_nitro_send_error(p.a, TM_ERR_PERMISSION, text);
    tm_nitro_msg *m = NULL;
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK); /* and it passes validation */
    assert_int_equal(m->body_case, TMKMS__NITRO__MESSAGE__BODY_ERROR);
    assert_int_equal(m->version, TM_NITRO_PROTO_VERSION);
    assert_int_equal(m->error->code, TM_ERR_PERMISSION);
    const char *got = m->error->message;
    assert_int_equal(strlen(got), TM_NITRO_MAX_ERROR);
    for (size_t i = 0; i < TM_NITRO_MAX_ERROR; i++) {
        bool bad = i == 0 || i == 10 || i == 20 || i == 30 || i == 31 || i == 511;
        if (got[i] != (bad ? '?' : text[i])) fail_msg("byte %zu: '%c'", i, got[i]);
    }
    tm_nitro_msg_free(m);

    /* short text, unchanged; NULL text, empty; as seen through recv_expect */
    tm_nitro_send_error(p.a, TM_ERR_NOT_FOUND, "no state for chain cosmoshub-4");
    tm_nitro_send_error(p.a, TM_ERR_IO, NULL);
    tm_nitro_send_error(p.a, TM_ERR_REFUSED, "");
    m = NULL;
    assert_int_equal(tm_nitro_recv_expect(p.b, TMKMS__NITRO__MESSAGE__BODY_STATE_ACK, &m), TM_ERR_NOT_FOUND);
    assert_string_equal(tm_err_msg(), "no state for chain cosmoshub-4");
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_int_equal(m->error->code, TM_ERR_IO);
    assert_string_equal(m->error->message ? m->error->message : "", "");
    tm_nitro_msg_free(m);
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_int_equal(m->error->code, TM_ERR_REFUSED);
    tm_nitro_msg_free(m);

    /* exactly 512 printable bytes pass unchanged */
    char exact[TM_NITRO_MAX_ERROR + 1];
    memset(exact, 'z', TM_NITRO_MAX_ERROR);
    exact[TM_NITRO_MAX_ERROR] = '\0';
    tm_nitro_send_error(p.a, TM_ERR_INVALID, exact);
    assert_int_equal(tm_nitro_recv(p.b, &m), TM_OK);
    assert_string_equal(m->error->message, exact);
    tm_nitro_msg_free(m);
    pair_close(&p);
}

/* ---- SignState <-> tm_sign_state ---- */

static void sign_state_eq(const tm_sign_state *a, const tm_sign_state *b)
{
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->round, b->round);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->sign_bytes_len, b->sign_bytes_len);
    assert_memory_equal(a->sign_bytes, b->sign_bytes, a->sign_bytes_len);
    assert_int_equal(a->has_signature, b->has_signature);
    if (a->has_signature) assert_memory_equal(a->signature, b->signature, TM_ED25519_SIG_LEN);
}

static void test_state_conversion(void **state)
{
    (void)state;
    tm_sign_state s, back;
    memset(&s, 0, sizeof(s));
    s.height = 123456789012LL;
    s.round = 7;
    s.step = TM_STEP_PREVOTE;
    s.sign_bytes_len = 200;
    fill(s.sign_bytes, s.sign_bytes_len, 13);
    s.has_signature = true;
    fill(s.signature, TM_ED25519_SIG_LEN, 14);

    Tmkms__Nitro__SignState m;
    tm_nitro_state_to_msg(&s, &m);
    assert_int_equal(m.height, s.height);
    assert_int_equal(m.round, s.round);
    assert_int_equal(m.step, TM_STEP_PREVOTE);
    assert_int_equal(m.sign_bytes.len, 200);
    assert_memory_equal(m.sign_bytes.data, s.sign_bytes, 200);
    assert_int_equal(m.signature.len, TM_ED25519_SIG_LEN);
    assert_memory_equal(m.signature.data, s.signature, TM_ED25519_SIG_LEN);
    memset(&back, 0xEE, sizeof(back));
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_OK);
    sign_state_eq(&back, &s);

    /* through the wire, in a StatePersist */
    fx f;
    fx_init(&f, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST);
    tm_nitro_state_to_msg(&s, &f.state);
    pair p;
    pair_open(&p);
    assert_int_equal(tm_nitro_send(p.a, &f.m), TM_OK);
    tm_nitro_msg *got = NULL;
    assert_int_equal(tm_nitro_recv_expect(p.b, TMKMS__NITRO__MESSAGE__BODY_STATE_PERSIST, &got), TM_OK);
    memset(&back, 0xEE, sizeof(back));
    assert_int_equal(tm_nitro_state_from_msg(got->state_persist->state, &back), TM_OK);
    sign_state_eq(&back, &s);
    tm_nitro_msg_free(got);
    pair_close(&p);

    /* a fresh state: no sign bytes, no signature, every step */
    for (int step = TM_STEP_NONE; step <= TM_STEP_PRECOMMIT; step++) {
        memset(&s, 0, sizeof(s));
        s.height = step * 10;
        s.step = (tm_step)step;
        tm_nitro_state_to_msg(&s, &m);
        assert_int_equal(m.sign_bytes.len, 0);
        assert_int_equal(m.signature.len, 0);
        memset(&back, 0xEE, sizeof(back));
        assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_OK);
        sign_state_eq(&back, &s);
        assert_false(back.has_signature);
    }

    /* the largest */
    memset(&s, 0, sizeof(s));
    s.height = INT64_MAX;
    s.round = INT32_MAX;
    s.step = TM_STEP_PRECOMMIT;
    s.sign_bytes_len = TM_MAX_SIGN_BYTES;
    fill(s.sign_bytes, TM_MAX_SIGN_BYTES, 15);
    s.has_signature = true;
    fill(s.signature, TM_ED25519_SIG_LEN, 16);
    tm_nitro_state_to_msg(&s, &m);
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_OK);
    sign_state_eq(&back, &s);

    /* refusals name the field */
    uint8_t big[TM_MAX_SIGN_BYTES + 1] = {0};
    tm_nitro_state_to_msg(&s, &m);
    m.height = -5;
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "height"));
    tm_nitro_state_to_msg(&s, &m);
    m.round = -1;
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "round"));
    tm_nitro_state_to_msg(&s, &m);
    m.step = 4;
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "step"));
    tm_nitro_state_to_msg(&s, &m);
    m.sign_bytes = bin(big, sizeof(big));
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_ERR_TOO_LARGE);
    assert_non_null(strstr(tm_err_msg(), "sign_bytes"));
    tm_nitro_state_to_msg(&s, &m);
    m.signature.len = 63;
    assert_int_equal(tm_nitro_state_from_msg(&m, &back), TM_ERR_INVALID);
    assert_non_null(strstr(tm_err_msg(), "signature"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_body), cmocka_unit_test(test_round_trip_edges),
        cmocka_unit_test(test_frame_layout),          cmocka_unit_test(test_frame_errors),
        cmocka_unit_test(test_version_and_body),      cmocka_unit_test(test_keygen_request_bounds),
        cmocka_unit_test(test_credentials),           cmocka_unit_test(test_start_request_bounds),
        cmocka_unit_test(test_keygen_response_bounds), cmocka_unit_test(test_state_bounds),
        cmocka_unit_test(test_log_and_error_bounds),  cmocka_unit_test(test_recv_expect),
        cmocka_unit_test(test_body_names),            cmocka_unit_test(test_send_error),
        cmocka_unit_test(test_state_conversion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
