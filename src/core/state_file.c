/* The file state store: two fixed-size, checksummed slots in one preallocated file.
 *
 * persist() overwrites the slot that does NOT hold the newest record, with one pwrite and
 * one fdatasync. The file never changes size, so fdatasync has no metadata to flush, and a
 * torn write can only damage the slot being written: the other slot still holds the last
 * acknowledged state. Loading takes the valid slot with the highest sequence number. See
 * docs/STATE.md for the byte layout and what a crash at each instant leaves. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmkms/buf.h"
#include "tmkms/guard.h"
#include "tmkms/log.h"
#include "tmkms/state.h"

#define SLOT_SIZE 4096
#define FILE_SIZE (2 * SLOT_SIZE)
#define FORMAT_VERSION 1
#define CHECKSUM_LEN 32
static const uint8_t slot_magic[8] = {'T', 'M', 'K', 'M', 'S', 'S', 'T', '1'};

typedef struct {
    tm_state_store base;
    int fd;
    char *path;
    char chain_id[TM_MAX_CHAIN_ID_LEN + 1];
    int newest_slot; /* slot holding the newest durable record */
    uint64_t newest_seq;
    tm_sign_state newest;
} file_store;

typedef enum { SLOT_VALID, SLOT_BLANK, SLOT_INVALID } slot_kind;

