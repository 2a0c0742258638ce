#!/usr/bin/env bash
# tcp://: CometBFT's own privval TCPListener (Secret Connection with a fresh node identity)
# as the node, for v0.38 and v0.40; tmkms dials with its identity key, pins the node ID
# and runs the full session through the encrypted channel. A wrong pin gets no session.
# labels: cometbft;secret-connection
# timeout: 300
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
failed=0

for version in v038 v040; do
  dir=$work/$version
  chain=sc-chain-$version
  kms_setup "$dir" "$chain" || exit 1
  kms_id=$("$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" | sed -n 's/^node ID: //p')
  [ -n "$kms_id" ] || exit 1
  port=$(free_port)
  "$peers/privval-harness-$version" -tcp "127.0.0.1:$port" -node-id-file "$dir/node-id" -chain-id "$chain" \
    -pubkey "$(kms_pubkey_b64 "$dir")" -height 100 >"$dir/harness.out" 2>&1 &
  harness=$!
  kms_pids+=("$harness")
  wait_for 100 test -s "$dir/node-id" || { echo "FAIL harness did not start"; cat "$dir/harness.out"; exit 1; }
  node_id=$(cat "$dir/node-id")
  sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"tcp://$node_id@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"|" "$dir/tmkms.toml"
  kms_start "$dir"
  if wait "$harness"; then
    echo "ok   $version: full privval session over a pinned Secret Connection"
  else
    echo "FAIL $version: session over Secret Connection"; failed=1
  fi
  sed 's/^/    /' "$dir/harness.out" | tail -4
  grep -q "not pinned" "$dir/tmkms.log" && { echo "FAIL $version: warned about a missing pin"; failed=1; }
  if grep -q "this KMS's node ID is $kms_id" "$dir/tmkms.log"; then
    echo "ok   $version: tmkms logged its own node ID $kms_id at start"
  else
    echo "FAIL $version: tmkms did not log its node ID ($kms_id)"; failed=1
  fi
  kill -TERM "$kms_pid"; wait "$kms_pid" 2>/dev/null
done

# A wrong pin: the handshake completes but tmkms refuses to serve, says why, and retries.
dir=$work/pin
kms_setup "$dir" pin-chain || exit 1
"$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >/dev/null
port=$(free_port)
"$peers/privval-harness-v038" -tcp "127.0.0.1:$port" -node-id-file "$dir/node-id" -chain-id pin-chain \
  -pubkey "$(kms_pubkey_b64 "$dir")" -wait 3s >"$dir/harness.out" 2>&1 &
harness=$!
kms_pids+=("$harness")
wait_for 100 test -s "$dir/node-id" || exit 1
sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"tcp://0000000000000000000000000000000000000000@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"|" "$dir/tmkms.toml"
kms_start "$dir"
if wait "$harness"; then
  echo "FAIL a node with another ID was served"; failed=1
else
  echo "ok   a node whose ID differs from the pin gets no session"
fi
grep -q "not the pinned" "$dir/tmkms.log" && echo "ok   the refusal is logged" || { echo "FAIL no log line for the pin"; failed=1; }
if ((failed)); then
  echo "--- tmkms logs"; tail -20 "$work"/*/tmkms.log
  echo "0 passed, 1 failed"
  exit 1
fi
echo "5 passed, 0 failed"
