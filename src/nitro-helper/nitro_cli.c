/* nitro-cli as a subprocess and its JSON output (jansson). See nitro_cli.h. */
#include "nitro_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STDERR_KEEP 512

extern char **environ;

/* ---- JSON ---- */

static tm_status json_str(json_t *obj, const char *key, bool required, char *out, size_t cap, size_t idx)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) return TM_OK;
    if (!json_is_string(v)) return tm_err_set(TM_ERR_INVALID, "enclave %zu: %s: %s", idx, key,
                                              v == NULL ? "missing" : "not a string");
    size_t n = json_string_length(v);
    if (required && n == 0) return tm_err_set(TM_ERR_INVALID, "enclave %zu: %s: empty", idx, key);
    if (n >= cap || strlen(json_string_value(v)) != n)
        return tm_err_set(TM_ERR_INVALID, "enclave %zu: %s: longer than %zu bytes or contains NUL", idx, key, cap - 1);
    memcpy(out, json_string_value(v), n + 1);
    return TM_OK;
}

static tm_status json_uint(json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out, size_t idx)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) return TM_OK;
    if (!json_is_integer(v)) return tm_err_set(TM_ERR_INVALID, "enclave %zu: %s: %s", idx, key,
                                               v == NULL ? "missing" : "not an integer");
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) return tm_err_set(TM_ERR_INVALID, "enclave %zu: %s: %lld out of range", idx, key,
                                                      (long long)i);
    *out = (uint64_t)i;
    return TM_OK;
}

static tm_status pcr0_of(json_t *obj, nitro_enclave_info *e, size_t idx)
{
    json_t *m = json_object_get(obj, "Measurements");
    if (m == NULL) return TM_OK;
    if (!json_is_object(m)) return tm_err_set(TM_ERR_INVALID, "enclave %zu: Measurements: not an object", idx);
    TM_TRY(json_str(m, "PCR0", false, e->pcr0, sizeof(e->pcr0), idx));
    return TM_OK;
}

static tm_status parse_enclave(json_t *obj, nitro_enclave_info *e, size_t idx)
{
    uint64_t cid = 0, cpus = 0, mem = 0, pid = 0;
    memset(e, 0, sizeof(*e));
    if (!json_is_object(obj)) return tm_err_set(TM_ERR_INVALID, "enclave %zu: not a JSON object", idx);
    TM_TRY(json_str(obj, "EnclaveID", true, e->id, sizeof(e->id), idx));
    TM_TRY(json_uint(obj, "EnclaveCID", true, UINT32_MAX, &cid, idx));
    TM_TRY(json_str(obj, "EnclaveName", false, e->name, sizeof(e->name), idx));
    TM_TRY(json_uint(obj, "ProcessID", false, INT32_MAX, &pid, idx));
    TM_TRY(json_uint(obj, "NumberOfCPUs", false, UINT32_MAX, &cpus, idx));
    TM_TRY(json_uint(obj, "MemoryMiB", false, UINT64_MAX >> 1, &mem, idx));
    TM_TRY(json_str(obj, "State", false, e->state, sizeof(e->state), idx));
    TM_TRY(json_str(obj, "Flags", false, e->flags, sizeof(e->flags), idx));
    TM_TRY(pcr0_of(obj, e, idx));
    e->cid = (uint32_t)cid;
    e->cpu_count = (uint32_t)cpus;
    e->memory_mib = mem;
    e->process_id = (int64_t)pid;
    return TM_OK;
}

static tm_status load_json(const char *json, size_t len, const char *what, json_t **out)
{
    json_error_t jerr;
    *out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL)
        return tm_err_set(TM_ERR_INVALID, "%s output is not JSON (line %d: %s)", what, jerr.line, jerr.text);
    return TM_OK;
}

tm_status nitro_parse_describe(const char *json, size_t len, nitro_enclave_info *out, size_t cap, size_t *count)
{
    json_t *root = NULL;
    tm_status status = TM_OK;
    *count = 0;
    TM_TRY(load_json(json, len, "describe-enclaves", &root));
    TM_ENSURE_GOTO(json_is_array(root), TM_ERR_INVALID, "describe-enclaves output is not a JSON array");
    TM_ENSURE_GOTO(json_array_size(root) <= cap, TM_ERR_TOO_LARGE, "describe-enclaves lists %zu enclaves, more than %zu",
                   json_array_size(root), cap);
    for (size_t i = 0; i < json_array_size(root); i++)
        TM_TRY_GOTO(parse_enclave(json_array_get(root, i), &out[i], i));
    *count = json_array_size(root);
out:
    json_decref(root);
    return status;
}

