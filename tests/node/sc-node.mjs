#!/usr/bin/env node
// The node side of tmkms's tcp:// transport, independent of our C code: listens on TCP as a
// CometBFT node's privval TCPListener does, runs the Tendermint Secret Connection handshake
// with the dialing KMS (lib/secretconn.mjs, written from CometBFT's Go source), and bridges
// the plaintext to a Unix socket on which tools/validator-sim listens, so its scenarios run
// unchanged over the encrypted channel. Hostile modes break the protocol on purpose.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { closed, connectUnix, hex, logger, parseArgs, parseHostPort, probeSignVoteRequest, readOrCreateSeed,
  SocketReader, writeAtomic } from './lib/common.mjs';
import { handshake, LOW_ORDER_POINTS, nodeIdOf, publicKeyOf, SEALED_LEN } from './lib/secretconn.mjs';

const MODES = ['normal', 'stall', 'garbage', 'badsig', 'badmac', 'oversize', 'lowkey', 'trickle'];
const usage = `usage: sc-node.mjs --listen HOST:PORT [options]
       sc-node.mjs --node-id-of KEYFILE      print the node ID of an identity key file

  --listen HOST:PORT     where to listen (port 0: any; see --port-file)
  --port-file F          write the port listened on
  --node-key F           identity key (tmkms key file: base64 seed; created if missing;
                         default: a fresh identity each start, like CometBFT's TCPListener)
  --node-id-file F       write this node's ID (hex of SHA-256(pubkey)[0..20])
  --kms-id-file F        write the KMS's node ID after each handshake
  --expect-kms-id ID     refuse (close) a KMS whose node ID differs
  --bridge SOCK          after the handshake, connect to this Unix socket and pipe both ways
  --mode M               ${MODES.join(' | ')}
                         stall: accept, never send the handshake; garbage: 2048 random
                         bytes, then end of stream;
                         badsig: wrong challenge signature; badmac: flip a bit of ciphertext
                         frame --flip-frame (counted after the handshake); oversize: a frame
                         whose length field is --oversize-len; lowkey: a low-order ephemeral
                         key (the Nth connection uses point N-1 of the 5 known ones)
                         trickle: a valid first handshake message, one byte every
                         --trickle-ms (default 2000)
  --flip-frame N         badmac: which outgoing data frame (default 1)
  --oversize-len N       oversize: the declared data length (default 1025)
  --probe-chain ID       chain of the vote request hostile modes send (no --bridge); default probe
  --probe-height H       its height (default 7777777)
  --pace MS              forward at most one chunk from the bridge every MS ms
  --zero-padding         zero frame padding (default random, as Go senders leave it unzeroed)
  --max-conns N          exit after N connections have ended (default: serve forever)
`;

const o = parseArgs(process.argv.slice(2), {
  listen: '', 'port-file': '', 'node-key': '', 'node-id-file': '', 'kms-id-file': '', 'expect-kms-id': '',
  bridge: '', mode: 'normal', 'flip-frame': '1', 'oversize-len': '1025', 'probe-chain': 'probe',
  'probe-height': '7777777', pace: '0', 'trickle-ms': '2000', 'zero-padding': false, 'max-conns': '0', 'node-id-of': '',
}, usage);

if (o['node-id-of']) {
  process.stdout.write(nodeIdOf(publicKeyOf(readOrCreateSeed(o['node-id-of']))) + '\n');
  process.exit(0);
}
if (!o.listen || !MODES.includes(o.mode)) {
  process.stderr.write(usage);
  process.exit(2);
}

const log = logger('sc-node');
const seed = readOrCreateSeed(o['node-key'] || null);
const myId = nodeIdOf(publicKeyOf(seed));
const flipFrame = Number(o['flip-frame']);
let nConns = 0;
let nEnded = 0;

