/* libFuzzer target: the TOML parser on arbitrary bytes. It must never crash, leak or read
 * outside the input, and what it accepts must be a well-formed tree. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const tm_toml_value *v, int depth)
{
    if (depth > 128) abort(); /* the parser bounds nesting at 128 levels */
    if (v->type == TM_TOML_ARRAY)
        for (size_t i = 0; i < v->u.array.len; i++) walk(v->u.array.items[i], depth + 1);
    if (v->type == TM_TOML_TABLE)
        for (size_t i = 0; i < v->u.table.len; i++) {
            if (!v->u.table.keys[i]) abort();
            walk(v->u.table.values[i], depth + 1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    tm_toml_value *root = NULL;
    if (tm_toml_parse(text, size, "fuzz", &root) == TM_OK) {
        walk(root, 0);
        tm_toml_free(root);
    }
    free(text);
    return 0;
}
