/* One-time process setup for the cryptography: libsodium, and a jansson allocator that
 * wipes what it frees (parsed JSON can hold key material, e.g. priv_validator_key.json). */
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

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
