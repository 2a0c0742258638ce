/* A tm_state_store in memory, for unit tests: keeps the last persisted state, counts
 * persists, and fails (as an fdatasync would) while `fail` is set. Owned by the test:
 * close does nothing. */
#ifndef TMKMS_TEST_MEM_STORE_H
#define TMKMS_TEST_MEM_STORE_H

#include <stdbool.h>

#include "tmkms/state.h"

typedef struct {
    tm_state_store base;
    tm_sign_state saved;
    int persists;
    bool fail;
} mem_store;

static tm_status mem_persist(tm_state_store *s, const tm_sign_state *st)
{
    mem_store *m = (mem_store *)s;
    if (m->fail) return tm_err_set(TM_ERR_IO, "injected fdatasync failure");
    m->saved = *st;
    m->persists++;
    return TM_OK;
}

static void mem_close(tm_state_store *s)
{
    (void)s;
}

static const struct tm_state_store_ops mem_store_ops = {mem_persist, mem_close};

#endif
