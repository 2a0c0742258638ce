/* The node's side of the network transports: tcp:// (Tendermint Secret Connection) and
 * noise:// (libp2p Noise, as CometBFT v0.40's NoiseListener). The
 * handshake and frames come from the core library; once a KMS is authenticated, two
 * threads relay plaintext between the encrypted connection and a socketpair, whose other
 * end the rest of the simulator uses like an accepted Unix connection. */
#ifndef SIM_SECURE_H
#define SIM_SECURE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct secure_listener secure_listener;

/* Parses "tcp://HOST:PORT" or "noise://HOST:PORT" (HOST an IPv4 or IPv6 literal);
 * identity_key (may be NULL: a fresh key) is this node's ed25519 identity; expect_id (may
 * be NULL) the KMS's node ID (tcp://) or peer ID (noise://) that alone is served; id_file
 * (may be NULL) receives this node's ID once listening.
 * Returns NULL after printing why. */
secure_listener *secure_listen(const char *url, const char *identity_key, const char *expect_id,
                               const char *id_file);
int secure_listen_fd(const secure_listener *l);
/* Takes an accepted TCP fd: handshake within timeout_ms, check the KMS's ID, start the
 * relay. Returns the local end to talk plaintext on, or -1 after printing why. */
int secure_accept(secure_listener *l, int tcp_fd, int timeout_ms);
void secure_close(secure_listener *l);

#endif
