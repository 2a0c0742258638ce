/* libFuzzer target: privval frames from the node, through the same path as a session:
 * the frame reader over a byte stream (split at an input-chosen point), decoding, request
 * validation, canonical sign bytes and the timestamp-only comparison. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/privval.h"
#include "../tests/lib/mem_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const tm_pv_msg *m)
{
    uint8_t sb[TM_MAX_SIGN_BYTES], sb2[TM_MAX_SIGN_BYTES];
    size_t len = 0, len2 = 0;
    tm_timestamp ts;
    if (m->sum_case == TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_VOTE_REQUEST && m->sign_vote_request->vote) {
        const tm_pv_vote *v = m->sign_vote_request->vote;
        if (tm_validate_vote(v) != TM_OK) return;
        if (tm_vote_sign_bytes("fuzz-chain", v, sb, sizeof(sb), &len) != TM_OK) return;
        tm_sign_bytes_info info;
        if (tm_sign_bytes_inspect(sb, len, &info) != TM_OK) abort(); /* our own output must parse */
        if (!tm_sign_bytes_differ_only_by_timestamp(sb, len, sb, len, false, &ts)) abort();
        uint8_t *ext = NULL;
        size_t ext_len = 0;
        if (tm_vote_extension_sign_bytes("fuzz-chain", v, &ext, &ext_len) == TM_OK) free(ext);
    } else if (m->sum_case == TENDERMINT__PRIVVAL__MESSAGE__SUM_SIGN_PROPOSAL_REQUEST &&
               m->sign_proposal_request->proposal) {
        const tm_pv_proposal *p = m->sign_proposal_request->proposal;
        if (tm_validate_proposal(p) != TM_OK) return;
        if (tm_proposal_sign_bytes("fuzz-chain", p, sb, sizeof(sb), &len) != TM_OK) return;
        if (tm_proposal_sign_bytes("fuzz-chain", p, sb2, sizeof(sb2), &len2) != TM_OK) abort();
        if (!tm_sign_bytes_differ_only_by_timestamp(sb, len, sb2, len2, true, &ts)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    mem_conn c = mem_conn_over(data + 1, size - 1, (size_t)data[0] + 1);
    tm_frame_reader fr;
    tm_frame_reader_init(&fr, 1 << 16);
    for (int i = 0; i < 16; i++) {
        tm_pv_msg *m = NULL;
        if (tm_privval_read(&c.base, &fr, &m) != TM_OK) break;
        exercise(m);
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        if (tm_privval_encode(m, &enc, &enc_len) == TM_OK) free(enc);
        tm_pv_msg_free(m);
    }
    tm_frame_reader_free(&fr);
    return 0;
}
