/* Where `pcr4` gets the instance id when none is given. The IMDSv2 client (token PUT,
 * then /latest/meta-data/instance-id) plugs in here; until then there is no source. */
#include "helper.h"

tm_status helper_instance_id(char *out, size_t cap)
{
    (void)out;
    (void)cap;
    return tm_err_set(TM_ERR_NOT_FOUND, "no --instance-id and IMDS not available");
}
