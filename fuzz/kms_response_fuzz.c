/* Fuzz target: the KMS client's answer parsers (a 200 answer's base64 field, AWS error
 * bodies) and the IMDS credential/role parsers, on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tmkms/aws/credentials.h"
#include "tmkms/aws/kms.h"

static tm_aws_credentials *creds;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_kms_bytes out;
    tm_kms_error err = {0};
    static const char *const fields[] = {"Plaintext", "CiphertextBlob", "CiphertextForRecipient"};
    if (!creds && tm_aws_credentials_new(&creds) != TM_OK) return 0;
    for (size_t i = 0; i < 3; i++)
        if (tm_kms_parse_b64_field(data, size, fields[i], 4096, i == 0, &out) == TM_OK) tm_kms_bytes_free(&out);
    tm_kms_parse_error(400, data, size, size > 3 ? (const char *)"ThrottlingException" : NULL, &err);
    tm_imds_parse_credentials((const char *)data, size, creds);
    char role[65];
    tm_imds_parse_role((const char *)data, size, role, sizeof(role));
    return 0;
}
