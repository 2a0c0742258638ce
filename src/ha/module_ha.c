/* The entry point of tmkms-ha.so (tmkms/ha/module.h): the etcd backend as a table. */
#include "tmkms/ha/module.h"

#include "tmkms/ha/ha_etcd.h"

static size_t endpoint_count(tm_ha_backend *backend)
{
    return tm_etcd_endpoint_count(tm_ha_etcd_client(backend));
}

static const char *endpoint(tm_ha_backend *backend, size_t i)
{
    return tm_etcd_endpoint(tm_ha_etcd_client(backend), i);
}

static void endpoint_status(tm_ha_backend *backend, size_t i, tm_etcd_member_status *out)
{
    tm_etcd_endpoint_status(tm_ha_etcd_client(backend), i, out);
}

static const tm_module_ha table = {
    .header = {TM_MODULE_HA_VERSION, sizeof(tm_module_ha), TM_MODULE_BUILD},
    .open = tm_ha_etcd_open,
    .quiet = tm_ha_etcd_quiet,
    .endpoint_count = endpoint_count,
    .endpoint = endpoint,
    .endpoint_status = endpoint_status,
};

TM_MODULE_EXPORT const tm_module_ha *tmkms_module_ha_v1(void)
{
    return &table;
}
