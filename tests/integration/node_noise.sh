#!/usr/bin/env bash
# noise:// against an independent node side: tests/node/noise-node.mjs runs
# @chainsafe/libp2p-noise 16.x as the Noise responder (as CometBFT v0.40's privval
# NoiseListener does with go-libp2p), tmkms dials it as the initiator with its identity key
# and the node's peer ID pinned, and noise-node bridges the plaintext to validator-sim.
# The checks of node_secret_connection over noise://: the same scenarios (same seed) pass
# over unix:// and noise:// with identical summaries; the KMS peer ID noise-node
# authenticated (and allow-listed) is the one Node derives from tmkms's identity key; then
# a wrong pin gets no session, and every hostile mode of noise-node is dropped, redialed and
# answered with nothing.
# Skips (exit 77) while tmkms has no noise:// transport ("not available yet").
# labels: node;noise
# timeout: 240
# skip-code: 77
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
sim="$TMKMS_BUILD_DIR/bin/validator-sim"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_node_peers || exit 1
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"
noise=(node "$node_dir/noise-node.mjs")
scenarios=basic,guard,storm,oversize
seed=$((RANDOM * 32768 + RANDOM + 1))

run_sim() {
  "$sim" --socket "$1/sim.sock" --chain-id node-noise --scenario "$scenarios" --heights 30 --seed "$seed" \
    --expect-pubkey "$(kms_pubkey_b64 "$1")" --record "$1/record" >"$1/sim.log" 2>&1 &
  sim_pid=$!
  kms_pids+=("$sim_pid")
  wait_for 100 test -S "$1/sim.sock" || { echo "FAIL validator-sim did not listen"; cat "$1/sim.log"; exit 1; }
}
summary() { sed -n '/^validator-sim summary/,$p' "$1/sim.log" | grep -v 'consensus key'; }
# noise_addr DIR PEER_ID PORT: point DIR's validator at noise://PEER_ID@127.0.0.1:PORT.
noise_addr() {
  sed -i "s|^addr = .*|addr = \"noise://$2@127.0.0.1:$3\"\nsecret_key = \"secrets/identity.key\"|" "$1/tmkms.toml"
}

# 1. Does this tmkms speak noise:// at all? Anything but an explicit "not available" is
#    tested (and fails if it does not work).
dir=$work/noise
kms_setup "$dir" node-noise || exit 1
"$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >"$dir/keygen.out" || exit 1
kms_peer=$("${noise[@]}" --peer-id-of "$dir/secrets/identity.key")
run_sim "$dir"
"${noise[@]}" --listen 127.0.0.1:0 --port-file "$dir/port" --node-key "$dir/node.key" --peer-id-file "$dir/peer-id" \
  --kms-id-file "$dir/kms-id" --expect-kms-id "$kms_peer" --bridge "$dir/sim.sock" >"$dir/noise-node.log" 2>&1 &
kms_pids+=($!)
wait_for 100 test -s "$dir/port" || { echo "FAIL noise-node did not start"; cat "$dir/noise-node.log"; exit 1; }
node_peer=$(cat "$dir/peer-id")
noise_addr "$dir" "$node_peer" "$(cat "$dir/port")"
unsupported='not available|not supported|unsupported|unknown (transport|scheme)'
kms_start "$dir"
connected() { grep -q "conn 1: accepted" "$dir/noise-node.log"; }
refused() { grep -Eqi "$unsupported" "$dir/tmkms.log" || ! kill -0 "$kms_pid" 2>/dev/null; }
wait_for 100 eval 'connected || refused'
if ! connected; then
  if grep -Eqi "$unsupported" "$dir/tmkms.log"; then
    echo "SKIP: this tmkms has no noise:// transport yet; it says:"
    grep -Ei "$unsupported" "$dir/tmkms.log" | head -2 | sed 's/^/    /'
    exit 77
  fi
  echo "FAIL tmkms did not dial noise-node (and did not say noise:// is unsupported)"
  tail -20 "$dir/tmkms.log"
  exit 1
fi

# 2. The reference: the same scenarios over unix://.
ref=$work/unix
kms_setup "$ref" node-noise || exit 1
"$sim" --socket "$ref/sim.sock" --chain-id node-noise --scenario "$scenarios" --heights 30 --seed "$seed" \
  --expect-pubkey "$(kms_pubkey_b64 "$ref")" --record "$ref/record" >"$ref/sim.log" 2>&1 &
ref_sim=$!
kms_pids+=("$ref_sim")
wait_for 100 test -S "$ref/sim.sock" || exit 1
sed -i "s|unix://$ref/node.sock|unix://$ref/sim.sock|" "$ref/tmkms.toml"
"$tmkms" start -c "$ref/tmkms.toml" >"$ref/tmkms.log" 2>&1 &
ref_kms=$!
kms_pids+=("$ref_kms")
wait "$ref_sim" && grep -q '^result: PASS' "$ref/sim.log" && ok "unix:// reference run: $scenarios pass (seed $seed)" ||
  { bad "unix:// reference run"; tail -30 "$ref/sim.log"; }
kill -TERM "$ref_kms"; wait "$ref_kms" 2>/dev/null

# 3. The noise:// run started in step 1.
if wait "$sim_pid" && grep -q '^result: PASS' "$dir/sim.log"; then
  ok "noise:// through noise-node: $scenarios pass"
else
  bad "noise:// through noise-node: validator-sim failed"; tail -30 "$dir/sim.log"
