/* The two-slot state file: round trips, slot alternation, regression refusal, locking,
 * and crash/corruption at every byte: a torn write of the in-flight slot, truncation at
 * every length, and a flipped byte at every offset. The loader returns the last
 * acknowledged state, or the one before it only when the newest slot is damaged and it
 * says so, and never garbage. */
#include <fcntl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmkms/state.h"

#define SLOT 4096
#define FILE_BYTES (2 * SLOT)

static char dir[64];
static char path[128];

static int setup(void **unused)
{
    (void)unused;
    snprintf(dir, sizeof(dir), "%s/tmkms-state-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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

static tm_sign_state make_state(int64_t h, int32_t r, tm_step s)
{
    tm_sign_state st = {.height = h, .round = r, .step = s, .has_signature = true};
    st.sign_bytes_len = 40 + (size_t)(h % 50);
    for (size_t i = 0; i < st.sign_bytes_len; i++) st.sign_bytes[i] = (uint8_t)(h * 7 + i);
    memset(st.signature, (int)(h & 0xff), sizeof(st.signature));
    return st;
}

static void assert_same_state(const tm_sign_state *a, const tm_sign_state *b)
{
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->round, b->round);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->sign_bytes_len, b->sign_bytes_len);
    assert_memory_equal(a->sign_bytes, b->sign_bytes, a->sign_bytes_len);
    assert_int_equal(a->has_signature, b->has_signature);
    assert_memory_equal(a->signature, b->signature, sizeof(a->signature));
}

static void read_file(uint8_t *buf)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, FILE_BYTES, 0), FILE_BYTES);
    close(fd);
}

/* In place, then cut to len: no O_TRUNC, after which ext4 flushes the rewritten file at
 * close (auto_da_alloc) and every check waits for the disk. */
static void write_file(const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
    assert_int_equal(ftruncate(fd, (off_t)len), 0);
    close(fd);
}

/* Open, capturing what the loader logs on stderr (in memory: a log file truncated and
 * rewritten for each of the thousands of checks made ext4 flush it every time). */
static tm_status open_logged(tm_sign_state *st, char *logged, size_t cap)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = memfd_create("tmkms-test-log", MFD_CLOEXEC);
    assert_true(fd >= 0);
    dup2(fd, 2);
    tm_state_store *store = NULL;
    tm_status status = tm_state_file_open(path, "chain-a", &store, st);
    if (store) store->ops->close(store);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, logged, cap - 1, 0);
    close(fd);
    logged[n > 0 ? n : 0] = '\0';
    return status;
}

static void persist_all(const tm_sign_state *states, size_t n)
{
    tm_state_store *store = NULL;
    tm_sign_state loaded;
    assert_int_equal(tm_state_file_open(path, "chain-a", &store, &loaded), TM_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(store->ops->persist(store, &states[i]), TM_OK);
    store->ops->close(store);
}

static void test_create_open_persist(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, FILE_BYTES);
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_ERR_EXISTS);

    tm_sign_state states[5];
    for (int i = 0; i < 5; i++) states[i] = make_state(10 + i, 0, TM_STEP_PREVOTE);
    for (int n = 1; n <= 5; n++) {
        persist_all(&states[n - 1], 1);
        tm_state_store *store = NULL;
        assert_int_equal(tm_state_file_open(path, "chain-a", &store, &loaded), TM_OK);
        assert_same_state(&loaded, &states[n - 1]);
        store->ops->close(store);
    }
}

static void test_regression_refused_and_lock(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    tm_state_store *store = NULL, *second = NULL;
    assert_int_equal(tm_state_file_open(path, "chain-a", &store, &loaded), TM_OK);
    tm_sign_state s = make_state(20, 1, TM_STEP_PRECOMMIT);
    assert_int_equal(store->ops->persist(store, &s), TM_OK);
    tm_sign_state back = make_state(20, 1, TM_STEP_PREVOTE);
    assert_int_equal(store->ops->persist(store, &back), TM_ERR_INVALID);
    /* a second process (or store) on the same file is refused */
    assert_int_equal(tm_state_file_open(path, "chain-a", &second, &loaded), TM_ERR_REFUSED);
    /* while reading it (tmkms state show) works and sees the newest state */
    assert_int_equal(tm_state_file_read(path, "chain-a", &loaded), TM_OK);
    assert_int_equal(loaded.step, TM_STEP_PRECOMMIT);
    store->ops->close(store);
    assert_int_equal(tm_state_file_open(path, "chain-b", &second, &loaded), TM_ERR_CORRUPT);
    assert_non_null(strstr(tm_err_msg(), "chain-b"));
    assert_int_equal(tm_state_file_open("/nonexistent/x.state", "chain-a", &second, &loaded), TM_ERR_NOT_FOUND);
}

