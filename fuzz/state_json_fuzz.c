/* libFuzzer target: state JSON import (CometBFT and tmkms formats). Whatever is accepted
 * must be a sane state and must survive an export/import round trip unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_sign_state st, back;
    tm_state_json_kind kind;
    if (tm_state_from_json((const char *)data, size, &st, &kind) != TM_OK) return 0;
    if (st.height < 0 || st.round < 0 || st.step > TM_STEP_PRECOMMIT || st.sign_bytes_len > TM_MAX_SIGN_BYTES) abort();
    char *json = NULL;
    if (tm_state_to_cometbft_json(&st, &json) != TM_OK) return 0;
    if (tm_state_from_json(json, strlen(json), &back, &kind) != TM_OK || kind != TM_STATE_JSON_COMETBFT) abort();
    if (back.height != st.height || back.round != st.round || back.step != st.step ||
        back.sign_bytes_len != st.sign_bytes_len || memcmp(back.sign_bytes, st.sign_bytes, st.sign_bytes_len) != 0)
        abort();
    free(json);
    return 0;
}
