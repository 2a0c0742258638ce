#include "tmkms/types.h"

const char *tm_step_name(tm_step step)
{
    switch (step) {
    case TM_STEP_NONE: return "none";
    case TM_STEP_PROPOSE: return "proposal";
    case TM_STEP_PREVOTE: return "prevote";
    case TM_STEP_PRECOMMIT: return "precommit";
    }
    return "invalid";
}