fi
if diff <(summary "$ref") <(summary "$dir") >"$work/summary.diff"; then
  ok "validator-sim's summaries over unix:// and noise:// are identical"
else
  bad "validator-sim's summaries differ between unix:// and noise://"; cat "$work/summary.diff"
fi
seen=$(cat "$dir/kms-id" 2>/dev/null)
[[ $seen == "$kms_peer" ]] && ok "noise-node authenticated and allowed the KMS as $seen (Node's ID for tmkms's identity key)" ||
  bad "noise-node saw KMS peer ID '$seen', expected '$kms_peer'"
# If tmkms prints or logs a libp2p peer ID for its identity, it must be the same one.
for f in "$dir/keygen.out" "$dir/tmkms.log"; do
  printed=$(grep -o '12D3KooW[1-9A-HJ-NP-Za-km-z]*' "$f" | grep -v "$node_peer" | head -1)
  if [[ $printed == "$kms_peer" ]]; then
    ok "$(basename "$f") names the KMS's peer ID as Node derives it ($printed)"
  elif [[ -n $printed ]]; then
    bad "$(basename "$f") names peer ID $printed, Node derives $kms_peer"
  fi
done
grep -q "REFUSED\|failed" "$dir/noise-node.log" && bad "noise-node refused or saw a bad frame: $(grep -m1 'REFUSED\|failed' "$dir/noise-node.log")"
"$sim" --check-record "$dir/record" >"$work/check.log" 2>&1 && ok "noise:// record: $(head -1 "$work/check.log")" ||
  { bad "check-record"; cat "$work/check.log"; }
kill -TERM "$kms_pid"
wait "$kms_pid" && ok "tmkms exits 0 on SIGTERM" || bad "tmkms exit status on SIGTERM"

# 4. A wrong pin: the node is not the one tmkms expects; no session, a log line, retries.
pin=$work/pin
kms_setup "$pin" pin-noise || exit 1
"$tmkms" softsign keygen -t identity "$pin/secrets/identity.key" >/dev/null
"${noise[@]}" --listen 127.0.0.1:0 --port-file "$pin/port" --probe-chain pin-noise >"$pin/noise-node.log" 2>&1 &
kms_pids+=($!)
wait_for 100 test -s "$pin/port" || exit 1
noise_addr "$pin" "$("${noise[@]}" --peer-id-of "$pin/other.key")" "$(cat "$pin/port")"
"$tmkms" start -c "$pin/tmkms.toml" --log-level debug >"$pin/tmkms.log" 2>&1 &
pin_kms=$!
kms_pids+=("$pin_kms")
if wait_for 200 grep -q "conn 2: accepted" "$pin/noise-node.log" && ! grep -q 'the KMS sent [1-9]' "$pin/noise-node.log"; then
  ok "a node whose peer ID is not the pinned one gets no session, and tmkms dials again"
else
  bad "wrong pin: $(tail -3 "$pin/noise-node.log")"
fi
line=$(grep -E 'WARN|ERROR|DEBUG' "$pin/tmkms.log" | grep ":$(cat "$pin/port")" |
  grep -Ei -m1 'pinned|mismatch|not (the )?(expected|allowed)')
[[ -n $line ]] && ok "tmkms says: ${line#* * }" || bad "no tmkms line about the wrong peer ID"
kill -TERM "$pin_kms"; wait "$pin_kms" 2>/dev/null

# 5. Hostile responders: each dropped, redialed, answered with nothing.
host=$work/hostile
kms_setup "$host" hostile-noise || exit 1
"$tmkms" softsign keygen -t identity "$host/secrets/identity.key" >/dev/null
hport=$(free_port)
noise_addr "$host" "$("${noise[@]}" --peer-id-of "$host/node.key")" "$hport"
"$tmkms" start -c "$host/tmkms.toml" --log-level debug >"$host/tmkms.log" 2>&1 &
kms_pids+=($!)
for mode in stall garbage badsig lowkey badmac oversize; do
  log=$host/noise-node-$mode.log
  before=$(wc -l <"$host/tmkms.log")
  "${noise[@]}" --listen "127.0.0.1:$hport" --node-key "$host/node.key" --mode "$mode" --probe-chain hostile-noise \
    >"$log" 2>&1 &
  pid=$!
  kms_pids+=("$pid")
  if wait_for 600 grep -qs "conn 2: accepted" "$log"; then
    ok "$mode: tmkms dropped the connection and dialed again"
  else
    bad "$mode: no second connection from tmkms"
  fi
  grep -q 'the KMS sent [1-9]' "$log" && bad "$mode: tmkms sent plaintext to the hostile node"
  grep -q "conn 1: ended after .* (closed by the KMS)" "$log" || bad "$mode: the first connection was not closed by tmkms"
  line=$(tail -n +"$((before + 1))" "$host/tmkms.log" | grep -E 'WARN|ERROR|DEBUG' | grep ":$hport" |
    grep -v -m1 'Connection refused')
  [[ -n $line ]] && echo "     $mode: tmkms says: ${line#* * }" || bad "$mode: no tmkms line about 127.0.0.1:$hport"
  [[ $mode == stall ]] && echo "     tmkms dropped the stalled peer after $(sed -n 's/.*conn 1: ended after \([0-9.]*\) s.*/\1/p' "$log") s"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
done
grep -q 7777777 "$host/tmkms.log" && bad "tmkms logged the hostile probe's height"

if ((failed)); then
  echo "--- noise-node"; tail -20 "$dir/noise-node.log"
  echo "--- tmkms"; tail -20 "$dir/tmkms.log"
fi
check_summary
