// Merlin transcripts (merlin.cool) on STROBE-128 (strobe.sourceforge.io, v1.0.2), with
// Keccak-f[1600] from @noble/hashes. Written from the two specifications; only the
// operations Merlin uses are here: meta-AD, AD and PRF.
import { endianness } from 'node:os';
import { keccakP } from '@noble/hashes/sha3';

if (endianness() !== 'LE') throw new Error('merlin.mjs: the Keccak state view assumes a little-endian host');

const enc = new TextEncoder();
const bytes = (x) => (typeof x === 'string' ? enc.encode(x) : x);

// STROBE flags.
const FLAG_I = 1;
const FLAG_A = 2;
const FLAG_C = 4;
const FLAG_T = 8;
const FLAG_M = 16;
const FLAG_K = 32;

// Security level 128: rate = 200 - 2 * (128 / 8) - 2 bytes.
const RATE = 166;

class Strobe128 {
  constructor(protocolLabel) {
    this.st = new Uint8Array(200);
    this.lanes = new Uint32Array(this.st.buffer);
    // cSHAKE-style domain block: [1, rate + 2, 1, 0, 1, 12 * 8] || "STROBEv1.0.2", then F.
    this.st.set([1, RATE + 2, 1, 0, 1, 96], 0);
    this.st.set(enc.encode('STROBEv1.0.2'), 6);
    keccakP(this.lanes);
    this.pos = 0;
    this.posBegin = 0;
    this.curFlags = 0;
    this.metaAd(bytes(protocolLabel), false);
  }

  runF() {
    this.st[this.pos] ^= this.posBegin;
    this.st[this.pos + 1] ^= 0x04;
    this.st[RATE + 1] ^= 0x80;
    keccakP(this.lanes);
    this.pos = 0;
    this.posBegin = 0;
  }

  absorb(data) {
    for (const b of data) {
      this.st[this.pos++] ^= b;
      if (this.pos === RATE) this.runF();
    }
  }

  squeeze(out) {
    for (let i = 0; i < out.length; i++) {
      out[i] = this.st[this.pos];
      this.st[this.pos] = 0;
      this.pos++;
      if (this.pos === RATE) this.runF();
    }
  }

  beginOp(flags, more) {
    if (more) {
      if (this.curFlags !== flags) throw new Error(`strobe: continued op with flags ${flags} after ${this.curFlags}`);
      return;
    }
    if (flags & FLAG_T) throw new Error('strobe: transport operations are not used by Merlin');
    const oldBegin = this.posBegin;
    this.posBegin = this.pos + 1;
    this.curFlags = flags;
    this.absorb([oldBegin, flags]);
    if ((flags & (FLAG_C | FLAG_K)) !== 0 && this.pos !== 0) this.runF();
  }

  metaAd(data, more) {
    this.beginOp(FLAG_M | FLAG_A, more);
    this.absorb(data);
  }

  ad(data, more) {
    this.beginOp(FLAG_A, more);
    this.absorb(data);
  }

  prf(out, more) {
    this.beginOp(FLAG_I | FLAG_A | FLAG_C, more);
    this.squeeze(out);
  }
}

const le32 = (n) => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);

export class Transcript {
  constructor(label) {
    this.strobe = new Strobe128('Merlin v1.0');
    this.appendMessage('dom-sep', label);
  }

  appendMessage(label, message) {
    const m = bytes(message);
    this.strobe.metaAd(bytes(label), false);
    this.strobe.metaAd(le32(m.length), true);
    this.strobe.ad(m, false);
  }

  challengeBytes(label, n) {
    const out = new Uint8Array(n);
    this.strobe.metaAd(bytes(label), false);
    this.strobe.metaAd(le32(n), true);
    this.strobe.prf(out, false);
    return out;
  }
}
