/* Loadable modules of `tmkms`: the features that need a heavy library are shared objects
 * that tmkms loads (dlopen) only when the config asks for the feature, so that a signer
 * without them never maps those libraries (docs/ARCHITECTURE.md, "Modules").
 *
 * A module exports one symbol, a function returning its table of function pointers. The
 * symbol's name carries the table's version, and the table starts with a header that says
 * it again, with the table's size and the tmkms build it was made with: a module calls the
 * core of the very tmkms that loaded it (the program exports its symbols), so any other
 * build is refused. Bump a version whenever its table changes.
 *
 *   tmkms-ha.so       tmkms_module_ha_v1       [ha]: the etcd backend (libcurl), src/ha
 *   tmkms-metrics.so  tmkms_module_metrics_v1  [metrics]: the /metrics endpoint (libmicrohttpd)
 *
 * The table of the HA module is in tmkms/ha/module.h (it names the etcd client's types). */
#ifndef TMKMS_MODULE_H
#define TMKMS_MODULE_H

#include <stdint.h>

#include "tmkms/metrics.h"

/* The build a module belongs to: the same string on both sides or it is refused. */
#define TM_MODULE_BUILD TMKMS_VERSION "+" TMKMS_GIT_REV

/* The one symbol a module exports. */
#define TM_MODULE_EXPORT __attribute__((visibility("default")))

typedef struct {
    uint32_t version;  /* the table's version: TM_MODULE_<KIND>_VERSION */
    uint32_t size;     /* sizeof the whole table */
    const char *build; /* TM_MODULE_BUILD of the module */
} tm_module_header;

#define TM_MODULE_METRICS_VERSION 1
#define TM_MODULE_METRICS_FILE "tmkms-metrics.so"
#define TM_MODULE_METRICS_SYMBOL "tmkms_module_metrics_v1"

/* The metrics endpoint (metrics.h's tm_metrics_server_*). */
typedef struct {
    tm_module_header header;
    tm_status (*server_start)(tm_metrics *metrics, const char *addr, tm_metrics_server **out);
    void (*server_stop)(tm_metrics_server *server);
} tm_module_metrics;

const tm_module_metrics *tmkms_module_metrics_v1(void);

#endif
