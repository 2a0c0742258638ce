/* Torn-write simulation of the two-slot state file, over a history of 20 acknowledged
 * persists (heights, rounds and steps moving forward, sign bytes of 0..512 bytes, with and
 * without a signature, a chain id of the maximum length).
 *
 * After each persist the test keeps the exact bytes of the file (its image). persist k is
 * one pwrite of one 4096-byte slot: the images before and after it differ only inside
 * that slot. For every persist k and every byte offset i of that slot, the file is
 *   - torn: the image before k with the first i bytes of the new slot applied (the pwrite
 *     stopped after i bytes);
 *   - garbled: the image after k with byte i flipped (xor 0xff; every xor mask at the
 *     header, length and checksum offsets);
 *   - scattered: the image before k with any subset of the slot's eight 512-byte sectors
 *     of the new slot applied (a device that reorders sector writes);
 *   - short: the image after k cut to length i (a sample of lengths; every length with
 *     TMKMS_TEST_LONG=1);
 * and tm_state_file_open and tm_state_file_read must load the state of persist k (only
 * when the file equals the image after k), or the state of persist k-1: silently only when
 * the file equals the image before k, otherwise with a warning naming the damaged slot; or
 * refuse with TM_ERR_CORRUPT (only a short file may: with one slot intact the loader must
 * use it). Never any other acknowledged state, and never a state that matches none of them.
 *
 * Then the cases no torn write produces: another chain's file, a file of zeroes, both
 * slots garbled, and slots whose checksum is right but whose content is out of bounds. */
#include <fcntl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/guard.h"
#include "tmkms/log.h"
#include "tmkms/state.h"

#define SLOT 4096
#define FILE_BYTES (2 * SLOT)
#define CHECKSUM_LEN 32
#define SECTOR 512
#define PERSISTS 20
/* A chain id of the maximum length (TM_MAX_CHAIN_ID_LEN = 50). */
#define CHAIN "torn-write-chain-0123456789-abcdefghijklmnopqrstuv"

static char dir[64];
static char path[128];

/* acked[0] is the state the file was created with, acked[k] the state of persist k;
 * image[k] the file right after it was acknowledged. */
static tm_sign_state acked[PERSISTS + 1];
static uint8_t image[PERSISTS + 1][FILE_BYTES];
static int target_slot[PERSISTS + 1]; /* the slot persist k wrote */

static struct {
    size_t torn, garbled, masks, scattered, short_files, crafted, total;
    size_t loaded_new, loaded_prev_quiet, loaded_prev_warned, corrupt;
} count;

/* ---- the loader's log ------------------------------------------------------------ */

static char warned[4096];
static size_t warned_len;

static void capture(tm_log_level level, const char *line, void *ctx)
{
    (void)ctx;
    if (level != TM_LOG_WARN || strstr(line, "[state]") == NULL) return;
    size_t n = strlen(line);
    if (warned_len + n + 2 > sizeof(warned)) return;
    memcpy(warned + warned_len, line, n);
    warned_len += n;
    warned[warned_len++] = '\n';
    warned[warned_len] = '\0';
}

static int null_fd = -1, saved_stderr = -1;

/* The loader's warnings go to the sink; stderr is muted while it runs (tens of thousands
 * of expected warnings would bury cmocka's report). */
static void mute(void)
{
    warned_len = 0;
    warned[0] = '\0';
    fflush(stderr);
    dup2(null_fd, 2);
}

static void unmute(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
}

