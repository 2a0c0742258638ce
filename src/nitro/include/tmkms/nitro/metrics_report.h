/* The enclave's metrics as a MetricsReport (proto/nitro/host.proto): a snapshot of a core
 * registry (tm_metrics_foreach) within the report's bounds. Series the helper would refuse
 * are left out here rather than spoil the report: a name or label out of its bound or
 * charset, a label value that is not printable ASCII, a histogram whose bounds are not
 * tm_metrics_latency_bounds. At most TM_NITRO_MAX_METRIC_SERIES series, and no more than
 * fit one frame with room to spare. */
#ifndef TMKMS_NITRO_METRICS_REPORT_H
#define TMKMS_NITRO_METRICS_REPORT_H

#include "tmkms/metrics.h"
#include "tmkms/nitro/msg.h"

typedef struct tm_nitro_metrics_report tm_nitro_metrics_report;

tm_status tm_nitro_metrics_report_new(tm_nitro_metrics_report **out);
void tm_nitro_metrics_report_free(tm_nitro_metrics_report *r);

/* Fills r from the registry (replacing what it held); *msg points into r until the next
 * build or free. */
tm_status tm_nitro_metrics_report_build(tm_nitro_metrics_report *r, tm_metrics *metrics,
                                        Tmkms__Nitro__MetricsReport **msg);

#endif
