/* Where `pcr4` gets the instance id when none is given: IMDSv2 (token PUT, then
 * /latest/meta-data/instance-id), at AWS_EC2_METADATA_SERVICE_ENDPOINT when that is set
 * (as the AWS SDKs read it), else the instance's link-local endpoint. */
#include <stdlib.h>

#include "helper.h"
#include "tmkms/aws/credentials.h"

tm_status helper_instance_id(char *out, size_t cap)
{
    tm_imds_config cfg = {0};
    cfg.endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    tm_status status = tm_imds_instance_id(&cfg, out, cap);
    if (status != TM_OK) return tm_err_prefix(status, "no --instance-id, and IMDS did not give one: ");
    return TM_OK;
}
