/* AWS nitro-cli, driven as a program: run-enclave, describe-enclaves, terminate-enclave.
 * nitro-cli prints JSON on stdout (field names as in its json_output: EnclaveName,
 * EnclaveID, ProcessID, EnclaveCID, NumberOfCPUs, CPUIDs, MemoryMiB, State, Flags, and
 * Measurements{HashAlgorithm, PCR0, PCR1, PCR2} for enclaves started from an EIF); its
 * errors go to stderr with a non-zero exit status. */
#ifndef TMKMS_NITRO_HELPER_NITRO_CLI_H
#define TMKMS_NITRO_HELPER_NITRO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enclave_config.h"
#include "tmkms/error.h"

#define NITRO_ID_MAX 128
#define NITRO_STATE_MAX 32
#define NITRO_PCR_HEX 96
#define NITRO_MAX_ENCLAVES 16
#define NITRO_OUTPUT_MAX (256u * 1024u)

typedef struct {
    int64_t process_id;
    uint32_t cid;
    uint32_t cpu_count;
    uint64_t memory_mib;
    char name[ENCLAVE_NAME_MAX + 1]; /* "" when absent (older nitro-cli) */
    char id[NITRO_ID_MAX + 1];
    char state[NITRO_STATE_MAX + 1]; /* "RUNNING", "TERMINATING"; "" in run-enclave output */
    char flags[NITRO_STATE_MAX + 1]; /* "NONE", "DEBUG_MODE"; "" in run-enclave output */
    char pcr0[NITRO_PCR_HEX + 1];    /* "" when absent */
} nitro_enclave_info;

/* describe-enclaves: a JSON array of enclaves (at most NITRO_MAX_ENCLAVES). Each needs
 * EnclaveID (a non-empty string: an empty one would read as "no ID" when our enclave is
 * looked up by it) and EnclaveCID (integer); the others are taken when present and of the
 * right type. TM_ERR_INVALID naming the element and field otherwise. */
tm_status nitro_parse_describe(const char *json, size_t len, nitro_enclave_info *out, size_t cap, size_t *count);

/* run-enclave: one JSON object (EnclaveID, EnclaveCID, ...). */
tm_status nitro_parse_run(const char *json, size_t len, nitro_enclave_info *out);

/* The name nitro-cli gives an enclave run without --enclave-name: the EIF's file name
 * without its extension. */
void nitro_default_name(const char *eif_path, char *out, size_t cap);

/* Index of "our" enclave in a describe-enclaves list, or -1: the one with `id` when id is
 * non-empty; else the configured CID when set; else the one whose name is the configured
 * name (or the EIF's default name). */
int nitro_find_enclave(const nitro_enclave_info *list, size_t n, const helper_enclave_opts *opts, const char *id);

/* Runs `nitro-cli ARGS...` (argv[0] must be "nitro-cli"; found on PATH), captures stdout
 * (at most NITRO_OUTPUT_MAX bytes; *out is NUL-terminated, free() it) and stderr. A
 * missing nitro-cli, a failure to start it or a non-zero exit is TM_ERR_IO with a message
 * naming the subcommand and nitro-cli's own error text. */
tm_status nitro_cli_exec(char *const argv[], char **out, size_t *len);

/* The argument vector of `nitro-cli run-enclave` for these options: --cpu-count,
 * --memory, --eif-path, [--enclave-cid], [--enclave-name], [--debug-mode]. `bufs` holds
 * the number strings; argv has room for NITRO_RUN_ARGV_MAX entries, NULL-terminated. */
#define NITRO_RUN_ARGV_MAX 16
typedef struct {
    char cpus[16], memory[24], cid[16];
} nitro_run_bufs;
void nitro_run_argv(const helper_enclave_opts *opts, nitro_run_bufs *bufs, char *argv[NITRO_RUN_ARGV_MAX]);

/* High-level operations. */
tm_status nitro_run_enclave(const helper_enclave_opts *opts, nitro_enclave_info *info);
tm_status nitro_describe(nitro_enclave_info *list, size_t cap, size_t *count);
/* Finds our enclave (see nitro_find_enclave); TM_ERR_NOT_FOUND when it is not running
 * (only then: nitro-cli missing or failing is TM_ERR_IO). */
tm_status nitro_find(const helper_enclave_opts *opts, const char *id, nitro_enclave_info *info);
tm_status nitro_terminate(const char *enclave_id);

#endif
