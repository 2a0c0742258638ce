/* Loading the chains of a config (keys + states) and running the validator connections:
 * what `tmkms start` does, kept apart from its argument parsing. */
#ifndef TMKMS_SERVICE_H
#define TMKMS_SERVICE_H

#include "tmkms/chain.h"
#include "tmkms/config.h"
#include "tmkms/ha/module.h"
#include "tmkms/metrics.h"
#include "tmkms/module.h"

typedef struct {
    const tm_config *config;
    tm_chain **chains; /* parallel to config->chains */
    size_t n_chains;
    tm_ha_backend *ha;                       /* [ha]: the cluster every chain signs through; else NULL */
    tm_metrics *metrics;                     /* [metrics]: the registry (global); else NULL */
    tm_metrics_server *metrics_server;       /* its HTTP endpoint (module tmkms-metrics.so) */
    const tm_module_ha *ha_module;           /* [ha]: the cluster record's module */
    const tm_module_metrics *metrics_module; /* [metrics]: the endpoint's module */
} tm_service;

/* Opens every chain: its consensus key and its state. Refuses a missing or corrupt state
 * naming the path and the command that fixes it. With [ha], joins every chain to the
 * cluster (no request is made yet: an unreachable etcd only delays signing). */
tm_status tm_service_open(const tm_config *config, tm_service *service);
void tm_service_close(tm_service *service);
tm_chain *tm_service_chain(const tm_service *service, const char *chain_id);

/* Runs one thread per [[validator]] until a termination signal; returns the exit code. */
int tm_service_run(tm_service *service);

/* Load the consensus key a softsign provider names (base64 seed or CometBFT JSON). */
tm_status tm_service_load_key(const tm_softsign_config *provider, tm_signer **out);

#endif