static bool long_run(void)
{
    const char *v = getenv("TMKMS_TEST_LONG");
    return v && *v && strcmp(v, "0") != 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- fixtures ---------------------------------------------------------------------- */

static int setup(void **unused)
{
    (void)unused;
    snprintf(dir, sizeof(dir), "%s/tmkms-torn-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.state", dir);
    return 0;
}

static int teardown(void **unused)
{
    (void)unused;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    // NOLINTNEXTLINE(cert-env33-c): test teardown; removes the test's own mkdtemp directory
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* State k of the history: (h, r, s) strictly increasing, sign bytes of varying length
 * (none, one byte, the 512-byte maximum, ...), a signature on every other one. */
static tm_sign_state history_state(int k)
{
    static const size_t lens[] = {0, 1, 512, 37, 140, 0, 511, 2, 300, 64};
    tm_sign_state st;
    memset(&st, 0, sizeof(st));
    if (k == 0) return st; /* what `tmkms state init` writes */
    st.height = 1000 + (k / 3) * 7;
    st.round = (k / 3) % 3;
    st.step = (tm_step)(1 + k % 3); /* proposal, prevote, precommit, then the next height */
    st.sign_bytes_len = lens[k % 10];
    for (size_t i = 0; i < st.sign_bytes_len; i++) st.sign_bytes[i] = (uint8_t)(k * 31 + i * 7 + 1);
    st.has_signature = k % 2 == 1;
    if (st.has_signature)
        for (size_t i = 0; i < sizeof(st.signature); i++) st.signature[i] = (uint8_t)(k * 13 + i + 0x80);
    return st;
}

static bool same_state(const tm_sign_state *a, const tm_sign_state *b)
{
    return a->height == b->height && a->round == b->round && a->step == b->step &&
           a->sign_bytes_len == b->sign_bytes_len && memcmp(a->sign_bytes, b->sign_bytes, a->sign_bytes_len) == 0 &&
           a->has_signature == b->has_signature && memcmp(a->signature, b->signature, sizeof(a->signature)) == 0;
}

/* Which acknowledged state `st` is, or -1 (garbage). */
static int which_state(const tm_sign_state *st, int upto)
{
    for (int j = 0; j <= upto; j++)
        if (same_state(st, &acked[j])) return j;
    return -1;
}

static void read_image(uint8_t *buf)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, FILE_BYTES); /* preallocated: never grows or shrinks */
    assert_int_equal(pread(fd, buf, FILE_BYTES, 0), FILE_BYTES);
    close(fd);
}

/* Overwrite in place and set the size, no O_TRUNC: ext4 flushes a file truncated to zero
 * and rewritten at close (auto_da_alloc), which made each check wait for the disk. */
static void put_file(const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    if (len > 0) assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    if ((size_t)sb.st_size != len) assert_int_equal(ftruncate(fd, (off_t)len), 0);
    close(fd);
}

/* Persist the whole history through one store, keeping the file's image after each
 * acknowledged persist and checking that it changed inside one slot only. */
static void build_history(void)
{
    for (int k = 0; k <= PERSISTS; k++) acked[k] = history_state(k);
    for (int k = 1; k <= PERSISTS; k++)
        assert_true(tm_hrs_compare(acked[k].height, acked[k].round, acked[k].step, acked[k - 1].height,
                                            acked[k - 1].round, acked[k - 1].step) > 0);
    assert_int_equal(tm_state_file_create(path, CHAIN, &acked[0]), TM_OK);
    read_image(image[0]);
    tm_state_store *store = NULL;
    tm_sign_state loaded;
    assert_int_equal(tm_state_file_open(path, CHAIN, &store, &loaded), TM_OK);
    assert_true(same_state(&loaded, &acked[0]));
    for (int k = 1; k <= PERSISTS; k++) {
        assert_int_equal(store->ops->persist(store, &acked[k]), TM_OK);
        read_image(image[k]);
        size_t lo = FILE_BYTES, hi = 0;
        for (size_t i = 0; i < FILE_BYTES; i++)
            if (image[k][i] != image[k - 1][i]) {
                if (i < lo) lo = i;
                hi = i + 1;
            }
        assert_true(lo < hi);
        /* the bytes that changed lie in one slot, the other slot is byte for byte as it was */
        assert_int_equal(lo / SLOT, (hi - 1) / SLOT);
        target_slot[k] = (int)(lo / SLOT);
        if (k > 1) assert_int_equal(target_slot[k], 1 - target_slot[k - 1]); /* slots alternate */
    }
    assert_int_equal(target_slot[1], 1); /* create wrote slot 0 */
    store->ops->close(store);
}

