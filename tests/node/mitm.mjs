#!/usr/bin/env node
// A man in the middle for tcp:// (Secret Connection): a TCP proxy between the KMS (which
// dials it) and a node, passing every byte through except one byte of chosen ciphertext
// frames. It knows only the framing: after the 35-byte ephemeral-key message, each direction
// is a sequence of 1044-byte sealed frames (frame 1 carries the AuthSigMessage).
import net from 'node:net';
import { logger, parseArgs, parseHostPort, writeAtomic } from './lib/common.mjs';
import { EPH_MSG_LEN, SEALED_LEN } from './lib/secretconn.mjs';

const usage = `usage: mitm.mjs --listen HOST:PORT --target HOST:PORT [--flip PLAN] [--port-file F]

  --flip PLAN   comma-separated CONN:DIR:FRAME: on connection CONN (1 = the first), flip one
                byte (XOR 0xff) of sealed frame FRAME (1 = the AuthSigMessage) travelling
                DIR (to-node: from the KMS; to-kms: from the node). Default 1:to-kms:3.
`;
const o = parseArgs(process.argv.slice(2), { listen: '', target: '', flip: '1:to-kms:3', 'port-file': '' }, usage);
if (!o.listen || !o.target) {
  process.stderr.write(usage);
  process.exit(2);
}
const log = logger('mitm');
const plan = o.flip.split(',').filter(Boolean).map((p) => {
  const [conn, dir, frame] = p.split(':');
  if (!['to-node', 'to-kms'].includes(dir)) throw new Error(`bad --flip entry ${p}`);
  return { conn: Number(conn), dir, frame: Number(frame) };
});
const target = parseHostPort(o.target);
let nConns = 0;

// A byte stream with a flip at absolute stream offsets.
function relay(from, to, flips, label) {
  let offset = 0;
  from.on('data', (d) => {
    const buf = Buffer.from(d);
    for (const f of flips) {
      const at = EPH_MSG_LEN + (f.frame - 1) * SEALED_LEN + 100; // a byte inside the ciphertext
      if (at >= offset && at < offset + buf.length) {
        buf[at - offset] ^= 0xff;
        log(`${label}: flipped byte ${at - EPH_MSG_LEN - (f.frame - 1) * SEALED_LEN} of frame ${f.frame} ${f.dir}`);
      }
    }
    offset += buf.length;
    to.write(buf);
  });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

const server = net.createServer({ noDelay: true }, (kms) => {
  const n = ++nConns;
  const label = `conn ${n}`;
  log(`${label}: accepted; connecting to ${o.target}`);
  const node = net.createConnection({ host: target.host, port: target.port, noDelay: true });
  const mine = plan.filter((p) => p.conn === n);
  kms.pause();
  node.once('connect', () => kms.resume());
  relay(kms, node, mine.filter((p) => p.dir === 'to-node'), label);
  relay(node, kms, mine.filter((p) => p.dir === 'to-kms'), label);
  let ended = 0;
  const done = () => {
    if (++ended === 2) log(`${label}: closed`);
  };
  kms.on('close', done);
  node.on('close', done);
});
const { host, port } = parseHostPort(o.listen);
server.listen(port, host, () => {
  const actual = server.address().port;
  if (o['port-file']) writeAtomic(o['port-file'], `${actual}\n`);
  log(`listening on ${host}:${actual}, forwarding to ${o.target}; flips ${o.flip || 'none'}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
