/* libFuzzer target: the helper's enclave.toml (src/nitro-helper/enclave_config.c), parsed
 * without a folder (paths as written) and with one (relative paths anchored at it). An
 * accepted file has every value within its documented range, remote_addr a KMS endpoint
 * whose region is the one kept, remote_port 443, an enclave name of the allowed characters
 * and, with a folder, absolute paths; a refused one names enclave.toml:LINE. Seeds: the
 * starter file `init` writes, the documented layout (enclave_config.h), tmkms-light's
 * layout with every key, a kms-fips endpoint (fuzz/corpus/enclave_toml/). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enclave_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const helper_enclave_config *cfg, bool anchored)
{
    const helper_enclave_opts *e = &cfg->enclave;
    const helper_proxy_opts *p = &cfg->proxy;
    if (memchr(e->eif_path, 0, sizeof(e->eif_path)) == NULL || e->eif_path[0] == 0) abort();
    if (memchr(p->config_file, 0, sizeof(p->config_file)) == NULL || p->config_file[0] == 0) abort();
    if (anchored && (e->eif_path[0] != '/' || p->config_file[0] != '/')) abort();
    if (e->cpu_count < 1 || e->cpu_count > 1024) abort();
    if (e->memory_mib < 64 || e->memory_mib > 16u * 1024 * 1024) abort();
    if (e->has_cid ? (e->enclave_cid < 4 || e->enclave_cid == UINT32_MAX) : e->enclave_cid != 0) abort();
    if (e->log_server_port < 1 || e->log_server_port == UINT32_MAX) abort();
    if (memchr(e->enclave_name, 0, sizeof(e->enclave_name)) == NULL) abort();
    if (strspn(e->enclave_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
        strlen(e->enclave_name))
        abort();
    if (p->local_port < 1 || p->local_port == UINT32_MAX) abort();
    if (p->remote_port != 443) abort();
    if (p->num_workers < 1 || p->num_workers > PROXY_MAX_WORKERS) abort();
    char region[ENCLAVE_REGION_MAX + 1];
    if (memchr(p->remote_addr, 0, sizeof(p->remote_addr)) == NULL) abort();
    if (helper_kms_endpoint_region(p->remote_addr, region, sizeof(region)) != TM_OK) abort();
    if (strcmp(region, p->region) != 0 || !helper_valid_region(p->region)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, not NUL-terminated: a parser reading past `size` is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    static const char *const dirs[] = {NULL, "/etc/tmkms"};
    for (size_t i = 0; i < 2; i++) {
        helper_enclave_config cfg;
        tm_status st = helper_enclave_config_parse(text, size, "enclave.toml", dirs[i], &cfg);
        if (st == TM_OK) {
            check(&cfg, dirs[i] != NULL);
        } else if (strncmp(tm_err_msg(), "enclave.toml:", 13) != 0) {
            abort(); /* every refusal names FILE:LINE */
        }
    }
    free(text);
    return 0;
}