tm_status nitro_parse_run(const char *json, size_t len, nitro_enclave_info *out)
{
    json_t *root = NULL;
    TM_TRY(load_json(json, len, "run-enclave", &root));
    tm_status status = parse_enclave(root, out, 0);
    json_decref(root);
    return status == TM_OK ? TM_OK : tm_err_prefix(status, "run-enclave output: ");
}

void nitro_default_name(const char *eif_path, char *out, size_t cap)
{
    const char *base = strrchr(eif_path, '/');
    base = base != NULL ? base + 1 : eif_path;
    const char *dot = strrchr(base, '.');
    size_t n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
    if (cap == 0) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, base, n);
    out[n] = 0;
}

int nitro_find_enclave(const nitro_enclave_info *list, size_t n, const helper_enclave_opts *opts, const char *id)
{
    char name[ENCLAVE_NAME_MAX + 1];
    if (opts->enclave_name[0] != 0)
        snprintf(name, sizeof(name), "%s", opts->enclave_name);
    else
        nitro_default_name(opts->eif_path, name, sizeof(name));
    for (size_t i = 0; i < n; i++) {
        bool match = id != NULL && id[0] != 0 ? strcmp(list[i].id, id) == 0
                     : opts->has_cid          ? list[i].cid == opts->enclave_cid
                                              : strcmp(list[i].name, name) == 0;
        if (match) return (int)i;
    }
    return -1;
}

/* ---- running nitro-cli ---- */

typedef struct {
    char *data;
    size_t len, cap;
    bool truncated;
} capture;

static void capture_read(int fd, capture *c, bool *open_)
{
    char chunk[4096];
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) {
        *open_ = false;
        return;
    }
    size_t room = c->cap - c->len, take = (size_t)r < room ? (size_t)r : room;
    memcpy(c->data + c->len, chunk, take);
    c->len += take;
    if (take < (size_t)r) c->truncated = true;
}

/* Reads both pipes until both are closed. */
static void capture_both(int out_fd, int err_fd, capture *out, capture *err)
{
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        struct pollfd p[2] = {{out_open ? out_fd : -1, POLLIN, 0}, {err_open ? err_fd : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) capture_read(out_fd, out, &out_open);
        if (p[1].revents) capture_read(err_fd, err, &err_open);
    }
}

static tm_status spawn_piped(char *const argv[], int out_pipe[2], int err_pipe[2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
    int rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == ENOENT)
        return tm_err_set(TM_ERR_IO, "nitro-cli is not installed (not found on PATH); install the AWS "
                                            "Nitro Enclaves CLI (aws-nitro-enclaves-cli)");
    if (rc != 0) return tm_err_set(TM_ERR_IO, "cannot start nitro-cli: %s", strerror(rc));
    return TM_OK;
}

/* First line(s) of nitro-cli's stderr, trimmed, for the error message. */
static void stderr_summary(capture *err, char *out, size_t cap)
{
    size_t n = err->len;
    while (n > 0 && (err->data[n - 1] == '\n' || err->data[n - 1] == '\r' || err->data[n - 1] == ' ')) n--;
    snprintf(out, cap, "%.*s", (int)n, err->data);
    for (char *p = out; *p; p++)
        if (*p == '\n') *p = ' ';
}

static tm_status exit_status(const char *sub, int wstatus, capture *err)
{
    char text[STDERR_KEEP + 1];
    stderr_summary(err, text, sizeof(text));
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return TM_OK;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127 && err->len == 0)
        return tm_err_set(TM_ERR_IO, "nitro-cli %s: could not be run (exit 127)", sub);
    if (WIFSIGNALED(wstatus))
        return tm_err_set(TM_ERR_IO, "nitro-cli %s: killed by signal %d%s%s", sub, WTERMSIG(wstatus),
                          text[0] ? ": " : "", text);
    return tm_err_set(TM_ERR_IO, "nitro-cli %s failed (exit %d)%s%s", sub, WEXITSTATUS(wstatus), text[0] ? ": " : "",
                      text[0] ? text : "(nothing on stderr)");
}

