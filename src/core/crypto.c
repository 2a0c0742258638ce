/* One-time process setup for the cryptography: libsodium, a jansson allocator that wipes
 * what it frees (parsed JSON can hold key material, e.g. priv_validator_key.json), and the
 * hardening of a process that will hold a key. */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "tmkms/signer.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int sodium_result = -1;

/* jansson copies every string it parses (and grows intermediate buffers by copying), so
 * a secret passes through several heap blocks we never see. Wiping each block as it is
 * freed covers all of them. Allocation stays plain malloc, so blocks allocated before
 * this allocator was installed are freed correctly too. */
static void wiping_free(void *ptr)
{
    if (ptr == NULL) return;
    sodium_memzero(ptr, malloc_usable_size(ptr));
    free(ptr);
}

static void crypto_init_once(void)
{
    sodium_result = sodium_init();
    json_set_alloc_funcs(malloc, wiping_free);
}

tm_status tm_crypto_init(void)
{
    pthread_once(&crypto_once, crypto_init_once);
    if (sodium_result < 0) return tm_err_set(TM_ERR_CRYPTO, "libsodium failed to initialise");
    return TM_OK;
}

/* A process that holds a key must not write it into a core file, and another process of
 * the same user must not read its memory: without Yama, same-uid ptrace and
 * /proc/PID/mem are open to every process of the user. Not dumpable closes both (only
 * CAP_SYS_PTRACE, i.e. root, still reads it); a zero core limit also covers children and
 * a later PR_SET_DUMPABLE by a library. sodium_malloc'd pages are MADV_DONTDUMP anyway;
 * this covers the stack and heap copies we cannot name. */
tm_status tm_process_harden(void)
{
    const struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0)
        return tm_err_set(TM_ERR_IO, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return tm_err_set(TM_ERR_IO, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    return TM_OK;
}