/* ---- the contract ------------------------------------------------------------------ */

typedef tm_status (*loader_fn)(tm_sign_state *out);

static tm_status load_open(tm_sign_state *out)
{
    tm_state_store *store = NULL;
    tm_status st = tm_state_file_open(path, CHAIN, &store, out);
    if (store) store->ops->close(store);
    return st;
}

static tm_status load_read(tm_sign_state *out)
{
    return tm_state_file_read(path, CHAIN, out);
}

/* Both loaders, for the checks that run each of them in turn. */
static const loader_fn both_fns[2] = {load_open, load_read};

/* Both loaders on every file with TMKMS_TEST_LONG=1; else they take turns. */
static bool both_loaders;
static size_t files_checked;

/* Write `img` (len bytes) as the state file and check the loaders against persist k.
 * `what`/`off` only label a failure. */
static void check_image(const uint8_t *img, size_t len, int k, const char *what, size_t off)
{
    static const struct {
        const char *name;
        loader_fn fn;
    } loaders[] = {{"tm_state_file_open", load_open}, {"tm_state_file_read", load_read}};
    put_file(img, len);
    bool full = len == FILE_BYTES;
    bool is_after = full && memcmp(img, image[k], FILE_BYTES) == 0;
    bool is_before = full && memcmp(img, image[k - 1], FILE_BYTES) == 0;
    int damaged = target_slot[k];
    char damaged_msg[32];
    snprintf(damaged_msg, sizeof(damaged_msg), "slot %d is damaged", damaged);
    size_t first = both_loaders ? 0 : files_checked % 2, last = both_loaders ? 1 : first;
    files_checked++;
    for (size_t l = first; l <= last; l++) {
        tm_sign_state got;
        memset(&got, 0x5a, sizeof(got));
        mute();
        tm_status status = loaders[l].fn(&got);
        unmute();
        count.total++;
        if (status == TM_ERR_CORRUPT) {
            count.corrupt++;
            if (full)
                fail_msg("persist %d, %s at %zu, %s: TM_ERR_CORRUPT (%s) although slot %d is intact", k, what, off,
                         loaders[l].name, tm_err_msg(), 1 - damaged);
            if (strstr(tm_err_msg(), path) == NULL)
                fail_msg("persist %d, %s at %zu, %s: error does not name the file: %s", k, what, off, loaders[l].name,
                         tm_err_msg());
            continue;
        }
        if (status != TM_OK)
            fail_msg("persist %d, %s at %zu, %s: %s (%s)", k, what, off, loaders[l].name, tm_status_name(status),
                     tm_err_msg());
        if (!full) fail_msg("persist %d, %s %zu bytes, %s: a short file loaded", k, what, len, loaders[l].name);
        int j = which_state(&got, PERSISTS);
        if (j < 0)
            fail_msg("persist %d, %s at %zu, %s: loaded a state that was never acknowledged (%lld/%d/%d)", k, what,
                     off, loaders[l].name, (long long)got.height, (int)got.round, (int)got.step);
        if (j == k) {
            if (!is_after)
                fail_msg("persist %d, %s at %zu, %s: loaded the new state from an incomplete write", k, what, off,
                         loaders[l].name);
            if (warned_len != 0)
                fail_msg("persist %d, %s at %zu, %s: warned on an intact file: %s", k, what, off, loaders[l].name,
                         warned);
            count.loaded_new++;
        } else if (j == k - 1) {
            if (is_after)
                fail_msg("persist %d, %s at %zu, %s: the complete write loaded the previous state", k, what, off,
                         loaders[l].name);
            if (is_before) {
                if (warned_len != 0)
                    fail_msg("persist %d, %s at %zu, %s: warned on an intact file: %s", k, what, off,
                             loaders[l].name, warned);
                count.loaded_prev_quiet++;
            } else {
                if (strstr(warned, damaged_msg) == NULL)
                    fail_msg("persist %d, %s at %zu, %s: loaded the previous state without saying '%s' (log: '%s')",
                             k, what, off, loaders[l].name, damaged_msg, warned);
                count.loaded_prev_warned++;
            }
        } else {
            fail_msg("persist %d, %s at %zu, %s: loaded the state of persist %d", k, what, off, loaders[l].name, j);
        }
    }
}

