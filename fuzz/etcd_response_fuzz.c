/* Fuzz target: the etcd client's parsers of the JSON gateway's answers (range, txn,
 * maintenance status, error bodies) on arbitrary bytes. Every input goes to each parser;
 * the seeds' key is "/t/x", the key asked for here. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/ha/etcd.h"

static tm_etcd_kv kv;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    bool swapped;
    tm_etcd_member_status status;
    int code;
    char msg[160];
    if (tm_etcd_parse_range(body, size, "/t/x", &kv) == TM_OK && kv.len > TM_ETCD_MAX_VALUE) __builtin_trap();
    if (tm_etcd_parse_txn(body, size, "/t/x", &swapped, &kv) == TM_OK && kv.len > TM_ETCD_MAX_VALUE)
        __builtin_trap();
    tm_etcd_parse_status(body, size, &status);
    tm_etcd_parse_error(body, size, &code, msg, sizeof(msg));
    return 0;
}
