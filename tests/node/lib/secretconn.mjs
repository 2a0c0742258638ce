// Tendermint Secret Connection, written from CometBFT v0.38 p2p/conn/secret_connection.go:
//   1. each side sends a fresh X25519 public key as a uvarint-delimited
//      google.protobuf.BytesValue {1: key} (Go writes and reads it in parallel);
//   2. a Merlin transcript "TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH" absorbs the lower
//      and the upper of the two keys (byte order) and the X25519 shared secret (refused when
//      all zero: a low-order key);
//   3. HKDF-SHA256(ikm = shared secret, no salt, info =
//      "TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN") gives 96 bytes: the side whose
//      key is the lower receives with bytes 0..31 and sends with 32..63 (the other side the
//      reverse); bytes 64..95 are unused; the 32-byte challenge is the transcript's
//      "SECRET_CONNECTION_MAC" output;
//   4. frames: 4-byte little-endian data length + 1024 data bytes, ChaCha20-Poly1305 with a
//      12-byte nonce whose bytes 4..11 count frames (little-endian, from 0), no AD: 1044
//      bytes on the wire;
//   5. each side sends, through the frames, a uvarint-delimited tendermint.p2p.AuthSigMessage
//      {1: PublicKey {1: ed25519 key}, 2: ed25519 signature of the challenge} and verifies the
//      other's; the peer's node ID is hex(SHA-256(ed25519 key)[0..20]).
import { randomBytes } from 'node:crypto';
import { x25519, ed25519 } from '@noble/curves/ed25519';
import { chacha20poly1305 } from '@noble/ciphers/chacha';
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';
import { Transcript } from './merlin.mjs';
import { concat, decodeFields, delimited, fieldBytes, hex, readUvarint } from './common.mjs';

export const DATA_MAX = 1024;
export const FRAME_LEN = 4 + DATA_MAX;
export const SEALED_LEN = FRAME_LEN + 16;
export const EPH_MSG_LEN = 35; // uvarint(34) 0x0a 0x20 key, as Go's protoio writes it

const KDF_INFO = 'TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN';

// Low-order X25519 u-coordinates (all give an all-zero shared secret).
export const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

export function nodeIdOf(ed25519Pub) {
  return hex(sha256(ed25519Pub).subarray(0, 20));
}

export function publicKeyOf(seed) {
  return ed25519.getPublicKey(seed);
}

// HKDF key schedule: {recv, send} for the side whose ephemeral key is (not) the least.
export function deriveSecrets(dhSecret, locIsLeast) {
  const res = hkdf(sha256, dhSecret, undefined, KDF_INFO, 96);
  const a = res.slice(0, 32);
  const b = res.slice(32, 64);
  return locIsLeast ? { recv: a, send: b } : { recv: b, send: a };
}

function lessThan(a, b) {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function nonceBytes(counter) {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, counter, true);
  return n;
}

// The encrypted channel after (and during) the handshake.
export class SecretConnection {
  constructor(sock, reader, keys, opts = {}) {
    this.sock = sock;
    this.reader = reader;
    this.sendKey = keys.send;
    this.recvKey = keys.recv;
    this.sendCounter = 0n;
    this.recvCounter = 0n;
    this.plain = new Uint8Array(0);
    this.zeroPadding = !!opts.zeroPadding;
    this.framesIn = 0;
    this.framesOut = 0;
    this.bytesIn = 0;
  }

  // One sealed frame carrying DATA (<= 1024 bytes). declaredLength overrides the length
  // field (hostile peers). Go's sender leaves its padding unzeroed; so does this one unless
  // asked (random padding).
  seal(data, declaredLength = data.length) {
    if (data.length > DATA_MAX) throw new Error('frame data too long');
    const frame = this.zeroPadding ? new Uint8Array(FRAME_LEN) : new Uint8Array(randomBytes(FRAME_LEN));
    new DataView(frame.buffer).setUint32(0, declaredLength >>> 0, true);
    frame.set(data, 4);
    const sealed = chacha20poly1305(this.sendKey, nonceBytes(this.sendCounter)).encrypt(frame);
    this.sendCounter++;
    return sealed;
  }

  // Splits DATA into frames; returns the sealed frames (a caller may alter them before
  // writing) or writes them when write = true.
  sealAll(data) {
    const out = [];
    let off = 0;
    do {
      const chunk = data.subarray(off, off + DATA_MAX);
      out.push(this.seal(chunk));
      off += chunk.length;
    } while (off < data.length);
    return out;
  }

  write(data) {
    for (const f of this.sealAll(data)) {
      this.framesOut++;
      this.sock.write(f);
    }
  }

