// Helpers shared by the node peers: command-line flags, key files, a byte reader over a
// socket, protobuf varints and fields, the privval probe request.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

// parseArgs(argv, spec): spec maps flag name -> default (boolean default = switch).
export function parseArgs(argv, spec, usage) {
  const out = { ...spec };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in spec)) {
      process.stderr.write(`unknown argument ${a}\n${usage}`);
      process.exit(2);
    }
    if (typeof spec[m[1]] === 'boolean') {
      out[m[1]] = true;
    } else {
      const v = m[2] ?? argv[++i];
      if (v === undefined) {
        process.stderr.write(`--${m[1]} needs a value\n`);
        process.exit(2);
      }
      out[m[1]] = v;
    }
  }
  return out;
}

export function logger(name) {
  return (...parts) => process.stdout.write(`${name}: ${parts.join(' ')}\n`);
}

// Writes a file atomically (tests poll for it).
export function writeAtomic(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

// Identity key files in tmkms's format: base64 of the 32-byte ed25519 seed. A missing
// file is created with a fresh seed (mode 0600), so --node-key gives a persistent identity.
export function readOrCreateSeed(path) {
  if (path && existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    let seed;
    if (text.startsWith('{')) {
      // CometBFT node_key.json / priv_validator_key.json: base64 of seed || public key.
      const j = JSON.parse(text);
      const v = (j.priv_key || j.PrivKey || {}).value;
      seed = Buffer.from(v, 'base64').subarray(0, 32);
    } else {
      seed = Buffer.from(text, 'base64');
    }
    if (seed.length !== 32) throw new Error(`${path}: not a 32-byte ed25519 seed`);
    return new Uint8Array(seed);
  }
  const seed = new Uint8Array(randomBytes(32));
  if (path) writeFileSync(path, Buffer.from(seed).toString('base64') + '\n', { mode: 0o600 });
  return seed;
}

export function parseHostPort(s) {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`expected HOST:PORT, got ${s}`);
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

// A pull-style reader over a socket: read(n) resolves with exactly n bytes, or rejects when
// the peer closes first (err.code = 'EOF', err.partial = bytes received).
export class SocketReader {
  constructor(sock) {
    this.chunks = [];
    this.length = 0;
    this.ended = false;
    this.error = null;
    this.wake = null;
    sock.on('data', (d) => {
      this.chunks.push(d);
      this.length += d.length;
      this.notify();
    });
    sock.on('end', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('close', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.notify();
    });
  }

  notify() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  async read(n) {
    while (this.length < n) {
      if (this.error) throw this.error;
      if (this.ended) {
        const e = new Error(`connection closed by the peer (${this.length} of ${n} bytes read)`);
        e.code = 'EOF';
        e.partial = this.length;
        throw e;
      }
      await new Promise((resolve) => {
        this.wake = resolve;
      });
    }
    const all = Buffer.concat(this.chunks);
    const out = new Uint8Array(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }
}

// Resolves when the socket is closed; the value says who closed it.
export function closed(sock) {
  return new Promise((resolve) => {
    if (sock.destroyed) resolve();
    else sock.once('close', resolve);
  });
}

export function connectUnix(path) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

// --- protobuf ---------------------------------------------------------------------------

export function uvarint(n) {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 as two's complement
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Uint8Array.from(out);
}

export function concat(...parts) {
  const len = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const fieldBytes = (num, data) => concat(uvarint((num << 3) | 2), uvarint(data.length), data);
export const fieldVarint = (num, v) => concat(uvarint(num << 3), uvarint(v));
export const delimited = (msg) => concat(uvarint(msg.length), msg);

// Reads a uvarint at buf[off]; returns [value (Number), next offset] or null if incomplete.
export function readUvarint(buf, off = 0) {
  let v = 0n;
  for (let shift = 0n, i = off; i < buf.length; i++, shift += 7n) {
    if (shift > 63n) throw new Error('varint too long');
    v |= BigInt(buf[i] & 0x7f) << shift;
    if (!(buf[i] & 0x80)) return [Number(v), i + 1];
  }
  return null;
}

// Decodes a message into {field number: [values]}: varints as Numbers, bytes as Uint8Array.
export function decodeFields(buf) {
  const fields = {};
  let off = 0;
  while (off < buf.length) {
    const t = readUvarint(buf, off);
    if (!t) throw new Error('truncated tag');
    const [tag, o1] = t;
    const num = Math.floor(tag / 8);
    const wt = tag & 7;
    let val;
    if (wt === 0) {
      const r = readUvarint(buf, o1);
      if (!r) throw new Error('truncated varint');
      [val, off] = r;
    } else if (wt === 2) {
      const r = readUvarint(buf, o1);
      if (!r) throw new Error('truncated length');
      const [len, o2] = r;
      if (o2 + len > buf.length) throw new Error('truncated bytes field');
      val = buf.subarray(o2, o2 + len);
      off = o2 + len;
    } else if (wt === 1) {
      val = buf.subarray(o1, o1 + 8);
      off = o1 + 8;
    } else if (wt === 5) {
      val = buf.subarray(o1, o1 + 4);
      off = o1 + 4;
    } else {
      throw new Error(`unsupported wire type ${wt}`);
    }
    (fields[num] ||= []).push(val);
  }
  return fields;
}

// A privval SignVoteRequest (tendermint.privval.Message field 3) for a prevote at HEIGHT on
// CHAIN, uvarint-delimited as the privval protocol frames it. Hostile peers send it after a
// handshake they then break: a KMS that signed it would have accepted a corrupted channel.
export function probeSignVoteRequest(chainId, height) {
  const hash = new Uint8Array(32).fill(0xab);
  const blockId = concat(fieldBytes(1, hash), fieldBytes(2, concat(fieldVarint(1, 1), fieldBytes(2, hash))));
  const ts = concat(fieldVarint(1, 1700000000), fieldVarint(2, 1));
  const vote = concat(
    fieldVarint(1, 1), // SIGNED_MSG_TYPE_PREVOTE
    fieldVarint(2, height),
    fieldBytes(4, blockId),
    fieldBytes(5, ts),
    fieldBytes(6, new Uint8Array(20).fill(0x11)),
  );
  const req = concat(fieldBytes(1, vote), fieldBytes(2, new TextEncoder().encode(chainId)));
  return delimited(fieldBytes(3, req));
}

export const hex = (b) => Buffer.from(b).toString('hex');
