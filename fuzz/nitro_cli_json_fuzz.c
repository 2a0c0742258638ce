/* libFuzzer target: nitro-cli's JSON output as the helper parses it
 * (src/nitro-helper/nitro_cli.c): the same bytes as describe-enclaves output (a list of
 * enclaves) and as run-enclave output (one enclave). An accepted output has at most `cap`
 * enclaves, each with NUL-terminated fields within their bounds and a PCR0 that is empty or
 * 96 characters at most; a refused one reports no enclaves. Whatever is accepted is then
 * searched as `enclave run/info/stop` do (by ID, CID, name, EIF default name). Seeds:
 * the fake nitro-cli's real outputs (tests/fakes/nitro-cli) and the unit tests' documented
 * examples (fuzz/corpus/nitro_cli_json/). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nitro_cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_info(const nitro_enclave_info *e)
{
    if (memchr(e->name, 0, sizeof(e->name)) == NULL || memchr(e->id, 0, sizeof(e->id)) == NULL ||
        memchr(e->state, 0, sizeof(e->state)) == NULL || memchr(e->flags, 0, sizeof(e->flags)) == NULL ||
        memchr(e->pcr0, 0, sizeof(e->pcr0)) == NULL)
        abort();
    if (e->process_id < 0 || e->process_id > INT32_MAX) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, not NUL-terminated: a parser reading past `size` is caught. */
    char *json = malloc(size ? size : 1);
    if (!json) return 0;
    if (size) memcpy(json, data, size);

    nitro_enclave_info list[4];
    size_t n = 99;
    if (nitro_parse_describe(json, size, list, 4, &n) == TM_OK) {
        if (n > 4) abort();
        for (size_t i = 0; i < n; i++) check_info(&list[i]);
        helper_enclave_opts opts;
        memset(&opts, 0, sizeof(opts));
        memcpy(opts.eif_path, "/opt/tmkms/tmkms.eif", sizeof("/opt/tmkms/tmkms.eif"));
        int by_name = nitro_find_enclave(list, n, &opts, NULL);
        if (by_name >= (int)n || (by_name >= 0 && strcmp(list[by_name].name, "tmkms") != 0)) abort();
        opts.has_cid = true;
        opts.enclave_cid = 16;
        int by_cid = nitro_find_enclave(list, n, &opts, NULL);
        if (by_cid >= (int)n || (by_cid >= 0 && list[by_cid].cid != 16)) abort();
        if (n > 0) {
            int by_id = nitro_find_enclave(list, n, &opts, list[n - 1].id);
            if (by_id < 0 || strcmp(list[by_id].id, list[n - 1].id) != 0) abort();
        }
    } else if (n != 0) {
        abort();
    }

    nitro_enclave_info one;
    if (nitro_parse_run(json, size, &one) == TM_OK) check_info(&one);
    free(json);
    return 0;
}
