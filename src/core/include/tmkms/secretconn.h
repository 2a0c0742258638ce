/* Tendermint Secret Connection (tcp://): the key schedule. The handshake and frames build
 * on these. */
#ifndef TMKMS_SECRETCONN_H
#define TMKMS_SECRETCONN_H

#include <stdbool.h>
#include <stdint.h>

#include "tmkms/error.h"

#define TM_SC_KEY_LEN 32

/* HKDF-SHA256(ikm = the X25519 shared secret, no salt,
 * info = "TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN"), 64 bytes: the first half is
 * the receive key of the side whose ephemeral key sorts lower (loc_is_least), the second
 * its send key; the other side uses them crosswise. */
tm_status tm_sc_derive_keys(const uint8_t dh_secret[32], bool loc_is_least, uint8_t recv_key[TM_SC_KEY_LEN],
                            uint8_t send_key[TM_SC_KEY_LEN]);

#endif
