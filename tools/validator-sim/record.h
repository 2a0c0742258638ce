/* Signature records: `--record FILE` appends "pubkey HEX" and
 * "sig HEIGHT ROUND TYPE SIGNBYTES_HEX SIGNATURE_HEX" lines; `--check-record` reads the
 * records of many runs and finds double signs. */
#ifndef SIM_RECORD_H
#define SIM_RECORD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    unsigned long records;
    unsigned long keys;      /* distinct (height, round, type) */
    unsigned long conflicts; /* keys with two different sign bytes signed */
    unsigned long bad;       /* unreadable lines, signatures that do not verify */
    int64_t max_height;
} record_report;

/* Reads every file; prints each conflict; returns 0 when there is neither a conflict nor
 * a bad record. */
int record_check(const char *const *files, int nfiles, bool quiet, record_report *rep);

#endif