/* ---- the simulation ---------------------------------------------------------------- */

static void torn_write_simulation(void **unused)
{
    (void)unused;
    double t0 = now();
    bool full_size = long_run();
    both_loaders = full_size;
    build_history();
    uint8_t *img = malloc(FILE_BYTES);
    assert_non_null(img);
    for (int k = 1; k <= PERSISTS; k++) {
        const uint8_t *before = image[k - 1], *after = image[k];
        size_t start = (size_t)target_slot[k] * SLOT, end = start + SLOT; /* the pwrite's range */

        /* (a) the pwrite stopped after i bytes, i = 0..4096 (0: nothing written; 4096: all) */
        for (size_t i = start; i <= end; i++) {
            memcpy(img, before, FILE_BYTES);
            memcpy(img + start, after + start, i - start);
            check_image(img, FILE_BYTES, k, "torn write stopping", i);
            count.torn++;
        }

        /* (b) byte i of the written slot flipped after the write */
        for (size_t i = start; i < end; i++) {
            memcpy(img, after, FILE_BYTES);
            img[i] ^= 0xff;
            check_image(img, FILE_BYTES, k, "flipped byte", i);
            count.garbled++;
        }
        /* every xor mask where the structure is: magic (a '{' at offset 0 once made the file
         * read as JSON), version, sequence, step/flags/id length, the sign bytes length, the
         * checksum's first and last byte */
        static const size_t hot[] = {0, 7, 8, 12, 19, 32, 33, 34, 35 + sizeof(CHAIN) - 1,
                                     36 + sizeof(CHAIN) - 1, SLOT - CHECKSUM_LEN, SLOT - 1};
        bool all_masks = full_size || k <= 2 || k == PERSISTS; /* both slots either way */
        for (size_t h = 0; all_masks && h < sizeof(hot) / sizeof(hot[0]); h++)
            for (unsigned mask = 1; mask < 256; mask++) {
                memcpy(img, after, FILE_BYTES);
                img[start + hot[h]] ^= (uint8_t)mask;
                check_image(img, FILE_BYTES, k, "xor mask at", start + hot[h]);
                count.masks++;
            }

        /* the pwrite landed as any subset of its 512-byte sectors */
        for (unsigned set = 0; set < (1u << (SLOT / SECTOR)); set++) {
            memcpy(img, before, FILE_BYTES);
            for (unsigned s = 0; s < SLOT / SECTOR; s++)
                if (set & (1u << s)) memcpy(img + start + s * SECTOR, after + start + s * SECTOR, SECTOR);
            check_image(img, FILE_BYTES, k, "sectors written, mask", set);
            count.scattered++;
        }

        /* (c) the file cut to length i (and grown past its size) */
        for (size_t i = 0; i <= FILE_BYTES + 1; i++) {
            bool sample = full_size || i < 64 || i % 127 == 0 || (i >= start && i <= start + 64) ||
                          (i + 64 >= end && i <= end) || i + 64 >= FILE_BYTES;
            if (!sample || i == FILE_BYTES) continue;
            memcpy(img, after, FILE_BYTES);
            if (i > FILE_BYTES) {
                uint8_t *longer = calloc(1, i);
                assert_non_null(longer);
                memcpy(longer, after, FILE_BYTES);
                check_image(longer, i, k, "file grown to", i);
                free(longer);
            } else {
                check_image(img, i, k, "file cut to", i);
            }
            count.short_files++;
        }

        /* after a crash mid-write, the next persist repairs the damaged slot and leaves the
         * intact one alone */
        memcpy(img, before, FILE_BYTES);
        memcpy(img + start, after + start, SLOT / 2);
        put_file(img, FILE_BYTES);
        tm_state_store *store = NULL;
        tm_sign_state loaded;
        mute();
        tm_status status = tm_state_file_open(path, CHAIN, &store, &loaded);
        unmute();
        assert_int_equal(status, TM_OK);
        assert_true(same_state(&loaded, &acked[k - 1]));
        assert_int_equal(store->ops->persist(store, &acked[k]), TM_OK);
        store->ops->close(store);
        uint8_t *repaired = malloc(FILE_BYTES);
        assert_non_null(repaired);
        read_image(repaired);
        assert_memory_equal(repaired + (1 - target_slot[k]) * SLOT, before + (1 - target_slot[k]) * SLOT, SLOT);
        mute();
        assert_int_equal(tm_state_file_read(path, CHAIN, &loaded), TM_OK);
        unmute();
        assert_true(same_state(&loaded, &acked[k]));
        assert_int_equal(warned_len, 0);
        free(repaired);
    }
    free(img);
    double secs = now() - t0;
    print_message("torn-write simulation (%s): %d persists, %zu torn writes, %zu flipped bytes, %zu other xor "
                  "masks, %zu sector subsets, %zu short/long files: %zu files, %zu loads in %.1f s\n",
                  full_size ? "TMKMS_TEST_LONG" : "default", PERSISTS, count.torn, count.garbled, count.masks,
                  count.scattered, count.short_files,
                  count.torn + count.garbled + count.masks + count.scattered + count.short_files, count.total, secs);
    print_message("outcomes: new state %zu, previous state (file unchanged) %zu, previous state with a warning %zu, "
                  "TM_ERR_CORRUPT %zu\n",
                  count.loaded_new, count.loaded_prev_quiet, count.loaded_prev_warned, count.corrupt);
    assert_true(count.loaded_new > 0 && count.loaded_prev_quiet > 0 && count.loaded_prev_warned > 0);
}

