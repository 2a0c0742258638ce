/* libFuzzer target: the helper's side of the enclave's state store
 * (src/nitro-helper/state_server.c) as a state machine. The input is a sequence of frames,
 * each a 2-byte big-endian length and that many bytes of packed Message (the last one may
 * be cut short); they go, with the protocol's 4-byte length header, down one end of a
 * socket pair, and state_server_serve handles the other end as it would an enclave's
 * connection: a StateLoadRequest, then StatePersists, until the stream ends or fails.
 *
 * The state file is real: one file in a temporary folder (under /dev/shm when there is
 * one, where fdatasync costs nothing), created once per process at 100/0/prevote, opened
 * by a fresh state server for every input. After every input the file, read back with
 * tm_state_file_read, must equal what the server believes it holds and must not be below
 * what it held after the previous input: the file never moves backwards across the run.
 * Inputs share only that file, whose state only rises (so replay a crash with the corpus
 * that led to it when it depends on an earlier input). Seeds: a load and a few persists
 * (fuzz/seeds/state_server.py writes fuzz/corpus/state_server/). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "state_server.h"
#include "tmkms/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHAIN "fuzz-chain"
#define MAX_FRAMES 64
#define MAX_BYTES (32u * 1024u) /* well inside a socket pair's buffer: writing never blocks */

static char dir[64], path[96];
static tm_sign_state high; /* the file's state after the previous input */
static FILE *quiet;        /* /dev/null: where the log's lines go during an input */

static void remove_files(void)
{
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "%s/tmkms-fuzz-state-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof(path), "%s/state", dir);
    tm_sign_state init;
    memset(&init, 0, sizeof(init));
    init.height = 100;
    init.step = TM_STEP_PREVOTE;
    if (tm_state_file_create(path, CHAIN, &init) != TM_OK) abort();
    high = init;
    if (atexit(remove_files) != 0) abort();
    /* Every refusal is an ERROR line on stderr (tm_log writes to the stream `stderr`):
     * thousands a second. During an input that stream is /dev/null; libFuzzer and the
     * sanitizers write to file descriptor 2 or their own copy of the stream, so their
     * reports still show. */
    quiet = fopen("/dev/null", "w");
    if (!quiet) abort();
}

static bool same_state(const tm_sign_state *a, const tm_sign_state *b)
{
    return a->height == b->height && a->round == b->round && a->step == b->step &&
           a->sign_bytes_len == b->sign_bytes_len && memcmp(a->sign_bytes, b->sign_bytes, a->sign_bytes_len) == 0 &&
           a->has_signature == b->has_signature &&
           (!a->has_signature || memcmp(a->signature, b->signature, sizeof(a->signature)) == 0);
}

/* The input as frames: 2-byte length, body; the 4-byte header as tm_nitro_send writes it. */
static size_t frames(const uint8_t *data, size_t size, uint8_t *out)
{
    size_t pos = 0, n = 0;
    for (int i = 0; i < MAX_FRAMES && pos + 2 <= size; i++) {
        size_t len = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        size_t take = len < size - pos ? len : size - pos;
        if (n + 4 + take > MAX_BYTES) break;
        out[n++] = 0;
        out[n++] = 0;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
        memcpy(out + n, data + pos, take);
        n += take;
        pos += take;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t stream[MAX_BYTES];
    if (!path[0]) setup();
    size_t n = frames(data, size, stream);

    FILE *saved = stderr;
    stderr = quiet;
    state_server s;
    if (state_server_open(&s, path, CHAIN) != TM_OK) abort();
    if (!same_state(&s.last, &high)) abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    for (size_t off = 0; off < n;) {
        ssize_t w = write(sv[0], stream + off, n - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR); /* the enclave has said everything: EOF after the frames */
    tm_conn *conn = NULL;
    if (tm_conn_from_fd(sv[1], "fuzz", 0, &conn) != TM_OK) abort();
    (void)state_server_serve(&s, conn);
    tm_conn_close(conn);
    close(sv[0]);
    stderr = saved;

    tm_sign_state disk;
    if (tm_state_file_read(path, CHAIN, &disk) != TM_OK) abort();
    if (!same_state(&disk, &s.last)) abort(); /* acknowledged means on disk, and only that */
    if (tm_hrs_compare(disk.height, disk.round, disk.step, high.height, high.round, high.step) < 0) abort();
    high = disk;
    state_server_close(&s);
    return 0;
}