  // The next frame's data (possibly empty). Throws on a frame that fails authentication or
  // claims more than 1024 bytes, and with code 'EOF' when the peer closes.
  async readFrame() {
    const sealed = await this.reader.read(SEALED_LEN);
    let frame;
    try {
      frame = chacha20poly1305(this.recvKey, nonceBytes(this.recvCounter)).decrypt(sealed);
    } catch {
      const e = new Error(`frame ${this.framesIn + 1} failed authentication (MAC)`);
      e.code = 'MAC';
      throw e;
    }
    this.recvCounter++;
    this.framesIn++;
    const n = new DataView(frame.buffer, frame.byteOffset).getUint32(0, true);
    if (n > DATA_MAX) {
      const e = new Error(`frame ${this.framesIn} claims ${n} data bytes (max ${DATA_MAX})`);
      e.code = 'OVERSIZE';
      throw e;
    }
    this.bytesIn += n;
    return frame.slice(4, 4 + n); // the padding after the data is ignored
  }

  async readExact(n) {
    while (this.plain.length < n) this.plain = concat(this.plain, await this.readFrame());
    const out = this.plain.slice(0, n);
    this.plain = this.plain.slice(n);
    return out;
  }

  // A uvarint-delimited message read through the frames (bounded like Go's 1 MiB reader).
  async readDelimited(max = 1024 * 1024) {
    const lenBytes = [];
    for (;;) {
      const b = await this.readExact(1);
      lenBytes.push(b[0]);
      const r = readUvarint(Uint8Array.from(lenBytes));
      if (r) {
        if (r[0] > max) throw new Error(`delimited message of ${r[0]} bytes exceeds ${max}`);
        return this.readExact(r[0]);
      }
      if (lenBytes.length > 10) throw new Error('malformed length prefix');
    }
  }
}

async function readDelimitedRaw(reader, max = 1024 * 1024) {
  const lenBytes = [];
  for (;;) {
    const b = await reader.read(1);
    lenBytes.push(b[0]);
    const r = readUvarint(Uint8Array.from(lenBytes));
    if (r) {
      if (r[0] > max) throw new Error(`delimited message of ${r[0]} bytes exceeds ${max}`);
      return reader.read(r[0]);
    }
    if (lenBytes.length > 10) throw new Error('malformed length prefix');
  }
}

// Runs the handshake on SOCK (with its SocketReader) with identity SEED. Options for hostile
// peers: ephemeralPub (send this key instead of ours, e.g. a low-order point), badSig (sign
// something other than the challenge). Returns {sc, remotePub, remoteId, challenge}.
export async function handshake(sock, reader, seed, opts = {}) {
  const ephPriv = x25519.utils.randomPrivateKey();
  const ephPub = opts.ephemeralPub ?? x25519.getPublicKey(ephPriv);
  sock.write(delimited(fieldBytes(1, ephPub)));

  const ephMsg = decodeFields(await readDelimitedRaw(reader));
  const remEph = ephMsg[1]?.[0];
  if (!remEph || remEph.length !== 32) throw new Error('the peer sent no 32-byte ephemeral key');

  const locIsLeast = lessThan(ephPub, remEph);
  const [lo, hi] = locIsLeast ? [ephPub, remEph] : [remEph, ephPub];
  const t = new Transcript('TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH');
  t.appendMessage('EPHEMERAL_LOWER_PUBLIC_KEY', lo);
  t.appendMessage('EPHEMERAL_UPPER_PUBLIC_KEY', hi);
  let dh;
  try {
    dh = x25519.getSharedSecret(ephPriv, remEph); // throws on an all-zero result
  } catch {
    throw new Error("the peer's ephemeral key is of low order");
  }
  t.appendMessage('DH_SECRET', dh);
  const keys = deriveSecrets(dh, locIsLeast);
  const challenge = t.challengeBytes('SECRET_CONNECTION_MAC', 32);
  const sc = new SecretConnection(sock, reader, keys, opts);

  const pub = publicKeyOf(seed);
  let signed = challenge;
  if (opts.badSig) {
    signed = challenge.slice();
    signed[0] ^= 1;
  }
  const sig = ed25519.sign(signed, seed);
  sc.write(delimited(concat(fieldBytes(1, fieldBytes(1, pub)), fieldBytes(2, sig))));

  const auth = decodeFields(await sc.readDelimited());
  const pk = auth[1]?.[0] ? decodeFields(auth[1][0]) : {};
  const remotePub = pk[1]?.[0];
  const remoteSig = auth[2]?.[0];
  if (!remotePub || remotePub.length !== 32) throw new Error('the peer did not present an ed25519 key');
  if (!remoteSig || !ed25519.verify(remoteSig, challenge, remotePub)) {
    const e = new Error("the peer's challenge signature does not verify");
    e.code = 'BADSIG';
    throw e;
  }
  return { sc, remotePub: new Uint8Array(remotePub), remoteId: nodeIdOf(remotePub), challenge };
}
