/* The softsign signer: an ed25519 key held in libsodium's guarded, locked memory.
 *
 * The 64-byte libsodium secret key (seed || public key) lives in a sodium_malloc block:
 * mlock'ed so it never reaches swap, with guard pages around it, excluded from core dumps
 * where the kernel supports it, and wiped by sodium_free. It stays readable between
 * signatures: mprotect calls around every signature would cost two syscalls on the hot
 * path and protect nothing against code running inside this process. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/signer.h"

typedef struct {
    tm_signer base;            /* first: a tm_signer * is a softsign * */
    unsigned char *secret_key; /* crypto_sign_SECRETKEYBYTES, sodium_malloc */
} softsign;

static tm_status softsign_sign(tm_signer *signer, const uint8_t *msg, size_t len,
                               uint8_t sig[TM_ED25519_SIG_LEN])
{
    softsign *s = (softsign *)signer;
    TM_ENSURE(msg != NULL || len == 0, TM_ERR_INVALID, "sign: no message");
    if (crypto_sign_detached(sig, NULL, msg, len, s->secret_key) != 0)
        return tm_err_set(TM_ERR_CRYPTO, "ed25519 signing failed");
    return TM_OK;
}

static void softsign_destroy(tm_signer *signer)
{
    softsign *s = (softsign *)signer;
    sodium_free(s->secret_key); /* wipes before unmapping */
    sodium_memzero(s, sizeof(*s));
    free(s);
}

static const struct tm_signer_ops softsign_ops = {softsign_sign, softsign_destroy};

_Static_assert(crypto_sign_SEEDBYTES == TM_ED25519_SEED_LEN, "ed25519 seed size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == TM_ED25519_PUBKEY_LEN, "ed25519 public key size");
_Static_assert(crypto_sign_BYTES == TM_ED25519_SIG_LEN, "ed25519 signature size");

tm_status tm_softsign_from_seed(const uint8_t seed[TM_ED25519_SEED_LEN], tm_signer **out)
{
    tm_status status = TM_OK;
    *out = NULL;
    TM_TRY(tm_crypto_init());
    softsign *s = calloc(1, sizeof(*s));
    TM_ENSURE(s != NULL, TM_ERR_NOMEM, "out of memory");
    s->base.ops = &softsign_ops;
    s->secret_key = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    TM_ENSURE_GOTO(s->secret_key != NULL, TM_ERR_NOMEM,
                   "cannot allocate locked memory for the key (is RLIMIT_MEMLOCK too low?)");
    /* Cannot fail for a 32-byte seed; the check keeps the contract honest. */
    TM_ENSURE_GOTO(crypto_sign_seed_keypair(s->base.pubkey, s->secret_key, seed) == 0, TM_ERR_CRYPTO,
                   "ed25519 key derivation failed");
    *out = &s->base;
    return TM_OK;
out:
    softsign_destroy(&s->base);
    return status;
}

tm_status tm_softsign_load(const char *path, tm_signer **out)
{
    *out = NULL;
    TM_TRY(tm_crypto_init());
    uint8_t *seed = sodium_malloc(TM_ED25519_SEED_LEN);
    TM_ENSURE(seed != NULL, TM_ERR_NOMEM, "cannot allocate locked memory for the key");
    tm_status status = tm_keyfile_read_seed(path, seed);
    if (status == TM_OK) status = tm_softsign_from_seed(seed, out);
    sodium_free(seed);
    return status;
}

void tm_signer_destroy(tm_signer *signer)
{
    if (signer != NULL) signer->ops->destroy(signer);
}
