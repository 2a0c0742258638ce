#!/usr/bin/env node
// The node side of tmkms's noise:// transport, independent of our C code: listens on TCP as
// CometBFT v0.40's privval NoiseListener does and runs @chainsafe/libp2p-noise 16.x as the
// Noise responder (XX, libp2p handshake payload, 2-byte length frames; the KMS dials as the
// initiator; no multistream-select). It checks the KMS's libp2p peer ID and bridges the
// plaintext to a Unix socket on which tools/validator-sim listens. Hostile modes break the
// protocol on purpose.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectUnix, logger, parseArgs, parseHostPort, probeSignVoteRequest, readOrCreateSeed,
  writeAtomic } from './lib/common.mjs';
import { identityFromSeed, makeNoise, socketDuplex } from './lib/noise.mjs';

const MODES = ['normal', 'stall', 'garbage', 'badsig', 'badmac', 'oversize', 'lowkey', 'trickle'];
const usage = `usage: noise-node.mjs --listen HOST:PORT [options]
       noise-node.mjs --peer-id-of KEYFILE     print the libp2p peer ID of an identity key file

  --listen HOST:PORT     where to listen (port 0: any; see --port-file)
  --port-file F          write the port listened on
  --node-key F           identity key (tmkms key file: base64 ed25519 seed; created if
                         missing; default: fresh)
  --peer-id-file F       write this node's peer ID (12D3KooW...)
  --kms-id-file F        write the KMS's peer ID after each handshake
  --expect-kms-id ID     allow only this KMS peer ID (others are closed, as CometBFT's
                         NoiseListener does with its allowlist)
  --bridge SOCK          after the handshake, connect to this Unix socket and pipe both ways
  --mode M               ${MODES.join(' | ')}
                         stall: accept, never answer; garbage: a random handshake message;
                         badsig: identity signature by another key; badmac: flip a bit of
                         transport frame --flip-frame; oversize: a frame of the largest length
                         (65535) of junk; lowkey: an all-zero ephemeral key; trickle: the
                         handshake answer one byte every --trickle-ms (default 2000)
  --flip-frame N         badmac: which outgoing transport frame (default 1)
  --probe-chain ID       chain of the vote request hostile modes send (no --bridge)
  --probe-height H       its height (default 7777777)
  --max-conns N          exit after N connections have ended
`;
const o = parseArgs(process.argv.slice(2), {
  listen: '', 'port-file': '', 'node-key': '', 'peer-id-file': '', 'kms-id-file': '', 'expect-kms-id': '',
  bridge: '', mode: 'normal', 'flip-frame': '1', 'probe-chain': 'probe', 'probe-height': '7777777',
  'max-conns': '0', 'peer-id-of': '', 'trickle-ms': '2000',
}, usage);

if (o['peer-id-of']) {
  const id = await identityFromSeed(readOrCreateSeed(o['peer-id-of']));
  process.stdout.write(id.peerId.toString() + '\n');
  process.exit(0);
}
if (!o.listen || !MODES.includes(o.mode)) {
  process.stderr.write(usage);
  process.exit(2);
}

const log = logger('noise-node');
const identity = await identityFromSeed(readOrCreateSeed(o['node-key'] || null));
const myId = identity.peerId.toString();
const flipFrame = Number(o['flip-frame']);
let nConns = 0;
let nEnded = 0;

