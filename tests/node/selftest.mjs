#!/usr/bin/env node
// Self-test of the Node peers, without tmkms: Merlin against the merlin crate's vector, the
// Secret Connection key schedule against CometBFT's golden HKDF vectors, then sc-node.mjs and
// noise-node.mjs (spawned as the tests run them) against a dialer written here: for tcp://
// the same Secret Connection code (lib/secretconn.mjs) as the initiator, for noise:// the
// library's own initiator (secureOutbound). Each hostile mode must be refused by the dialer
// for the reason it claims. Usage: selftest.mjs [--shared DIR] (default $TMKMS_SHARED_DIR).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { x25519 } from '@noble/curves/ed25519';
import { Transcript } from './lib/merlin.mjs';
import { concat, hex, parseArgs, readOrCreateSeed, SocketReader } from './lib/common.mjs';
import { deriveSecrets, handshake, LOW_ORDER_POINTS, nodeIdOf, publicKeyOf } from './lib/secretconn.mjs';
import { identityFromSeed, makeNoise, peerIdFromString, socketDuplex } from './lib/noise.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const o = parseArgs(process.argv.slice(2), { shared: process.env.TMKMS_SHARED_DIR || '' },
  'usage: selftest.mjs [--shared DIR]\n');
const work = mkdtempSync(join(tmpdir(), 'node-peers-selftest-'));
let passed = 0;
let failed = 0;
const ok = (what) => { passed++; console.log(`ok   ${what}`); };
const bad = (what) => { failed++; console.log(`FAIL ${what}`); };
const check = (cond, what, detail = '') => (cond ? ok(what) : bad(detail ? `${what}: ${detail}` : what));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFile(path, ms = 10000) {
  for (let t = 0; t < ms; t += 50) {
    if (existsSync(path) && readFileSync(path, 'utf8').trim()) return readFileSync(path, 'utf8').trim();
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${path}`);
}

// --- 1. vectors -------------------------------------------------------------------------
if (!o.shared) {
  bad('no --shared DIR / TMKMS_SHARED_DIR: the vectors are not checked');
} else {
  const v = JSON.parse(readFileSync(join(o.shared, 'vectors/merlin.json'), 'utf8'));
  const t = new Transcript(v.protocol_label);
  for (const [label, data] of v.appends) t.appendMessage(label, data);
  const got = hex(t.challengeBytes(v.challenge_label, v.challenge_len));
  check(got === v.want, 'Merlin transcript equals the merlin crate vector', `got ${got}`);

  const rows = readFileSync(join(o.shared, 'vectors/secret-connection-hkdf.csv'), 'utf8')
    .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let good = 0;
  let n = 0;
  for (const row of rows) {
    const [dh, least, recv, send] = row.split(',');
    if (!/^[0-9a-f]{64}$/i.test(dh)) continue;
    n++;
    const k = deriveSecrets(Buffer.from(dh, 'hex'), least === 'true');
    if (hex(k.recv) === recv.toLowerCase() && hex(k.send) === send.toLowerCase()) good++;
  }
  check(n > 0 && good === n, `HKDF key schedule matches CometBFT's golden vectors (${good}/${n})`);
}
{
  let refused = 0;
  for (const p of LOW_ORDER_POINTS) {
    try {
      x25519.getSharedSecret(x25519.utils.randomPrivateKey(), p);
    } catch {
      refused++;
    }
  }
  check(refused === LOW_ORDER_POINTS.length, `all ${LOW_ORDER_POINTS.length} low-order points give no shared secret`);
}

// --- helpers: a Unix echo server (the bridge target) and peers as child processes --------
const echoPath = join(work, 'echo.sock');
const echo = net.createServer((s) => {
  s.on('error', () => {});
  s.pipe(s);
});
await new Promise((r) => echo.listen(echoPath, r));

const children = [];
async function startPeer(script, args) {
  const portFile = join(work, `port-${children.length}`);
  const logLines = [];
  const child = spawn(process.execPath, [join(here, script), '--listen', '127.0.0.1:0', '--port-file', portFile, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (d) => logLines.push(...d.toString().split('\n').filter(Boolean)));
  children.push(child);
  const port = Number(await waitFile(portFile));
  return { port, log: logLines, stop: () => child.kill('SIGTERM') };
}

function dial(port) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function expectError(promise, ms) {
  let timer;
  try {
    await Promise.race([promise, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('TIMEOUT')), ms); })]);
    return null;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

