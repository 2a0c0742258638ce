// libp2p Noise (Noise_XX_25519_ChaChaPoly_SHA256, libp2p handshake payload, 2-byte
// big-endian length frames) through @chainsafe/libp2p-noise 16.x, as CometBFT v0.40's
// privval NoiseListener uses go-libp2p's: no multistream-select, no early muxer
// negotiation, no prologue. This module adapts a net.Socket to the duplex of async
// iterables the library takes, and gives access to the raw frames for hostile peers.
import { once } from 'node:events';
import { noise } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';

const quiet = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} });
quiet.newScope = () => quiet;
const logger = { forComponent: () => quiet };

export async function identityFromSeed(seed) {
  const privateKey = await generateKeyPairFromSeed('Ed25519', seed);
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) };
}

export { peerIdFromString };

// Counts the 2-byte-length frames of a byte stream in one direction; onFrame(index, bytes)
// may alter a frame's bytes (index 1 = the first frame) before they are passed on.
class FrameTap {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.pending = new Uint8Array(0);
    this.count = 0;
  }

  // Returns the bytes to pass on now (whole frames only, so a frame can be altered).
  push(chunk) {
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending);
    buf.set(chunk, this.pending.length);
    let off = 0;
    while (buf.length - off >= 2) {
      const len = (buf[off] << 8) | buf[off + 1];
      if (buf.length - off < 2 + len) break;
      this.count++;
      if (this.onFrame) this.onFrame(this.count, buf.subarray(off, off + 2 + len));
      off += 2 + len;
    }
    this.pending = buf.slice(off);
    return buf.subarray(0, off);
  }
}

// A net.Socket as {source, sink}. The source does not destroy the socket when the library
// stops reading it (a Readable's own iterator would). outTap/inTap observe raw frames.
// trickleMs: write the outgoing bytes one at a time, trickleMs apart (a slow peer).
export function socketDuplex(sock, { onOutFrame, onInFrame, trickleMs = 0, onTrickle } = {}) {
  const queue = [];
  let ended = false;
  let error = null;
  let wake = null;
  const notify = () => {
    const w = wake;
    wake = null;
    if (w) w();
  };
  const inTap = new FrameTap(onInFrame);
  sock.on('data', (d) => {
    inTap.push(new Uint8Array(d)); // counting only
    queue.push(new Uint8Array(d));
    notify();
  });
  sock.on('end', () => { ended = true; notify(); });
  sock.on('close', () => { ended = true; notify(); });
  sock.on('error', (e) => { error = e; notify(); });
  const outTap = new FrameTap(onOutFrame);
  return {
    inTap,
    outTap,
    source: (async function* () {
      for (;;) {
        if (queue.length) {
          yield queue.shift();
          continue;
        }
        if (error) throw error;
        if (ended) return;
        await new Promise((resolve) => { wake = resolve; });
      }
    })(),
    sink: async (source) => {
      for await (const chunk of source) {
        const bytes = outTap.push(chunk instanceof Uint8Array ? chunk : chunk.subarray());
        if (sock.destroyed) return;
        if (trickleMs) {
          for (let i = 0; i < bytes.length && !sock.destroyed; i++) {
            sock.write(bytes.subarray(i, i + 1));
            if (onTrickle) onTrickle(i + 1, bytes.length);
            await Promise.race([new Promise((r) => setTimeout(r, trickleMs)), once(sock, 'close')]);
          }
          continue;
        }
        if (bytes.length && !sock.write(bytes)) {
          await Promise.race([once(sock, 'drain'), once(sock, 'close')]);
        }
      }
      if (!sock.destroyed) sock.end();
    },
  };
}

// The Noise encrypter for IDENTITY. Options: lowKey (send this ephemeral public key, e.g.
// all zero), badSig (sign the static key with another identity key while presenting ours).
export async function makeNoise(identity, opts = {}) {
  let privateKey = identity.privateKey;
  if (opts.badSig) {
    const other = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7));
    privateKey = {
      type: privateKey.type,
      raw: privateKey.raw,
      publicKey: privateKey.publicKey,
      equals: (k) => privateKey.equals(k),
      sign: (data) => other.sign(data),
    };
  }
  let crypto = defaultCrypto;
  if (opts.lowKey) {
    crypto = {
      ...defaultCrypto,
      generateX25519KeyPair() {
        const kp = defaultCrypto.generateX25519KeyPair();
        return { privateKey: kp.privateKey, publicKey: opts.lowKey };
      },
    };
  }
  // A static Noise key from a seed, so that only the ephemeral key comes from
  // generateX25519KeyPair (the one lowKey replaces).
  const staticNoiseKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  return noise({ crypto, staticNoiseKey })({ privateKey, logger });
}
