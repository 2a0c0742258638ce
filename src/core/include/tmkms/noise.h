/* libp2p Noise (noise://), the privval transport of CometBFT v0.40's NoiseListener:
 * Noise_XX_25519_ChaChaPoly_SHA256 with an empty prologue, every handshake and transport
 * message preceded by its 2-byte big-endian length, and the libp2p handshake payload
 * (the sender's Ed25519 identity key and its signature over
 * "noise-libp2p-static-key:" || the sender's X25519 static key) in messages 2 and 3.
 * Peers are named by libp2p peer IDs ("12D3KooW...": base58btc of the identity multihash
 * of the key's libp2p PublicKey protobuf).
 *
 * Modules: noise_hs.c (the Noise state machine), noise_id.c (peer IDs, the libp2p
 * payload), noise_conn.c (handshake over a tm_conn and the transport frames). */
#ifndef TMKMS_NOISE_H
#define TMKMS_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmkms/conn.h"
#include "tmkms/error.h"

#define TM_NOISE_KEY_LEN 32
#define TM_NOISE_MAC_LEN 16
/* A Noise message, handshake or transport, is at most 65535 bytes (the 2-byte length). */
#define TM_NOISE_MSG_MAX 65535
#define TM_NOISE_PLAIN_MAX (TM_NOISE_MSG_MAX - TM_NOISE_MAC_LEN)
/* Our bound on a handshake message: an ephemeral key, an encrypted static key and a
 * payload of an identity key, a signature and a few extensions fit many times over. */
#define TM_NOISE_HS_MSG_MAX 8192
/* A peer ID string with its NUL; an Ed25519 peer ID has 52 characters. */
#define TM_NOISE_PEER_ID_SIZE 64

/* ---- peer IDs ---- */

/* The libp2p peer ID of an Ed25519 public key ("12D3KooW...", 52 characters). */
void tm_noise_peer_id(const uint8_t pub[32], char out[TM_NOISE_PEER_ID_SIZE]);
/* Parse a peer ID back into the Ed25519 key it embeds. Refused, with a message naming
 * what is wrong: characters outside base58btc, a non-canonical encoding, a multihash that
 * is not an identity multihash (SHA-256 peer IDs of RSA keys), a key that is not Ed25519,
 * any length other than 38 decoded bytes. */
tm_status tm_noise_peer_id_decode(const char *str, uint8_t pub[32]);

/* Split "noise://PEER_ID@host:port" (host a name, an IPv4 address or a bracketed IPv6
 * address; port 1-65535): *pin gets the node's Ed25519 key. The peer ID is mandatory: it
 * pins the node's persistent identity. Malformed addresses are refused with a message
 * naming the part. */
tm_status tm_noise_parse_addr(const char *addr, uint8_t pin[32], char host[256], char port[8]);

/* ---- handshake and transport over a tm_conn ---- */

/* Run the handshake over `raw` (taking ownership of it, also on failure) as initiator
 * (the KMS dialing a node) or responder (a listening node), with our Ed25519 identity
 * (32-byte seed, locked memory) and fresh X25519 static and ephemeral keys, and wrap it:
 * frames of at most TM_NOISE_PLAIN_MAX bytes. *remote_pub receives the peer's
 * authenticated identity key. With `expected_remote` (NULL: any peer), another identity
 * is refused with TM_ERR_REFUSED (*remote_pub then holds it); the initiator refuses before
 * it sends message 3, so a wrong node never learns our identity. A bad MAC, an over-long or truncated message, a
 * malformed payload, a non-Ed25519 identity, a bad signature or an all-zero DH result
 * fails with a message naming the message and the field. */
tm_status tm_noise_handshake(tm_conn *raw, const uint8_t identity_seed[32], bool initiator,
                             const uint8_t *expected_remote, int timeout_ms, tm_conn **out, uint8_t remote_pub[32]);

/* ---- the Noise state machine (exposed for test vectors and fuzz targets) ---- */

typedef struct {
    uint8_t k[TM_NOISE_KEY_LEN];
    uint64_t n;
    bool has_key;
} tm_noise_cipher;

typedef struct {
    uint8_t ck[32], h[32];
    tm_noise_cipher cs;
    uint8_t s_sec[32], s_pub[32], e_sec[32], e_pub[32], rs[32], re[32];
    bool initiator;
    int next; /* index of the next handshake message: 0, 1, 2; 3 when done */
} tm_noise_hs;

/* Start an XX handshake with the given static and ephemeral X25519 secrets (random in
 * production; fixed by the test vectors). Put hs in locked memory. */
void tm_noise_hs_init(tm_noise_hs *hs, bool initiator, const uint8_t *prologue, size_t prologue_len,
                      const uint8_t s_sec[32], const uint8_t e_sec[32]);
/* Write the next message (ours by the pattern) carrying `payload` into out[0..cap). */
tm_status tm_noise_hs_write(tm_noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                            size_t *out_len);
/* Read the peer's next message and return its payload in payload[0..cap). After
 * message 2 (index 1) hs->rs is the peer's static key, authenticated by the MAC. */
tm_status tm_noise_hs_read(tm_noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                           size_t *payload_len);
/* After message 3: our send and receive ciphers (initiator: c1/c2; responder: c2/c1). */
void tm_noise_hs_split(const tm_noise_hs *hs, tm_noise_cipher *send, tm_noise_cipher *recv);

/* ChaCha20-Poly1305 with nonce 0^32 || LE64(n), n incremented per message: out holds
 * len + 16 bytes; decrypt needs len >= 16 and writes len - 16. */
tm_status tm_noise_encrypt(tm_noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len,
                           uint8_t *out);
tm_status tm_noise_decrypt(tm_noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len,
                           uint8_t *out);

/* ---- the libp2p handshake payload ---- */

#define TM_NOISE_PAYLOAD_MAX 256

/* Our payload: identity_key = PublicKey{Ed25519, pub}, identity_sig = ed25519 signature
 * over "noise-libp2p-static-key:" || static_pub; no extensions. */
tm_status tm_noise_payload_make(const uint8_t identity_seed[32], const uint8_t static_pub[32], uint8_t *out,
                                size_t cap, size_t *len);
/* Check the peer's payload against its Noise static key; *identity_pub gets its Ed25519
 * identity key. Extensions are accepted and ignored. */
tm_status tm_noise_payload_verify(const uint8_t *payload, size_t len, const uint8_t remote_static[32],
                                  uint8_t identity_pub[32]);

/* Wrap `raw` (taking ownership, also on failure) in transport frames with these ciphers
 * (copied into locked memory). */
tm_status tm_noise_conn_wrap(tm_conn *raw, const tm_noise_cipher *send, const tm_noise_cipher *recv, tm_conn **out);

#endif