async function serve(sock, n) {
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(2);
  let weClose = false;
  sock.on('error', () => {});
  const reader = new SocketReader(sock);
  const end = (why) => {
    if (!sock.destroyed) {
      weClose = !reader.ended; // not when the KMS had closed already
      log(`conn ${n}: closing: ${why}`);
      sock.destroy();
    }
  };
  const done = closed(sock);
  let bridge = null;
  let plainFromKms = 0;
  log(`conn ${n}: accepted from ${sock.remoteAddress}:${sock.remotePort} (mode ${o.mode})`);

  session: try {
    if (o.mode === 'stall') {
      await done; // read and ignore whatever the KMS sends, send nothing
    } else if (o.mode === 'trickle') {
      // A valid ephemeral-key message, one byte every --trickle-ms: does the KMS bound the
      // whole handshake, or only each read?
      const msg = Buffer.concat([Buffer.from([34, 0x0a, 32]), randomBytes(32)]);
      for (let i = 0; i < msg.length && !sock.destroyed; i++) {
        sock.write(msg.subarray(i, i + 1));
        log(`conn ${n}: trickled byte ${i + 1} of ${msg.length} at ${secs()} s`);
        await Promise.race([new Promise((r) => setTimeout(r, Number(o['trickle-ms']))), done]);
      }
      end('trickle done');
      await done;
    } else if (o.mode === 'garbage') {
      // Random bytes, then end of stream: a reader that wants more than we sent fails at
      // once instead of waiting (the KMS must still close its side).
      sock.end(randomBytes(2048));
      await done;
    } else {
      const hsOpts = { zeroPadding: o['zero-padding'], badSig: o.mode === 'badsig' };
      if (o.mode === 'lowkey') {
        const point = LOW_ORDER_POINTS[(n - 1) % LOW_ORDER_POINTS.length];
        hsOpts.ephemeralPub = point;
        log(`conn ${n}: sending low-order ephemeral key ${hex(point)}`);
      }
      let hs;
      try {
        hs = await handshake(sock, reader, seed, hsOpts);
      } catch (e) {
        if (e.code === 'EOF') log(`conn ${n}: the KMS closed the connection during the handshake after ${secs()} s`);
        else log(`conn ${n}: handshake failed: ${e.message}`);
        end('handshake failed');
        break session;
      }
      const { sc, remoteId } = hs;
      log(`conn ${n}: handshake complete; KMS node ID ${remoteId}`);
      if (o['kms-id-file']) writeAtomic(o['kms-id-file'], remoteId + '\n');
      if (o['expect-kms-id'] && o['expect-kms-id'].toLowerCase() !== remoteId) {
        log(`conn ${n}: REFUSED: the KMS's node ID ${remoteId} is not the expected ${o['expect-kms-id']}`);
        end('unexpected KMS');
        break session;
      }

      // Outgoing plaintext: sealed into frames here, so hostile modes can alter them.
      let outFrames = 0;
      const send = (data) => {
        if (sock.destroyed) return;
        for (const f of sc.sealAll(data)) {
          outFrames++;
          if (o.mode === 'badmac' && outFrames === flipFrame) {
            f[SEALED_LEN >> 1] ^= 0x01;
            log(`conn ${n}: flipped one bit of outgoing frame ${outFrames}`);
          }
          sock.write(f);
        }
      };

      if (o.mode === 'oversize') {
        const probe = probeSignVoteRequest(o['probe-chain'], Number(o['probe-height']));
        sock.write(sc.seal(probe, Number(o['oversize-len'])));
        log(`conn ${n}: sent a frame whose length field says ${o['oversize-len']} (max 1024)`);
      } else if (o.bridge) {
        try {
          bridge = await connectUnix(o.bridge);
        } catch (e) {
          log(`conn ${n}: cannot connect to the bridge ${o.bridge}: ${e.message}`);
          end('no bridge');
          break session;
        }
        // --pace: at most one chunk from the bridge every PACE ms (keeps a storm's volume low).
        const pace = Number(o.pace);
        let nextAt = 0;
        bridge.on('data', (d) => {
          const data = new Uint8Array(d);
          if (!pace) return send(data);
          const now = performance.now();
          const at = Math.max(now, nextAt);
          nextAt = at + pace;
          setTimeout(() => send(data), at - now);
        });
        bridge.on('error', () => {});
        bridge.on('close', () => end('the bridged socket closed'));
      } else if (o.mode === 'badmac') {
        send(probeSignVoteRequest(o['probe-chain'], Number(o['probe-height'])));
      }

      // Incoming frames: decrypt and forward until the KMS closes or breaks the channel.
      try {
        if (sc.plain.length) {
          plainFromKms += sc.plain.length; // bytes that shared a frame with the AuthSigMessage
          if (bridge) bridge.write(sc.plain);
        }
        for (;;) {
          const data = await sc.readFrame();
          plainFromKms += data.length;
          if (bridge && data.length) bridge.write(data);
        }
      } catch (e) {
        if (e.code === 'EOF') log(`conn ${n}: the KMS closed the connection after ${secs()} s`);
        else {
          log(`conn ${n}: ${e.message}`);
          end('bad frame from the KMS');
        }
      }
    }
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
  if (o['node-id-file']) writeAtomic(o['node-id-file'], myId + '\n');
  if (o['port-file']) writeAtomic(o['port-file'], `${actual}\n`);
  log(`listening on ${host}:${actual}; node ID ${myId}; mode ${o.mode}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
