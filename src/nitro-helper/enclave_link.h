/* What `init` and `start` share: reaching the enclave's config port (vsock, or the
 * simulation's Unix sockets), the AWS credentials the enclave gets for KMS, and the
 * sealed key files. */
#ifndef TMKMS_NITRO_HELPER_ENCLAVE_LINK_H
#define TMKMS_NITRO_HELPER_ENCLAVE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tmkms/aws/credentials.h"
#include "tmkms/nitro/config.h"
#include "tmkms/nitro/msg.h"
#include "tmkms/nitro/vsock.h"

/* Real vsock, or (sim_dir set) the simulation's sockets with the parent's CID 3. */
tm_status helper_net(const char *sim_dir, tm_vsock_net *net);

/* Send `req` to CID:port and read the answer, which must be `want` (an Error from the
 * enclave becomes its status and text). Dials again while nobody listens yet, or when
 * the connection is lost before an answer (an enclave restarting), for up to wait_ms (an
 * enclave takes a while to boot); the exchange itself may take io_ms. */
tm_status helper_enclave_call(const tm_vsock_net *net, uint32_t cid, uint32_t port, tm_nitro_msg *req,
                              tm_nitro_body want, int wait_ms, int io_ms, tm_nitro_msg **out);

/* Credentials for the enclave's KMS calls: the config's [credentials] when present
 * (`cfg` may be NULL), else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN],
 * else the instance role through IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the
 * endpoint). `source` names where they came from. */
tm_status helper_credentials(const tm_nitro_config *cfg, tm_aws_credentials *creds, const char **source);
/* The message form (pointers into creds). */
void helper_credentials_msg(const tm_aws_credentials *creds, Tmkms__Nitro__AwsCredentials *out);

/* A sealed key file: the KMS CiphertextBlob as raw bytes (1..6144); malloc'd. */
tm_status helper_read_sealed(const char *path, uint8_t **data, size_t *len);
/* Written with O_EXCL, mode 0600, fsync'd with its directory; never overwrites. */
tm_status helper_write_sealed(const char *path, const uint8_t *data, size_t len);

#endif