/* ---- what no torn write produces ----------------------------------------------------- */

/* The slot layout of docs/STATE.md, for crafting records the module never writes. */
#define OFF_MAGIC 0
#define OFF_VERSION 8
#define OFF_SEQ 12
#define OFF_HEIGHT 20
#define OFF_ROUND 28
#define OFF_STEP 32
#define OFF_FLAGS 33
#define OFF_ID_LEN 34
#define OFF_ID 35
#define ID_LEN (sizeof(CHAIN) - 1)
#define OFF_SB_LEN (OFF_ID + ID_LEN)

/* The module's checksum: BLAKE2b-256 (libsodium's generichash) of bytes 0..4063. */
static void reseal(uint8_t *slot)
{
    crypto_generichash(slot + SLOT - CHECKSUM_LEN, CHECKSUM_LEN, slot, SLOT - CHECKSUM_LEN, NULL, 0);
}

static bool sealed(const uint8_t *slot)
{
    uint8_t sum[CHECKSUM_LEN];
    crypto_generichash(sum, sizeof(sum), slot, SLOT - CHECKSUM_LEN, NULL, 0);
    return memcmp(sum, slot + SLOT - CHECKSUM_LEN, CHECKSUM_LEN) == 0;
}

static tm_status load_quiet(loader_fn fn, tm_sign_state *out)
{
    mute();
    tm_status st = fn(out);
    unmute();
    count.crafted++;
    return st;
}

/* Both loaders refuse the file with TM_ERR_CORRUPT and an error naming the file and each
 * of `reasons`. */
