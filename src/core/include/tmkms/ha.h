/* High availability: a record of each chain's last signature shared by every tmkms
 * instance holding the key, changed only by compare-and-swap. The chain (chain.h) asks
 * the record before it signs and releases a new signature only if its swap won, so at
 * most one signature exists per height/round/step across all instances. The core knows
 * only this interface; src/ha implements it over etcd. */
#ifndef TMKMS_HA_H
#define TMKMS_HA_H

#include <stdbool.h>
#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/types.h"

typedef struct tm_ha_backend tm_ha_backend;

/* The cluster's record of a chain. revision is the backend's version of it, for
 * compare-and-swap; 0: no record yet (state is all zero then). */
typedef struct {
    tm_sign_state state;
    int64_t revision;
} tm_ha_record;

struct tm_ha_backend_ops {
    /* The chain's current record. TM_ERR_UNAVAILABLE when the cluster does not answer
     * (no quorum, timeout): the caller refuses to sign. */
    tm_status (*load)(tm_ha_backend *backend, const char *chain_id, tm_ha_record *out);
    /* Replace the record by `next` if its revision is still `expected`. *won: replaced,
     * current->revision is the new one. !*won: another instance wrote first and *current
     * is what the record holds now. Any error: the outcome is unknown, so the caller must
     * treat the swap as lost and release nothing. */
    tm_status (*swap)(tm_ha_backend *backend, const char *chain_id, int64_t expected, const tm_sign_state *next,
                      bool *won, tm_ha_record *current);
    void (*close)(tm_ha_backend *backend);
};

struct tm_ha_backend {
    const struct tm_ha_backend_ops *ops;
};

#endif
