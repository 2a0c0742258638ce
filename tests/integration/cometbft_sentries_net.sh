#!/usr/bin/env bash
# Sentries over the network: one tmkms chain served to two CometBFT privval clients at
# once, one over tcp:// (v0.38's TCPListener, Secret Connection) and one over noise://
# (v0.40's NoiseListener), both pinned. Each asks, concurrently, for prevotes and
# precommits of one of two blocks chosen at random per height, as sentries that saw
# different proposals would. A third of the way in, the noise sentry is killed (-9) and
# restarted with the same node key on the same port, running past the other's last height:
# tmkms must reconnect to it by itself and sign for it again.
# Every signature received is recorded; across all records no height/round/type may carry
# two different blocks or signatures, and every sentry run must get signatures.
# labels: cometbft;sentry;secret-connection;noise
# timeout: 600
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
heights=300
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=10000
chain=net-sentry-chain
kms_setup "$work" "$chain" || exit 1
kms_peer_id=$("$tmkms" softsign keygen -t identity "$work/secrets/identity.key" | sed -n 's/^peer ID: //p')
pub=$(kms_pubkey_b64 "$work")
tcp_port=$(free_port) noise_port=$(free_port)

# tcp_sentry / noise_sentry START HEIGHTS SEED RECORD LOG: one sentry run in the background.
tcp_sentry() {
  "$peers/privval-harness-v038" -tcp "127.0.0.1:$tcp_port" -node-key-file "$work/tcp-node-key.json" \
    -node-id-file "$work/tcp-node-id" -chain-id "$chain" -pubkey "$pub" -height "$1" -sentry-heights "$2" \
    -sentry-seed "$3" -sentry-record "$4" >"$5" 2>&1 &
  sentry_pid=$!
  kms_pids+=("$sentry_pid")
}
noise_sentry() {
  "$peers/privval-harness-v040" -noise "127.0.0.1:$noise_port" -node-key-file "$work/noise-node-key.json" \
    -allow-peer-id "$kms_peer_id" -peer-id-file "$work/noise-peer-id" -chain-id "$chain" -pubkey "$pub" \
    -height "$1" -sentry-heights "$2" -sentry-seed "$3" -sentry-record "$4" >"$5" 2>&1 &
  sentry_pid=$!
  kms_pids+=("$sentry_pid")
}

tcp_sentry 1 "$heights" 111 "$work/record-tcp" "$work/sentry-tcp.out"
tcp_pid=$sentry_pid
noise_sentry 1 "$heights" 222 "$work/record-noise1" "$work/sentry-noise1.out"
noise_pid=$sentry_pid
wait_for 100 test -s "$work/tcp-node-id" || { echo "FAIL tcp sentry did not start"; cat "$work/sentry-tcp.out"; exit 1; }
wait_for 100 test -s "$work/noise-peer-id" || { echo "FAIL noise sentry did not start"; cat "$work/sentry-noise1.out"; exit 1; }
sed -i "s|addr = \"unix://$work/node.sock\"|addr = \"tcp://$(cat "$work/tcp-node-id")@127.0.0.1:$tcp_port\"\nsecret_key = \"secrets/identity.key\"|" "$work/tmkms.toml"
cat >>"$work/tmkms.toml" <<TOML

[[validator]]
chain_id = "$chain"
addr = "noise://$(cat "$work/noise-peer-id")@127.0.0.1:$noise_port"
secret_key = "secrets/identity.key"
TOML
kms_start "$work"
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

# A third of the way in, the noise sentry dies and comes back with the same key and port.
third=$((heights / 3))
if wait_for 600 bash -c "[[ \$(cat '$work/record-noise1' 2>/dev/null | wc -l) -ge $((third / 2)) ]]"; then
  kill -KILL "$noise_pid"; wait "$noise_pid" 2>/dev/null
  last=$(tail -n 1 "$work/record-noise1" | cut -d' ' -f1)
  restart=$((last + 1))
  # It runs a third past the tcp sentry's last height: the tcp sentry may be far ahead by
  # now (every height it signed is a regression for this one), and a sentry that comes
  # back must be served again, not just connected.
  noise_sentry "$restart" "$((heights + third - restart + 1))" 333 "$work/record-noise2" "$work/sentry-noise2.out"
  noise_pid=$sentry_pid
  ok "noise sentry killed (-9) after height $last and restarted from $restart"
else
  bad "the noise sentry got too few signatures to stage its crash"; cat "$work/sentry-noise1.out"
fi
wait "$tcp_pid" && ok "tcp sentry finished: $(grep '^sentry seed' "$work/sentry-tcp.out")" ||
  { bad "tcp sentry"; tail -5 "$work/sentry-tcp.out"; }
wait "$noise_pid" && ok "restarted noise sentry finished: $(grep '^sentry seed' "$work/sentry-noise2.out")" ||
  { bad "restarted noise sentry"; tail -5 "$work/sentry-noise2.out"; }
reconnects=$(grep -c "connected to noise://" "$work/tmkms.log")
((reconnects >= 2)) && ok "tmkms connected to the noise sentry $reconnects times (it came back by itself)" ||
  bad "tmkms did not reconnect to the restarted noise sentry ($reconnects connections)"
# records: tcp sentry, noise sentry, noise sentry after its restart
python3 "$TMKMS_SOURCE_DIR/tests/lib/check_sentry_records.py" "$work"/record-tcp "$work"/record-noise1 "$work"/record-noise2 |
  sed 's/^/    /'
((PIPESTATUS[0] == 0)) && ok "records agree" || bad "records"
if ((failed)); then
  echo "--- tmkms log (tail)"; tail -30 "$work/tmkms.log"
fi
check_summary
