/* Fuzz target: the KMS emulator's request handling (tools/kms-emulator/emu.c) without the
 * HTTP server. Input "Op\nBODY": an authenticated caller sends TrentService.Op with BODY
 * (signature checks skipped so the operations, policies and blob parsing are reached).
 * Input "H:" + header lines + "\n\n" + BODY: a request whose headers are fuzzed too, with
 * SigV4 enforced. One key with a known id exists in a temporary data directory. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

static kms_emu emu;
#define FUZZ_KEY "11111111-1111-4111-8111-111111111111"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The temporary data directory goes when the fuzzer exits. */
static void cleanup(void)
{
    nftw(emu.data_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char tmpl[] = "/tmp/kms-emu-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    snprintf(emu.data_dir, sizeof(emu.data_dir), "%s", tmpl);
    snprintf(emu.region, sizeof(emu.region), "us-east-1");
    snprintf(emu.account, sizeof(emu.account), "111122223333");
    emu.users[0] = (emu_user){"AKIDFUZZ", "secret", "arn:aws:iam::111122223333:role/fuzz", ""};
    emu.n_users = 1;
    emu.now = 1440938160;
    if (emu_store_init(&emu) != TM_OK) abort();
    if (atexit(cleanup) != 0) abort();
    emu_key k = {.id = FUZZ_KEY, .enabled = true};
    snprintf(k.arn, sizeof(k.arn), "arn:aws:kms:us-east-1:111122223333:key/%s", FUZZ_KEY);
    k.policy = emu_default_policy(emu.account);
    emu_error e;
    if (!emu_key_save(&emu, &k, &e)) abort();
    free(k.policy);
    return 0;
}

static size_t parse_headers(char *text, size_t len, tm_http_header *hs, size_t cap, size_t *body_off)
{
    size_t n = 0, pos = 2;
    *body_off = len;
    while (pos < len) {
        char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) break;
        *nl = '\0';
        if (nl == text + pos) {
            *body_off = pos + 1;
            break;
        }
        char *colon = strchr(text + pos, ':');
        if (colon && n < cap) {
            *colon = '\0';
            hs[n++] = (tm_http_header){text + pos, colon + 1 + (colon[1] == ' ')};
        }
        pos = (size_t)(nl - text) + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tm_http_header hs[48];
    size_t n, body_off;
    char target[128];
    if (size >= 2 && memcmp(text, "H:", 2) == 0) {
        emu.skip_auth = false;
        n = parse_headers(text, size, hs, 48, &body_off);
    } else {
        emu.skip_auth = true;
        char *nl = memchr(text, '\n', size);
        body_off = nl ? (size_t)(nl - text) + 1 : size;
        if (nl) *nl = '\0';
        snprintf(target, sizeof(target), "TrentService.%.100s", text);
        hs[0] = (tm_http_header){"X-Amz-Target", target};
        hs[1] = (tm_http_header){"Content-Type", "application/x-amz-json-1.1"};
        n = 2;
    }
    emu_request req = {"POST", "/", hs, n, (const uint8_t *)text + body_off, size - body_off};
    emu_response resp;
    kms_emu_handle(&emu, &req, &resp);
    emu_response_free(&resp);
    free(text);
    return 0;
}
