/* libFuzzer target: the helper's flat tmkms.toml on arbitrary bytes. It must never crash
 * or leak, and what it accepts must have every required field. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/nitro/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    tm_nitro_config *cfg = NULL;
    if (tm_nitro_config_parse(text, size, "fuzz", "/d", &cfg) == TM_OK) {
        if (!cfg->address || !cfg->chain_id || !cfg->sealed_consensus_key_path || !cfg->state_file_path ||
            !cfg->aws_region || (cfg->has_credentials && !cfg->aws_session_token))
            abort();
        tm_nitro_config_free(cfg);
    }
    free(text);
    return 0;
}