async function serve(sock, n) {
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(2);
  let peerClosed = false;
  let weClose = false;
  let bridge = null;
  let plainFromKms = 0;
  sock.on('error', () => {});
  sock.on('end', () => { peerClosed = true; });
  const done = new Promise((resolve) => sock.once('close', resolve));
  const end = (why) => {
    if (!sock.destroyed) {
      weClose = !peerClosed;
      log(`conn ${n}: closing: ${why}`);
      sock.destroy();
    }
  };
  log(`conn ${n}: accepted from ${sock.remoteAddress}:${sock.remotePort} (mode ${o.mode})`);

  session: try {
    if (o.mode === 'stall') {
      sock.on('data', () => {});
      break session;
    }
    if (o.mode === 'garbage') {
      // A well-framed second handshake message of random bytes, then more random bytes.
      sock.on('data', () => {});
      sock.write(Buffer.concat([Buffer.from([0, 200]), randomBytes(200), randomBytes(1800)]));
      break session;
    }
    const duplex = socketDuplex(sock, {
      onOutFrame: (i, frame) => {
        // Frame 1 is handshake message B; transport frames follow.
        if (o.mode === 'badmac' && i === 1 + flipFrame) {
          frame[frame.length >> 1] ^= 0x01;
          log(`conn ${n}: flipped one bit of outgoing transport frame ${flipFrame}`);
        }
      },
      trickleMs: o.mode === 'trickle' ? Number(o['trickle-ms']) : 0,
      onTrickle: (i, len) => log(`conn ${n}: trickled byte ${i} of ${len} at ${secs()} s`),
    });
    const encrypter = await makeNoise(identity, {
      badSig: o.mode === 'badsig',
      lowKey: o.mode === 'lowkey' ? new Uint8Array(32) : undefined,
    });
    let secured;
    try {
      secured = await encrypter.secureInbound(duplex, { signal: AbortSignal.timeout(60000),
        skipStreamMuxerNegotiation: true });
    } catch (e) {
      if (peerClosed || sock.destroyed) log(`conn ${n}: the KMS closed the connection during the handshake after ${secs()} s (${e.message})`);
      else log(`conn ${n}: handshake failed: ${e.message}`);
      end('handshake failed');
      break session;
    }
    const remoteId = secured.remotePeer.toString();
    log(`conn ${n}: handshake complete; KMS peer ID ${remoteId}`);
    if (o['kms-id-file']) writeAtomic(o['kms-id-file'], remoteId + '\n');
    if (o['expect-kms-id'] && o['expect-kms-id'] !== remoteId) {
      log(`conn ${n}: REFUSED: the KMS's peer ID ${remoteId} is not the allowed ${o['expect-kms-id']}`);
      end('KMS not allowed');
      break session;
    }
    const conn = secured.conn;

    // Outgoing plaintext through a queue that conn.sink drains.
    const out = [];
    let outWake = null;
    let outDone = false;
    const send = (data) => {
      out.push(data);
      const w = outWake;
      outWake = null;
      if (w) w();
    };
    const closeOut = () => {
      outDone = true;
      send(new Uint8Array(0));
    };
    const sinkDone = conn.sink((async function* () {
      for (;;) {
        while (out.length) {
          const d = out.shift();
          if (d.length) yield d;
        }
        if (outDone) return;
        await new Promise((resolve) => { outWake = resolve; });
      }
    })()).catch((e) => log(`conn ${n}: send: ${e.message}`));

    if (o.mode === 'oversize') {
      sock.write(Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(65535)]));
      log(`conn ${n}: sent a frame of the largest length (65535 bytes) of junk`);
    } else if (o.bridge) {
      try {
        bridge = await connectUnix(o.bridge);
      } catch (e) {
        log(`conn ${n}: cannot connect to the bridge ${o.bridge}: ${e.message}`);
        end('no bridge');
        break session;
      }
      bridge.on('data', (d) => send(new Uint8Array(d)));
      bridge.on('error', () => {});
      bridge.on('close', () => {
        closeOut();
        end('the bridged socket closed');
      });
    } else if (o.mode === 'badmac') {
      send(probeSignVoteRequest(o['probe-chain'], Number(o['probe-height'])));
    }

    try {
      for await (const chunk of conn.source) {
        const data = chunk instanceof Uint8Array ? chunk : chunk.subarray();
        plainFromKms += data.length;
        if (bridge) bridge.write(data);
      }
      log(`conn ${n}: the KMS closed the connection after ${secs()} s`);
    } catch (e) {
      log(`conn ${n}: ${e.message}`);
      end('bad frame from the KMS');
    }
    closeOut();
    await sinkDone;
  } catch (e) {
    log(`conn ${n}: error: ${e.message}`);
    end('error');
  }
  await done;
  if (bridge) bridge.destroy();
  log(`conn ${n}: ended after ${secs()} s (${weClose ? 'closed by us' : 'closed by the KMS'}); ` +
    `the KMS sent ${plainFromKms} plaintext bytes`);
  nEnded++;
  if (Number(o['max-conns']) > 0 && nEnded >= Number(o['max-conns'])) process.exit(0);
}

const { host, port } = parseHostPort(o.listen);
const server = net.createServer({ noDelay: true }, (sock) => {
  serve(sock, ++nConns);
});
server.listen(port, host, () => {
  const actual = server.address().port;
  if (o['peer-id-file']) writeAtomic(o['peer-id-file'], myId + '\n');
  if (o['port-file']) writeAtomic(o['port-file'], `${actual}\n`);
  log(`listening on ${host}:${actual}; peer ID ${myId}; mode ${o.mode}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