/* Build a history, then write every prefix of the next slot write over the file. */
static void test_torn_write_at_every_offset(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    tm_sign_state hist[3] = {make_state(5, 0, TM_STEP_PREVOTE), make_state(5, 0, TM_STEP_PRECOMMIT),
                             make_state(6, 0, TM_STEP_PROPOSE)};
    persist_all(hist, 2); /* acknowledged: hist[1] */
    uint8_t *before = malloc(FILE_BYTES), *after = malloc(FILE_BYTES), *torn = malloc(FILE_BYTES);
    read_file(before);
    persist_all(&hist[2], 1);
    read_file(after);
    int target = memcmp(before, after, SLOT) != 0 ? 0 : 1;
    assert_memory_equal(before + (1 - target) * SLOT, after + (1 - target) * SLOT, SLOT); /* other slot untouched */
    char logged[4096];
    int newer = 0, older = 0;
    for (size_t k = 0; k <= SLOT; k++) {
        memcpy(torn, before, FILE_BYTES);
        memcpy(torn + target * SLOT, after + target * SLOT, k);
        write_file(torn, FILE_BYTES);
        assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_OK);
        if (loaded.height == 6) {
            assert_same_state(&loaded, &hist[2]);
            newer++;
        } else {
            assert_same_state(&loaded, &hist[1]);
            older++;
        }
    }
    assert_true(newer >= 1); /* the complete write */
    assert_true(older >= SLOT / 2);
    free(before);
    free(after);
    free(torn);
}

static void test_truncation_at_every_length(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    tm_sign_state s = make_state(9, 2, TM_STEP_PRECOMMIT);
    persist_all(&s, 1);
    uint8_t *file = malloc(FILE_BYTES);
    read_file(file);
    char logged[4096];
    for (size_t len = 0; len < FILE_BYTES; len += (len < 64 ? 1 : 61)) {
        write_file(file, len);
        assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_ERR_CORRUPT);
        assert_non_null(strstr(tm_err_msg(), path));
    }
    write_file(file, FILE_BYTES);
    assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_OK);
    assert_same_state(&loaded, &s);
    free(file);
}

static void test_flipped_byte_at_every_offset(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    tm_sign_state hist[2] = {make_state(30, 0, TM_STEP_PREVOTE), make_state(30, 0, TM_STEP_PRECOMMIT)};
    persist_all(hist, 2);
    uint8_t *file = malloc(FILE_BYTES), *bad = malloc(FILE_BYTES);
    read_file(file);
    tm_sign_state newest;
    char logged[4096];
    assert_int_equal(open_logged(&newest, logged, sizeof(logged)), TM_OK);
    assert_same_state(&newest, &hist[1]);
    for (size_t off = 0; off < FILE_BYTES; off++) {
        memcpy(bad, file, FILE_BYTES);
        bad[off] ^= 0x01;
        write_file(bad, FILE_BYTES);
        assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_OK);
        if (loaded.step == TM_STEP_PRECOMMIT) {
            assert_same_state(&loaded, &hist[1]);
        } else {
            /* older than the last acknowledged: only with a warning saying so */
            assert_same_state(&loaded, &hist[0]);
            assert_non_null(strstr(logged, "damaged"));
        }
        assert_non_null(strstr(logged, "damaged")); /* every flip is detected */
    }
    /* both slots damaged: refused, never a reset */
    memcpy(bad, file, FILE_BYTES);
    bad[100] ^= 0xff;
    bad[SLOT + 100] ^= 0xff;
    write_file(bad, FILE_BYTES);
    assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_ERR_CORRUPT);
    assert_non_null(strstr(tm_err_msg(), "no valid record"));
    free(file);
    free(bad);
}

static void test_json_file_is_pointed_to_import(void **unused)
{
    (void)unused;
    const char json[] = "{\"height\":\"5\",\"round\":0,\"step\":3}";
    FILE *f = fopen(path, "w");
    fputs(json, f);
    assert_int_equal(fclose(f), 0);
    tm_sign_state loaded;
    tm_state_store *store = NULL;
    assert_int_equal(tm_state_file_open(path, "chain-a", &store, &loaded), TM_ERR_CORRUPT);
    assert_non_null(strstr(tm_err_msg(), "tmkms state import"));

    /* a state file whose first byte was damaged into '{' is not taken for JSON: slot 1 loads */
    unlink(path);
    tm_sign_state zero = {0}, hist[2] = {make_state(8, 0, TM_STEP_PREVOTE), make_state(8, 0, TM_STEP_PRECOMMIT)};
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    persist_all(hist, 2); /* slot 0: hist[1], slot 1: hist[0] */
    uint8_t *file = malloc(FILE_BYTES);
    read_file(file);
    file[0] = '{';
    write_file(file, FILE_BYTES);
    char logged[4096];
    assert_int_equal(open_logged(&loaded, logged, sizeof(logged)), TM_OK);
    assert_same_state(&loaded, &hist[0]);
    assert_non_null(strstr(logged, "slot 0 is damaged"));
    free(file);
}

static void test_replace(void **unused)
{
    (void)unused;
    tm_sign_state zero = {0}, loaded;
    assert_int_equal(tm_state_file_create(path, "chain-a", &zero), TM_OK);
    tm_sign_state s = make_state(77, 3, TM_STEP_PROPOSE);
    assert_int_equal(tm_state_file_replace(path, "chain-a", &s), TM_OK);
    tm_state_store *store = NULL;
    assert_int_equal(tm_state_file_open(path, "chain-a", &store, &loaded), TM_OK);
    assert_same_state(&loaded, &s);
    store->ops->close(store);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_refused_and_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_at_every_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_file_is_pointed_to_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