// --- 2. Secret Connection: sc-node.mjs against lib/secretconn.mjs as the dialer ----------
const kmsSeed = readOrCreateSeed(join(work, 'kms.key'));
const kmsId = nodeIdOf(publicKeyOf(kmsSeed));
{
  const idFile = join(work, 'sc-node.id');
  const kmsIdFile = join(work, 'sc-kms.id');
  const peer = await startPeer('sc-node.mjs', ['--node-key', join(work, 'sc-node.key'), '--node-id-file', idFile,
    '--kms-id-file', kmsIdFile, '--expect-kms-id', kmsId, '--bridge', echoPath]);
  const nodeId = await waitFile(idFile);
  const s = await dial(peer.port);
  const r = new SocketReader(s);
  const hs = await handshake(s, r, kmsSeed);
  check(hs.remoteId === nodeId, 'sc: the dialer authenticated sc-node under the ID it wrote', `${hs.remoteId} vs ${nodeId}`);
  check((await waitFile(kmsIdFile)) === kmsId, 'sc: sc-node authenticated the dialer (kms-id file)');
  const msg = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff); // five frames
  hs.sc.write(msg);
  let back = new Uint8Array(0);
  while (back.length < msg.length) back = concat(back, await hs.sc.readFrame());
  check(hex(back) === hex(msg), 'sc: 5000 bytes through the bridge and back, in and out of 1024-byte frames');
  s.destroy();
  peer.stop();
}
{
  const peer = await startPeer('sc-node.mjs', ['--expect-kms-id', '0'.repeat(40), '--bridge', echoPath]);
  const s = await dial(peer.port);
  const r = new SocketReader(s);
  const hs = await handshake(s, r, kmsSeed);
  const e = await expectError(hs.sc.readFrame(), 5000);
  check(e?.code === 'EOF', 'sc: --expect-kms-id with another ID closes the connection', e?.message);
  s.destroy();
  peer.stop();
}
const scModes = {
  garbage: (e) => e && e.code !== 'BADSIG' && e.message !== 'TIMEOUT',
  badsig: (e) => e?.code === 'BADSIG',
  lowkey: (e) => /low order/.test(e?.message),
  badmac: (e) => e?.code === 'MAC',
  oversize: (e) => e?.code === 'OVERSIZE',
  stall: (e) => e?.message === 'TIMEOUT',
};
for (const [mode, want] of Object.entries(scModes)) {
  const peer = await startPeer('sc-node.mjs', ['--mode', mode]);
  const s = await dial(peer.port);
  const r = new SocketReader(s);
  const e = await expectError((async () => {
    const hs = await handshake(s, r, kmsSeed);
    for (;;) await hs.sc.readFrame();
  })(), mode === 'stall' ? 1000 : 5000);
  check(want(e), `sc: --mode ${mode} is refused by the dialer (${e?.message})`);
  s.destroy();
  for (let t = 0; t < 40 && !peer.log.some((l) => /conn 1: ended /.test(l)); t++) await sleep(50);
  check(peer.log.some((l) => /conn 1: ended .* the KMS sent 0 plaintext bytes/.test(l)),
    `sc: --mode ${mode}: sc-node logged the end of the connection, with nothing received`);
  peer.stop();
}