static void expect_corrupt(const char *chain, const char *const *reasons, size_t n_reasons)
{
    tm_sign_state got;
    tm_state_store *store = NULL;
    mute();
    tm_status st = tm_state_file_open(path, chain, &store, &got);
    unmute();
    count.crafted++;
    if (st != TM_ERR_CORRUPT) fail_msg("open: %s, want TM_ERR_CORRUPT (%s)", tm_status_name(st), tm_err_msg());
    assert_null(store);
    for (int pass = 0; pass < 2; pass++) {
        assert_non_null(strstr(tm_err_msg(), path));
        for (size_t r = 0; r < n_reasons; r++)
            if (strstr(tm_err_msg(), reasons[r]) == NULL) fail_msg("'%s' not in: %s", reasons[r], tm_err_msg());
        if (pass == 0) {
            mute();
            st = tm_state_file_read(path, chain, &got);
            unmute();
            count.crafted++;
            assert_int_equal(st, TM_ERR_CORRUPT);
        }
    }
}

/* Both loaders load acked[want] and warn that `slot` is damaged for `reason`. */
static void expect_fallback(const char *what, int want, int slot, const char *reason)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "slot %d is damaged (%s", slot, reason);
    for (int l = 0; l < 2; l++) {
        tm_sign_state got;
        tm_status st = load_quiet(both_fns[l], &got);
        if (st != TM_OK) fail_msg("%s in slot %d: %s (%s)", what, slot, tm_status_name(st), tm_err_msg());
        if (!same_state(&got, &acked[want]))
            fail_msg("%s in slot %d: loaded state %d (-1: never acknowledged), want %d", what, slot,
                     which_state(&got, PERSISTS), want);
        if (strstr(warned, msg) == NULL) fail_msg("%s: '%s' not in the log: '%s'", what, msg, warned);
    }
}

static void wrong_chain_zeroes_and_both_garbled(void **unused)
{
    (void)unused;
    build_history();
    for (int k = 0; k <= PERSISTS; k += 5) {
        /* the file of another chain: refused, naming both chains */
        put_file(image[k], FILE_BYTES);
        const char *other[] = {"belongs to chain '" CHAIN "', not 'other-chain'", "no valid record"};
        expect_corrupt("other-chain", other, 2);
        /* a chain id that is a prefix of the file's */
        const char *prefix[] = {"not 'torn-write-chain'"};
        expect_corrupt("torn-write-chain", prefix, 1);
    }
    /* a file of zeroes: both slots blank */
    uint8_t *img = calloc(1, FILE_BYTES + 1);
    assert_non_null(img);
    put_file(img, FILE_BYTES);
    const char *blank[] = {"no valid record (slot 0: blank; slot 1: blank)"};
    expect_corrupt(CHAIN, blank, 1);
    /* an empty file, and zeroes of the wrong size */
    const char *size[] = {"want 8192"};
    put_file(img, 0);
    expect_corrupt(CHAIN, size, 1);
    put_file(img, FILE_BYTES + 1);
    expect_corrupt(CHAIN, size, 1);
    /* both slots garbled, at any pair of offsets */
    for (size_t a = 0; a < SLOT; a += 331)
        for (size_t b = 5; b < SLOT; b += 577) {
            memcpy(img, image[PERSISTS], FILE_BYTES);
            img[a] ^= 0x40;
            img[SLOT + b] ^= 0x04;
            put_file(img, FILE_BYTES);
            const char *both[] = {"no valid record (slot 0: checksum mismatch; slot 1: checksum mismatch)"};
            expect_corrupt(CHAIN, both, 1);
        }
    /* one slot garbled, the other blank (a new file whose first persist was torn) */
    memcpy(img, image[0], FILE_BYTES);
    img[100] ^= 1;
    put_file(img, FILE_BYTES);
    const char *one[] = {"slot 0: checksum mismatch; slot 1: blank"};
    expect_corrupt(CHAIN, one, 1);
    free(img);
}

