/* The entry point of tmkms-metrics.so (tmkms/module.h): the /metrics endpoint
 * (metrics_http.c, libmicrohttpd) as a table. */
#include "tmkms/module.h"

static const tm_module_metrics table = {
    .header = {TM_MODULE_METRICS_VERSION, sizeof(tm_module_metrics), TM_MODULE_BUILD},
    .server_start = tm_metrics_server_start,
    .server_stop = tm_metrics_server_stop,
};

TM_MODULE_EXPORT const tm_module_metrics *tmkms_module_metrics_v1(void)
{
    return &table;
}
