#include "tmkms/guard.h"

#include <string.h>

#include "tmkms/privval.h"

int tm_hrs_compare(int64_t h1, int32_t r1, tm_step s1, int64_t h2, int32_t r2, tm_step s2)
{
    if (h1 != h2) return h1 < h2 ? -1 : 1;
    if (r1 != r2) return r1 < r2 ? -1 : 1;
    if (s1 != s2) return s1 < s2 ? -1 : 1;
    return 0;
}

static tm_status refuse_regression(const tm_sign_state *last, const tm_guard_request *req)
{
    const char *what = req->height < last->height  ? "height"
                       : req->round < last->round ? "round"
                                                   : "step";
    return tm_err_set(TM_ERR_DOUBLE_SIGN, "%s regression: request %lld/%d/%s, last signed %lld/%d/%s", what,
                      (long long)req->height, req->round, tm_step_name(req->step), (long long)last->height,
                      last->round, tm_step_name(last->step));
}

tm_status tm_guard_check(const tm_sign_state *last, const tm_guard_request *req, tm_guard_verdict *verdict,
                         tm_timestamp *earlier_ts)
{
    int order = tm_hrs_compare(req->height, req->round, req->step, last->height, last->round, last->step);
    if (order > 0) {
        *verdict = TM_GUARD_SIGN;
        return TM_OK;
    }
    if (order < 0) return refuse_regression(last, req);

    /* Same height/round/step as the last signature. Without its sign bytes (a fresh or
     * imported state) nothing proves the request is the one already signed. */
    TM_ENSURE(last->sign_bytes_len > 0 && last->has_signature, TM_ERR_DOUBLE_SIGN,
              "already signed at %lld/%d/%s and no sign bytes are recorded for it (imported state): refusing",
              (long long)req->height, req->round, tm_step_name(req->step));
    if (req->sign_bytes_len == last->sign_bytes_len &&
        memcmp(req->sign_bytes, last->sign_bytes, req->sign_bytes_len) == 0) {
        *verdict = TM_GUARD_REUSE;
        return TM_OK;
    }
    if (tm_sign_bytes_differ_only_by_timestamp(last->sign_bytes, last->sign_bytes_len, req->sign_bytes,
                                               req->sign_bytes_len, req->step == TM_STEP_PROPOSE, earlier_ts)) {
        *verdict = TM_GUARD_REUSE_EARLIER_TIMESTAMP;
        return TM_OK;
    }
    return tm_err_set(TM_ERR_DOUBLE_SIGN, "conflicting data at %lld/%d/%s: a different %s was already signed",
                      (long long)req->height, req->round, tm_step_name(req->step),
                      req->step == TM_STEP_PROPOSE ? "proposal" : "vote");
}
