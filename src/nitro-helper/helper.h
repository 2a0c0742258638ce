/* Shared declarations of the tmkms-nitro-helper subcommands: one file per subcommand
 * (cmd_*.c), each exporting one entry point listed in main.c's table. */
#ifndef TMKMS_NITRO_HELPER_H
#define TMKMS_NITRO_HELPER_H

#include <stddef.h>

#include "tmkms/error.h"

int cmd_pcr4(int argc, char **argv);
int cmd_kms_policy(int argc, char **argv);
int cmd_verify_attestation(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_enclave(int argc, char **argv);
int cmd_launch_all(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* The control socket of `start`, beside the state file (state_file_path); `status` reads it. */
#define HELPER_STATUS_SOCKET "tmkms-nitro-helper-status.sock"

/* Exit statuses: 0 ok, 1 runtime failure (or a failed check), 2 usage error. */
#define HELPER_EXIT_OK 0
#define HELPER_EXIT_FAIL 1
#define HELPER_EXIT_USAGE 2
#define HELPER_EXIT_NOT_RUNNING 3 /* status: no helper answers on the socket */

/* True when an argument is -h or --help. */
int helper_wants_help(int argc, char **argv);

/* The EC2 instance id of this host, for `pcr4` without --instance-id. Until the IMDSv2
 * client is wired in (instance_id.c) it fails with TM_ERR_NOT_FOUND and the message
 * "no --instance-id and IMDS not available". */
tm_status helper_instance_id(char *out, size_t cap);

/* Lower-case hex of data into out (cap >= 2 * len + 1). */
void helper_hex(const unsigned char *data, size_t len, char *out, size_t cap);

#endif
