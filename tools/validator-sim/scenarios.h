/* The scripted scenarios and the random storm. Each returns false when it could not go on
 * (tmkms gone, stop requested); check failures are counted in the sim, not returned. */
#ifndef SIM_SCENARIOS_H
#define SIM_SCENARIOS_H

#include <stdbool.h>

#include "sim.h"

bool scenario_basic(sim *s, int heights);
bool scenario_guard(sim *s);
bool scenario_oversize(sim *s);

typedef struct {
    int heights;  /* stop after this many heights (0: no bound) */
    int seconds;  /* stop after this long (0: no bound) */
    bool crashes; /* tmkms is being killed: lost connections are expected */
} storm_opts;
bool scenario_storm(sim *s, const storm_opts *o);

#endif