/* Serialize one record into a zeroed SLOT_SIZE buffer. */
static tm_status encode_slot(uint8_t slot[SLOT_SIZE], uint64_t seq, const char *chain_id, const tm_sign_state *st)
{
    size_t id_len = strlen(chain_id);
    TM_ENSURE(id_len <= TM_MAX_CHAIN_ID_LEN, TM_ERR_INVALID, "chain id too long");
    TM_ENSURE(st->sign_bytes_len <= TM_MAX_SIGN_BYTES, TM_ERR_TOO_LARGE, "sign bytes too long");
    memset(slot, 0, SLOT_SIZE);
    tm_writer w = tm_writer_init(slot, SLOT_SIZE - CHECKSUM_LEN);
    TM_TRY(tm_write_bytes(&w, slot_magic, sizeof(slot_magic)));
    TM_TRY(tm_write_u32le(&w, FORMAT_VERSION));
    TM_TRY(tm_write_u64le(&w, seq));
    TM_TRY(tm_write_u64le(&w, (uint64_t)st->height));
    TM_TRY(tm_write_u32le(&w, (uint32_t)st->round));
    TM_TRY(tm_write_u8(&w, (uint8_t)st->step));
    TM_TRY(tm_write_u8(&w, st->has_signature ? 1 : 0));
    TM_TRY(tm_write_u8(&w, (uint8_t)id_len));
    TM_TRY(tm_write_bytes(&w, chain_id, id_len));
    TM_TRY(tm_write_u16be(&w, (uint16_t)st->sign_bytes_len));
    TM_TRY(tm_write_bytes(&w, st->sign_bytes, st->sign_bytes_len));
    TM_TRY(tm_write_bytes(&w, st->signature, TM_ED25519_SIG_LEN));
    /* The checksum covers the record and the zero padding after it: any flipped byte of
     * the slot is detected. */
    crypto_generichash(slot + SLOT_SIZE - CHECKSUM_LEN, CHECKSUM_LEN, slot, SLOT_SIZE - CHECKSUM_LEN, NULL, 0);
    return TM_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* Parse and check one slot. On SLOT_INVALID, `why` says what failed. */
static slot_kind decode_slot(const uint8_t slot[SLOT_SIZE], const char *chain_id, uint64_t *seq, tm_sign_state *st,
                             char *why, size_t why_len)
{
    if (all_zero(slot, SLOT_SIZE)) return SLOT_BLANK;
    uint8_t sum[CHECKSUM_LEN];
    crypto_generichash(sum, sizeof(sum), slot, SLOT_SIZE - CHECKSUM_LEN, NULL, 0);
    if (sodium_memcmp(sum, slot + SLOT_SIZE - CHECKSUM_LEN, CHECKSUM_LEN) != 0) {
        snprintf(why, why_len, "checksum mismatch");
        return SLOT_INVALID;
    }
    tm_reader r = tm_reader_init(slot, SLOT_SIZE - CHECKSUM_LEN);
    uint8_t magic[8], step, flags, id_len;
    uint32_t version, round;
    uint64_t height;
    uint16_t sb_len;
    char id[TM_MAX_CHAIN_ID_LEN + 1];
    memset(st, 0, sizeof(*st));
    if (tm_read_bytes(&r, magic, sizeof(magic)) != TM_OK || memcmp(magic, slot_magic, sizeof(magic)) != 0) {
        snprintf(why, why_len, "not a tmkms state record");
        return SLOT_INVALID;
    }
    if (tm_read_u32le(&r, &version) != TM_OK || version != FORMAT_VERSION) {
        snprintf(why, why_len, "unsupported format version %u", version);
        return SLOT_INVALID;
    }
    bool ok = tm_read_u64le(&r, seq) == TM_OK && tm_read_u64le(&r, &height) == TM_OK &&
              tm_read_u32le(&r, &round) == TM_OK && tm_read_u8(&r, &step) == TM_OK &&
              tm_read_u8(&r, &flags) == TM_OK && tm_read_u8(&r, &id_len) == TM_OK && id_len <= TM_MAX_CHAIN_ID_LEN &&
              tm_read_bytes(&r, id, id_len) == TM_OK && tm_read_u16be(&r, &sb_len) == TM_OK &&
              sb_len <= TM_MAX_SIGN_BYTES && tm_read_bytes(&r, st->sign_bytes, sb_len) == TM_OK &&
              tm_read_bytes(&r, st->signature, TM_ED25519_SIG_LEN) == TM_OK && step <= TM_STEP_PRECOMMIT &&
              (int64_t)height >= 0 && (int32_t)round >= 0 && flags <= 1;
    if (!ok) {
        snprintf(why, why_len, "malformed record");
        return SLOT_INVALID;
    }
    id[id_len] = '\0';
    if (strcmp(id, chain_id) != 0) {
        snprintf(why, why_len, "belongs to chain '%s', not '%s'", id, chain_id);
        return SLOT_INVALID;
    }
    st->height = (int64_t)height;
    st->round = (int32_t)round;
    st->step = (tm_step)step;
    st->has_signature = flags & 1;
    st->sign_bytes_len = sb_len;
    return SLOT_VALID;
}

static tm_status sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    TM_ENSURE(copy != NULL, TM_ERR_NOMEM, "out of memory");
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    TM_ENSURE(dfd >= 0, TM_ERR_IO, "open directory of %s: %s", path, strerror(errno));
    int rc = fsync(dfd);
    int err = errno;
    close(dfd);
    TM_ENSURE(rc == 0, TM_ERR_IO, "fsync directory of %s: %s", path, strerror(err));
    return TM_OK;
}

static tm_status write_full(int fd, const uint8_t *buf, size_t len, off_t off, const char *path)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR) continue;
        TM_ENSURE(n > 0, TM_ERR_IO, "write %s: %s", path, n < 0 ? strerror(errno) : "short write");
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return TM_OK;
}

