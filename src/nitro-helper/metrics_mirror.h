/* The enclave's metrics in the helper's registry. The enclave sends MetricsReports on the
 * log port (validated by msg.c: bounds, charsets, bucket counts); this module decides
 * which series the helper shows and sets them to the reported totals.
 *
 * Each series has one producer. The helper produces what it sees itself (signatures and
 * the last signed step as persisted, persist latency, the enclave's state connection, the
 * node relay, its own process). From the enclave it takes only:
 *   tmkms_refusals_total{chain,reason}          counter
 *   tmkms_sign_seconds{chain,transport}         histogram (latency buckets)
 *   tmkms_kms_calls_total{operation,result}     counter
 *   tmkms_validator_failures_total{chain,addr,reason}  counter; addr shown as the node's
 *                                               address (the enclave's is its vsock end)
 *   process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 *   process_start_time_seconds                  gauges, shown as tmkms_enclave_process_*
 * with exactly those label names, a chain label naming the helper's chain. Other names are left out (not an
 * error: the enclave's registry holds more). A listed name with another type or other label names makes the
 * whole report refused, nothing applied. At most MIRROR_MAX_SERIES distinct series are
 * ever created from reports; later new ones are left out (one warning). */
#ifndef TMKMS_NITRO_HELPER_METRICS_MIRROR_H
#define TMKMS_NITRO_HELPER_METRICS_MIRROR_H

#include "tmkms/metrics.h"
#include "tmkms/nitro/msg.h"

#define MIRROR_MAX_SERIES 256

typedef struct metrics_mirror metrics_mirror;

/* For the chain chain_id, whose node the relay reaches at node_addr: a series with a
 * "chain" label naming another chain makes the report refused; an "addr" label is shown as
 * node_addr. registry NULL (metrics off): TM_OK and *out NULL; apply then does nothing. */
tm_status metrics_mirror_new(tm_metrics *registry, const char *chain_id, const char *node_addr,
                             metrics_mirror **out);
void metrics_mirror_free(metrics_mirror *m);

/* One validated report. TM_ERR_INVALID, naming the series and field, when a listed name
 * comes with another type or labels (nothing applied then). *applied (may be NULL): the
 * series set. */
tm_status metrics_mirror_apply(metrics_mirror *m, const Tmkms__Nitro__MetricsReport *r, size_t *applied);

#endif
