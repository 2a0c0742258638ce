/* --self-test: the simulator's encoder against CometBFT's sign-bytes vectors, and the
 * record checker against records with and without a double sign. */
#ifndef SIM_SELFTEST_H
#define SIM_SELFTEST_H

int selftest_run(const char *const *files, int nfiles);

#endif