// --- 3. Noise: noise-node.mjs against @chainsafe/libp2p-noise's initiator -----------------
const kmsIdentity = await identityFromSeed(kmsSeed);
async function noiseDial(port, nodePeerId, opts = {}) {
  const s = await dial(port);
  const enc = await makeNoise(kmsIdentity);
  const secured = await enc.secureOutbound(socketDuplex(s), {
    remotePeer: nodePeerId ? peerIdFromString(nodePeerId) : undefined,
    skipStreamMuxerNegotiation: true,
    signal: AbortSignal.timeout(opts.timeout ?? 5000),
  });
  return { s, secured };
}
{
  const idFile = join(work, 'noise-node.id');
  const kmsIdFile = join(work, 'noise-kms.id');
  const peer = await startPeer('noise-node.mjs', ['--node-key', join(work, 'noise-node.key'), '--peer-id-file', idFile,
    '--kms-id-file', kmsIdFile, '--expect-kms-id', kmsIdentity.peerId.toString(), '--bridge', echoPath]);
  const nodeId = await waitFile(idFile);
  check(/^12D3KooW/.test(nodeId), `noise: noise-node's peer ID is an ed25519 libp2p ID (${nodeId})`);
  const { s, secured } = await noiseDial(peer.port, nodeId);
  check(secured.remotePeer.toString() === nodeId, 'noise: the initiator authenticated noise-node under the ID it wrote');
  check((await waitFile(kmsIdFile)) === kmsIdentity.peerId.toString(), 'noise: noise-node authenticated the initiator');
  const msg = new Uint8Array(200000).map((_, i) => (i * 13) & 0xff); // several 64 KiB frames
  const received = [];
  let total = 0;
  const reading = (async () => {
    for await (const c of secured.conn.source) {
      const d = c instanceof Uint8Array ? c : c.subarray();
      received.push(d);
      total += d.length;
      if (total >= msg.length) break;
    }
  })();
  secured.conn.sink((async function* () { yield msg; await reading; })()).catch(() => {});
  await Promise.race([reading, sleep(10000)]);
  check(total === msg.length && hex(concat(...received)) === hex(msg), 'noise: 200000 bytes through the bridge and back');
  s.destroy();
  peer.stop();
}
{
  const idFile = join(work, 'noise-node2.id');
  const peer = await startPeer('noise-node.mjs', ['--peer-id-file', idFile, '--expect-kms-id',
    (await identityFromSeed(new Uint8Array(32).fill(1))).peerId.toString(), '--bridge', echoPath]);
  const { s, secured } = await noiseDial(peer.port, await waitFile(idFile));
  const e = await expectError((async () => { for await (const c of secured.conn.source) void c; throw new Error('EOF'); })(), 5000);
  check(e?.message === 'EOF', 'noise: --expect-kms-id with another peer ID closes the connection', e?.message);
  s.destroy();
  peer.stop();
}
const noiseModes = {
  garbage: (e) => e && e.message !== 'TIMEOUT' && !/aborted/i.test(e.message),
  badsig: (e) => /signature/i.test(e?.message),
  lowkey: (e) => e && !/aborted/i.test(e.message) && e.message !== 'TIMEOUT',
  badmac: (e) => /decrypt|authenticate|tag|invalid/i.test(e?.message),
  oversize: (e) => /decrypt|authenticate|tag|invalid/i.test(e?.message),
  stall: (e) => /abort|timeout/i.test(e?.message) || e?.name === 'TimeoutError',
};
for (const [mode, want] of Object.entries(noiseModes)) {
  const idFile = join(work, `noise-${mode}.id`);
  const peer = await startPeer('noise-node.mjs', ['--mode', mode, '--peer-id-file', idFile]);
  const nodeId = await waitFile(idFile);
  let s = null;
  const e = await expectError((async () => {
    const r = await noiseDial(peer.port, nodeId, { timeout: mode === 'stall' ? 1000 : 5000 });
    s = r.s;
    for await (const c of r.secured.conn.source) void c;
    throw new Error('the node closed without an error');
  })(), 8000);
  check(want(e), `noise: --mode ${mode} is refused by the library's initiator (${e?.message})`);
  if (s) s.destroy();
  peer.stop();
}

for (const c of children) c.kill('SIGTERM');
echo.close();
rmSync(work, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
