/* tmkms-nitro-enclave: the program inside the Nitro Enclave. It listens on the config
 * port for the helper's requests (keygen, start), holds the consensus key in locked memory
 * and serves the node through the helper's byte relay, with the chain's state made durable
 * by the helper (state_remote.h). Everything from the helper is validated (msg.h).
 *
 * Two builds from the same sources: `tmkms-nitro-enclave` (AF_VSOCK, /dev/nsm, AWS KMS at
 * kms.REGION.amazonaws.com) and `tmkms-nitro-enclave-sim` (TMKMS_NITRO_SIMULATION:
 * --simulate DIR, the NSM simulator, a KMS endpoint of the test's choosing). */
#ifndef TMKMS_NITRO_ENCLAVE_H
#define TMKMS_NITRO_ENCLAVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tmkms/aws/kms.h"
#include "tmkms/aws/nsm.h"
#include "tmkms/chain.h"
#include "tmkms/conn.h"
#include "tmkms/nitro/msg.h"
#include "tmkms/nitro/vsock.h"

/* How long one exchange with the helper may take (state persist, config request). */
#define ENCLAVE_IO_TIMEOUT_MS 10000

typedef struct {
    tm_vsock_net net;
    tm_nsm *nsm;
    uint32_t config_port;
    const char *kms_endpoint; /* NULL: https://kms.REGION.amazonaws.com */
    const char *kms_ca;       /* CA bundle for KMS TLS */

    /* What `start` set up; a second start with the same chain, keys and node settings is
     * answered as done. */
    pthread_mutex_t lock;
    bool serving;
    char chain_id[TM_MAX_CHAIN_ID_LEN + 1];
    uint8_t config_hash[32];
    uint8_t pubkey[TM_ED25519_PUBKEY_LEN];
    tm_chain *chain; /* once serving */
} enclave;

/* A KMS client configuration for a request's region and credentials, reaching KMS
 * through the parent's vsock proxy (CID 3, `proxy_port`, 0: 8000). `target` and `creds`
 * are the caller's storage; free creds with tm_aws_credentials_free. */
tm_status enclave_kms_config(enclave *e, const char *region, const Tmkms__Nitro__AwsCredentials *c,
                             uint32_t proxy_port, tm_vsock_target *target, tm_aws_credentials **creds,
                             tm_kms_config *out);

/* 32 bytes from both the NSM and the kernel, hashed together into `seed` (locked memory). */
tm_status enclave_random_seed(enclave *e, uint8_t seed[32]);

/* Handle one request on the config connection; the answer (or an Error) is written to
 * `conn`. */
tm_status enclave_keygen(enclave *e, const Tmkms__Nitro__KeygenRequest *req, tm_conn *conn);
tm_status enclave_start(enclave *e, const Tmkms__Nitro__StartRequest *req, tm_conn *conn);

/* Forward every log line to the helper's log port (best effort, bounded buffer). */
tm_status enclave_log_forward_start(const tm_vsock_net *net, uint32_t port);

/* On SIGTERM: wait for a state persist in flight (the chain's lock), wipe the key. The
 * chain stays locked: the process exits next. */
void enclave_stop(enclave *e);

#endif
