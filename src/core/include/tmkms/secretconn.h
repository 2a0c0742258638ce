/* Tendermint Secret Connection (tcp://): the key schedule. The handshake and frames build
 * on these. */
#ifndef TMKMS_SECRETCONN_H
#define TMKMS_SECRETCONN_H

#include <stdbool.h>
#include <stdint.h>

#include "tmkms/conn.h"
#include "tmkms/error.h"

#define TM_SC_KEY_LEN 32

/* HKDF-SHA256(ikm = the X25519 shared secret, no salt,
 * info = "TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN"), 64 bytes: the first half is
 * the receive key of the side whose ephemeral key sorts lower (loc_is_least), the second
 * its send key; the other side uses them crosswise. */
tm_status tm_sc_derive_keys(const uint8_t dh_secret[32], bool loc_is_least, uint8_t recv_key[TM_SC_KEY_LEN],
                            uint8_t send_key[TM_SC_KEY_LEN]);

/* Run the Secret Connection handshake over `raw` (taking ownership of it, also on
 * failure) with our ed25519 identity (32-byte seed, locked memory), and wrap it: frames of
 * at most 1024 data bytes, ChaCha20-Poly1305 with counter nonces. *remote_pub receives the
 * peer's authenticated identity key. The whole handshake must finish within timeout_ms
 * (0: only the raw connection's own per-read timeout applies). Low-order or all-zero DH results, a bad challenge
 * signature and any malformed handshake message are refused. */
tm_status tm_sc_handshake(tm_conn *raw, const uint8_t identity_seed[32], int timeout_ms, tm_conn **out,
                          uint8_t remote_pub[32]);

#define TM_SC_NODE_ID_LEN 20

/* The node ID of a public key: hex of the first 20 bytes of SHA-256(pubkey). */
void tm_sc_node_id(const uint8_t pub[32], char out[41]);
/* The same 20 bytes, unencoded. */
void tm_sc_node_id_raw(const uint8_t pub[32], uint8_t out[TM_SC_NODE_ID_LEN]);

/* Split "tcp://[NODE_ID@]host:port": *pinned tells whether a NODE_ID (40 hex digits, any
 * case) was given, pin receives its 20 bytes. Malformed addresses are refused with a
 * message naming the part. */
tm_status tm_sc_parse_addr(const char *addr, bool *pinned, uint8_t pin[TM_SC_NODE_ID_LEN], char host[256],
                           char port[8]);

#endif