tm_status nitro_cli_exec(char *const argv[], char **out, size_t *len)
{
    tm_status status = TM_OK;
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    char err_buf[STDERR_KEEP];
    capture cout = {malloc(NITRO_OUTPUT_MAX + 1), 0, NITRO_OUTPUT_MAX, false};
    capture cerr = {err_buf, 0, sizeof(err_buf), false};
    pid_t pid = -1;
    *out = NULL;
    *len = 0;
    TM_ENSURE_GOTO(cout.data != NULL, TM_ERR_NOMEM, "out of memory");
    TM_ENSURE_GOTO(pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0, TM_ERR_IO, "pipe: %s",
                   strerror(errno));
    TM_TRY_GOTO(spawn_piped(argv, out_pipe, err_pipe, &pid));
    close(out_pipe[1]);
    close(err_pipe[1]);
    out_pipe[1] = err_pipe[1] = -1;
    capture_both(out_pipe[0], err_pipe[0], &cout, &cerr);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
    TM_TRY_GOTO(exit_status(argv[1] != NULL ? argv[1] : "", wstatus, &cerr));
    TM_ENSURE_GOTO(!cout.truncated, TM_ERR_TOO_LARGE, "nitro-cli %s: output larger than %u bytes", argv[1],
                   NITRO_OUTPUT_MAX);
    cout.data[cout.len] = 0;
    *out = cout.data;
    *len = cout.len;
    cout.data = NULL;
out:
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0) close(out_pipe[i]);
        if (err_pipe[i] >= 0) close(err_pipe[i]);
    }
    free(cout.data);
    return status;
}

void nitro_run_argv(const helper_enclave_opts *opts, nitro_run_bufs *bufs, char *argv[NITRO_RUN_ARGV_MAX])
{
    size_t n = 0;
    snprintf(bufs->cpus, sizeof(bufs->cpus), "%u", opts->cpu_count);
    snprintf(bufs->memory, sizeof(bufs->memory), "%llu", (unsigned long long)opts->memory_mib);
    snprintf(bufs->cid, sizeof(bufs->cid), "%u", opts->enclave_cid);
    argv[n++] = "nitro-cli";
    argv[n++] = "run-enclave";
    argv[n++] = "--cpu-count";
    argv[n++] = bufs->cpus;
    argv[n++] = "--memory";
    argv[n++] = bufs->memory;
    argv[n++] = "--eif-path";
    argv[n++] = (char *)opts->eif_path;
    if (opts->has_cid) {
        argv[n++] = "--enclave-cid";
        argv[n++] = bufs->cid;
    }
    if (opts->enclave_name[0] != 0) {
        argv[n++] = "--enclave-name";
        argv[n++] = (char *)opts->enclave_name;
    }
    if (opts->debug_mode) argv[n++] = "--debug-mode";
    argv[n] = NULL;
}

tm_status nitro_run_enclave(const helper_enclave_opts *opts, nitro_enclave_info *info)
{
    char *argv[NITRO_RUN_ARGV_MAX];
    nitro_run_bufs bufs;
    char *out = NULL;
    size_t len = 0;
    nitro_run_argv(opts, &bufs, argv);
    TM_TRY(nitro_cli_exec(argv, &out, &len));
    tm_status status = nitro_parse_run(out, len, info);
    free(out);
    return status;
}

tm_status nitro_describe(nitro_enclave_info *list, size_t cap, size_t *count)
{
    char *argv[] = {"nitro-cli", "describe-enclaves", NULL};
    char *out = NULL;
    size_t len = 0;
    TM_TRY(nitro_cli_exec(argv, &out, &len));
    tm_status status = nitro_parse_describe(out, len, list, cap, count);
    free(out);
    return status;
}

tm_status nitro_find(const helper_enclave_opts *opts, const char *id, nitro_enclave_info *info)
{
    nitro_enclave_info list[NITRO_MAX_ENCLAVES];
    size_t n = 0;
    TM_TRY(nitro_describe(list, NITRO_MAX_ENCLAVES, &n));
    int i = nitro_find_enclave(list, n, opts, id);
    if (i < 0) return tm_err_set(TM_ERR_NOT_FOUND, "no enclave of ours is running (%zu enclave%s listed)", n,
                                 n == 1 ? "" : "s");
    *info = list[i];
    return TM_OK;
}

tm_status nitro_terminate(const char *enclave_id)
{
    char *argv[] = {"nitro-cli", "terminate-enclave", "--enclave-id", (char *)enclave_id, NULL};
    char *out = NULL;
    size_t len = 0;
    TM_TRY(nitro_cli_exec(argv, &out, &len));
    json_t *root = NULL;
    tm_status status = load_json(out, len, "terminate-enclave", &root);
    if (status == TM_OK && !json_is_true(json_object_get(root, "Terminated")))
        status = tm_err_set(TM_ERR_IO, "nitro-cli terminate-enclave: enclave %s not reported as terminated",
                            enclave_id);
    json_decref(root);
    free(out);
    return status;
}
