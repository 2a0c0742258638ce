/* Secret Connection key derivation with OpenSSL 3's HKDF (libsodium 1.0.18 has none). */
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>
#include <string.h>

#include "tmkms/secretconn.h"

static const char kdf_info[] = "TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN";

tm_status tm_sc_derive_keys(const uint8_t dh_secret[32], bool loc_is_least, uint8_t recv_key[TM_SC_KEY_LEN],
                            uint8_t send_key[TM_SC_KEY_LEN])
{
    uint8_t okm[2 * TM_SC_KEY_LEN];
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)dh_secret, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)kdf_info, sizeof(kdf_info) - 1),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx && EVP_KDF_derive(ctx, okm, sizeof(okm), params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (!ok) return tm_err_set(TM_ERR_CRYPTO, "HKDF-SHA256 failed");
    memcpy(recv_key, loc_is_least ? okm : okm + TM_SC_KEY_LEN, TM_SC_KEY_LEN);
    memcpy(send_key, loc_is_least ? okm + TM_SC_KEY_LEN : okm, TM_SC_KEY_LEN);
    sodium_memzero(okm, sizeof(okm));
    return TM_OK;
}
