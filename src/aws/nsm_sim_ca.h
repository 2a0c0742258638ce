/* Internal: the NSM simulator's P-384 CA chain (root -> intermediate -> leaf). */
#ifndef TMKMS_AWS_NSM_SIM_CA_H
#define TMKMS_AWS_NSM_SIM_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "tmkms/error.h"

typedef struct {
    EVP_PKEY *key[3]; /* root, intermediate, leaf */
    X509 *cert[3];
    unsigned char *der[3]; /* OPENSSL_free */
    size_t der_len[3];
    int64_t leaf_at; /* the leaf is valid from leaf_at - 1 h to leaf_at + 3 h */
} tm_sim_ca;

/* Root and intermediate from `dir` (generated and written when missing; NULL: in memory
 * only), and a fresh leaf valid for three hours around `at` (unix seconds). */
tm_status tm_sim_ca_load(tm_sim_ca *ca, const char *dir, int64_t at);
/* A new leaf key and certificate valid around `at` (the real NSM's leaf lives for hours;
 * a long-running simulator renews its leaf before it expires). */
tm_status tm_sim_ca_renew_leaf(tm_sim_ca *ca, int64_t at);
void tm_sim_ca_free(tm_sim_ca *ca);

#endif