/* A slot whose checksum is right but whose content is out of bounds. */
static void checksummed_but_out_of_bounds(void **unused)
{
    (void)unused;
    build_history();
    // NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): a static table, fields as initialized
    static const struct {
        const char *what;
        size_t off;
        unsigned len; /* bytes, little-endian unless noted */
        uint64_t value;
        bool big_endian;
        const char *reason;
    } bad[] = {
        {"sign bytes length 513", OFF_SB_LEN, 2, 513, true, "malformed record"},
        {"sign bytes length 0xffff", OFF_SB_LEN, 2, 0xffff, true, "malformed record"},
        {"step 4", OFF_STEP, 1, 4, false, "malformed record"},
        {"step 255", OFF_STEP, 1, 255, false, "malformed record"},
        {"flags 2", OFF_FLAGS, 1, 2, false, "malformed record"},
        {"negative height", OFF_HEIGHT, 8, UINT64_C(0x8000000000000000), false, "malformed record"},
        {"negative round", OFF_ROUND, 4, 0xffffffffu, false, "malformed record"},
        {"chain id length 51", OFF_ID_LEN, 1, 51, false, "malformed record"},
        {"chain id length 255", OFF_ID_LEN, 1, 255, false, "malformed record"},
        {"another chain id", OFF_ID, 1, 'X', false, "belongs to chain 'Xorn-write-chain"},
        {"format version 2", OFF_VERSION, 4, 2, false, "unsupported format version 2"},
        {"magic", OFF_MAGIC, 1, 'X', false, "not a tmkms state record"},
    };
    uint8_t *img = malloc(FILE_BYTES);
    assert_non_null(img);
    for (int k = 2; k <= PERSISTS; k += 3) {
        int newest = target_slot[k], older = 1 - newest;
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            /* in the newest slot: the previous state, with a warning naming the reason */
            memcpy(img, image[k], FILE_BYTES);
            uint8_t *slot = img + newest * SLOT;
            for (unsigned i = 0; i < bad[b].len; i++)
                slot[bad[b].off + (bad[b].big_endian ? bad[b].len - 1 - i : i)] = (uint8_t)(bad[b].value >> (8 * i));
            reseal(slot);
            assert_true(sealed(slot));
            put_file(img, FILE_BYTES);
            expect_fallback(bad[b].what, k - 1, newest, bad[b].reason);
            /* in both slots: refused, naming the reason for each */
            uint8_t *other = img + older * SLOT;
            for (unsigned i = 0; i < bad[b].len; i++)
                other[bad[b].off + (bad[b].big_endian ? bad[b].len - 1 - i : i)] =
                    (uint8_t)(bad[b].value >> (8 * i));
            reseal(other);
            put_file(img, FILE_BYTES);
            const char *reasons[] = {"no valid record", bad[b].reason};
            expect_corrupt(CHAIN, reasons, 2);
        }
        /* in the older slot only: the newest state, and the warning about the other slot */
        memcpy(img, image[k], FILE_BYTES);
        img[older * SLOT + OFF_STEP] = 9;
        reseal(img + older * SLOT);
        put_file(img, FILE_BYTES);
        for (int l = 0; l < 2; l++) {
            tm_sign_state got;
            assert_int_equal(load_quiet(both_fns[l], &got), TM_OK);
            assert_true(same_state(&got, &acked[k]));
            assert_non_null(strstr(warned, "malformed record"));
        }
    }
    free(img);
    print_message("crafted and special files: %zu loads\n", count.crafted);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    saved_stderr = dup(2);
    if (null_fd < 0 || saved_stderr < 0) return 1;
    tm_log_set_level(TM_LOG_INFO);
    tm_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(torn_write_simulation, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_chain_zeroes_and_both_garbled, setup, teardown),
        cmocka_unit_test_setup_teardown(checksummed_but_out_of_bounds, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tm_log_set_sink(NULL, NULL);
    return rc;
}