tm_status tm_state_file_create(const char *path, const char *chain_id, const tm_sign_state *initial)
{
    tm_status status = TM_OK;
    char tmp[PATH_MAX];
    uint8_t *file = calloc(1, FILE_SIZE);
    int fd = -1;
    TM_ENSURE(file != NULL, TM_ERR_NOMEM, "out of memory");
    TM_ENSURE_GOTO(snprintf(tmp, sizeof(tmp), "%s.tmp", path) < (int)sizeof(tmp), TM_ERR_INVALID,
                   "state path too long: %s", path);
    TM_ENSURE_GOTO(access(path, F_OK) != 0, TM_ERR_EXISTS, "state file %s already exists; not overwriting it", path);
    TM_TRY_GOTO(encode_slot(file, 1, chain_id, initial));
    unlink(tmp); /* a leftover of an interrupted create */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    TM_ENSURE_GOTO(fd >= 0, TM_ERR_IO, "create %s: %s", tmp, strerror(errno));
    TM_TRY_GOTO(write_full(fd, file, FILE_SIZE, 0, tmp));
    TM_ENSURE_GOTO(fsync(fd) == 0, TM_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
    close(fd);
    fd = -1;
    /* link() never replaces an existing file: two concurrent creates cannot both win. */
    if (link(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        TM_ENSURE_GOTO(0, err == EEXIST ? TM_ERR_EXISTS : TM_ERR_IO, "create %s: %s", path, strerror(err));
    }
    unlink(tmp);
    TM_TRY_GOTO(sync_dir_of(path));
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(file);
    return status;
}

tm_status tm_state_file_replace(const char *path, const char *chain_id, const tm_sign_state *state)
{
    char tmp[PATH_MAX];
    TM_ENSURE(snprintf(tmp, sizeof(tmp), "%s.replace", path) < (int)sizeof(tmp), TM_ERR_INVALID,
              "state path too long: %s", path);
    unlink(tmp);
    TM_TRY(tm_state_file_create(tmp, chain_id, state));
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return tm_err_set(TM_ERR_IO, "rename %s to %s: %s", tmp, path, strerror(err));
    }
    return sync_dir_of(path);
}

/* Persist into the slot that does not hold the newest record; on any failure the newest
 * slot is untouched, and the next attempt writes the same (non-newest) slot again. */
static tm_status file_persist(tm_state_store *base, const tm_sign_state *st)
{
    file_store *s = (file_store *)base;
    const tm_sign_state *last = &s->newest;
    TM_ENSURE(tm_hrs_compare(st->height, st->round, st->step, last->height, last->round, last->step) >= 0,
              TM_ERR_INVALID, "state file %s: refusing to move back from %lld/%d/%s to %lld/%d/%s", s->path,
              (long long)last->height, last->round, tm_step_name(last->step), (long long)st->height, st->round,
              tm_step_name(st->step));
    uint8_t slot[SLOT_SIZE];
    TM_TRY(encode_slot(slot, s->newest_seq + 1, s->chain_id, st));
    int target = 1 - s->newest_slot;
    TM_TRY(write_full(s->fd, slot, SLOT_SIZE, (off_t)target * SLOT_SIZE, s->path));
    TM_ENSURE(fdatasync(s->fd) == 0, TM_ERR_IO, "fdatasync %s: %s", s->path, strerror(errno));
    s->newest_slot = target;
    s->newest_seq++;
    s->newest = *st;
    return TM_OK;
}

static void file_close(tm_state_store *base)
{
    file_store *s = (file_store *)base;
    if (s->fd >= 0) close(s->fd); /* releases the flock */
    free(s->path);
    free(s);
}

static const struct tm_state_store_ops file_ops = {file_persist, file_close};

static tm_status read_whole(int fd, const char *path, uint8_t *file)
{
    struct stat sb;
    TM_ENSURE(fstat(fd, &sb) == 0, TM_ERR_IO, "stat %s: %s", path, strerror(errno));
    /* Only a file of another size can be JSON: in a state file, a '{', ' ' or '\n' at offset 0
     * is a damaged slot 0 (one flipped byte of its magic 'T'), and slot 1 may be intact. */
    uint8_t first = 0;
    if (sb.st_size > 0 && sb.st_size != FILE_SIZE && pread(fd, &first, 1, 0) == 1 &&
        (first == '{' || first == ' ' || first == '\n')) {
        tm_err_set(TM_ERR_CORRUPT,
                   "state file %s is JSON (a CometBFT or tmkms state file), not a tmkms-nitro state; "
                   "convert it with: tmkms state import -c CONFIG --chain ID %s",
                   path, path);
        return TM_ERR_CORRUPT;
    }
    TM_ENSURE(sb.st_size == FILE_SIZE, TM_ERR_CORRUPT, "state file %s: %lld bytes, want %d (truncated or not a state file)",
              path, (long long)sb.st_size, FILE_SIZE);
    size_t got = 0;
    while (got < FILE_SIZE) {
        ssize_t n = pread(fd, file + got, FILE_SIZE - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        TM_ENSURE(n > 0, TM_ERR_IO, "read %s: %s", path, n < 0 ? strerror(errno) : "unexpected end of file");
        got += (size_t)n;
    }
    return TM_OK;
}

/* Choose the newest valid slot; warn when the other one is damaged. */
static tm_status pick_slot(file_store *s, const uint8_t *file, bool warn)
{
    uint64_t seq[2] = {0, 0};
    tm_sign_state st[2];
    char why[2][128] = {"", ""};
    slot_kind kind[2];
    for (int i = 0; i < 2; i++)
        kind[i] = decode_slot(file + i * SLOT_SIZE, s->chain_id, &seq[i], &st[i], why[i], sizeof(why[i]));
    int best = -1;
    for (int i = 0; i < 2; i++)
        if (kind[i] == SLOT_VALID && (best < 0 || seq[i] > seq[best])) best = i;
    if (best < 0)
        return tm_err_set(TM_ERR_CORRUPT,
                          "state file %s: no valid record (slot 0: %s; slot 1: %s). Refusing to guess the last "
                          "signed state: restore it from a backup or re-import the node's state",
                          s->path, kind[0] == SLOT_BLANK ? "blank" : why[0], kind[1] == SLOT_BLANK ? "blank" : why[1]);
    int other = 1 - best;
    if (kind[other] == SLOT_INVALID && warn)
        tm_log_warn("state",
                    "state file %s: slot %d is damaged (%s); using slot %d (%lld/%d/%s). This is what a write "
                    "interrupted by a crash leaves, whose signature was never released; if the file was damaged "
                    "otherwise, check that the node did not sign past this state",
                    s->path, other, why[other], best, (long long)st[best].height, st[best].round,
                    tm_step_name(st[best].step));
    s->newest_slot = best;
    s->newest_seq = seq[best];
    s->newest = st[best];
    return TM_OK;
}

/* Open a state file: for signing (read-write, exclusive lock held until close), or only
 * to read it while a signer may be running (no lock taken; a slot being written at that
 * moment reads as damaged, so no warning is logged for it). */
static tm_status open_store(const char *path, const char *chain_id, bool for_signing, file_store **out)
{
    tm_status status = TM_OK;
    uint8_t *file = NULL;
    file_store *s = calloc(1, sizeof(*s));
    TM_ENSURE(s != NULL, TM_ERR_NOMEM, "out of memory");
    s->base.ops = &file_ops;
    s->fd = -1;
    snprintf(s->chain_id, sizeof(s->chain_id), "%s", chain_id);
    s->path = strdup(path);
    TM_ENSURE_GOTO(s->path != NULL, TM_ERR_NOMEM, "out of memory");
    s->fd = open(path, (for_signing ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    TM_ENSURE_GOTO(s->fd >= 0, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "state file %s: %s", path,
                   strerror(errno));
    /* Two signers on one state file could each sign a conflict: refuse the second. */
    bool idle = flock(s->fd, (for_signing ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0;
    TM_ENSURE_GOTO(idle || !for_signing, TM_ERR_REFUSED,
                   "state file %s is in use by another process (is another tmkms running?)", path);
    file = malloc(FILE_SIZE);
    TM_ENSURE_GOTO(file != NULL, TM_ERR_NOMEM, "out of memory");
    TM_TRY_GOTO(read_whole(s->fd, path, file));
    TM_TRY_GOTO(pick_slot(s, file, idle));
    *out = s;
    s = NULL;
out:
    free(file);
    if (s) file_close(&s->base);
    return status;
}

tm_status tm_state_file_open(const char *path, const char *chain_id, tm_state_store **store, tm_sign_state *loaded)
{
    file_store *s = NULL;
    TM_TRY(open_store(path, chain_id, true, &s));
    *loaded = s->newest;
    *store = &s->base;
    return TM_OK;
}

tm_status tm_state_file_read(const char *path, const char *chain_id, tm_sign_state *state)
{
    file_store *s = NULL;
    TM_TRY(open_store(path, chain_id, false, &s));
    *state = s->newest;
    file_close(&s->base);
    return TM_OK;
}
