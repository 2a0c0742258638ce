/* The table of the HA module tmkms-ha.so (tmkms/module.h): the etcd backend of [ha] and
 * what `tmkms ha status` shows of its client. Built from src/ha/module_ha.c. */
#ifndef TMKMS_HA_MODULE_H
#define TMKMS_HA_MODULE_H

#include "tmkms/config.h"
#include "tmkms/ha.h"
#include "tmkms/ha/etcd.h"
#include "tmkms/module.h"

#define TM_MODULE_HA_VERSION 1
#define TM_MODULE_HA_FILE "tmkms-ha.so"
#define TM_MODULE_HA_SYMBOL "tmkms_module_ha_v1"

typedef struct {
    tm_module_header header;
    /* tm_ha_etcd_open, tm_ha_etcd_quiet (ha_etcd.h) */
    tm_status (*open)(const tm_ha_config *config, tm_ha_backend **out);
    void (*quiet)(tm_ha_backend *backend);
    /* The etcd endpoints of an open backend (etcd.h's tm_etcd_endpoint_*). */
    size_t (*endpoint_count)(tm_ha_backend *backend);
    const char *(*endpoint)(tm_ha_backend *backend, size_t i);
    void (*endpoint_status)(tm_ha_backend *backend, size_t i, tm_etcd_member_status *out);
} tm_module_ha;

const tm_module_ha *tmkms_module_ha_v1(void);

#endif
