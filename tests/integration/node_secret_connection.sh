#!/usr/bin/env bash
# tcp:// against an independent node side: tests/node/sc-node.mjs (the Secret Connection
# written in Node.js from CometBFT's Go source) listens, tmkms dials it with its identity
# key and the node ID pinned, and sc-node bridges the plaintext to validator-sim. The same
# validator-sim scenarios (same seed) run once over unix:// and once over tcp://: both pass
# and their summaries are identical. The KMS node ID that sc-node authenticated equals what
# `tmkms softsign keygen -t identity` printed and what Node computes from the key file.
# labels: node;secret-connection
# timeout: 180
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
sim="$TMKMS_BUILD_DIR/bin/validator-sim"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_node_peers || exit 1
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"
scenarios=basic,guard,storm,oversize
seed=$((RANDOM * 32768 + RANDOM + 1))

# run_sim DIR: validator-sim on DIR/sim.sock; sets sim_pid.
run_sim() {
  "$sim" --socket "$1/sim.sock" --chain-id node-sc --scenario "$scenarios" --heights 30 --seed "$seed" \
    --expect-pubkey "$(kms_pubkey_b64 "$1")" --record "$1/record" >"$1/sim.log" 2>&1 &
  sim_pid=$!
  kms_pids+=("$sim_pid")
  wait_for 100 test -S "$1/sim.sock" || { echo "FAIL validator-sim did not listen"; cat "$1/sim.log"; exit 1; }
}

# The summary without the line naming the (per-run) consensus key.
summary() { sed -n '/^validator-sim summary/,$p' "$1/sim.log" | grep -v 'consensus key'; }

# 1. Reference: validator-sim directly on tmkms's unix:// socket.
ref=$work/unix
kms_setup "$ref" node-sc || exit 1
run_sim "$ref"
sed -i "s|unix://$ref/node.sock|unix://$ref/sim.sock|" "$ref/tmkms.toml"
kms_start "$ref"
wait "$sim_pid" && grep -q '^result: PASS' "$ref/sim.log" && ok "unix:// reference run: $scenarios pass (seed $seed)" ||
  { bad "unix:// reference run"; tail -30 "$ref/sim.log"; }
kill -TERM "$kms_pid"; wait "$kms_pid" 2>/dev/null

# 2. The same over tcp:// through sc-node.
dir=$work/tcp
kms_setup "$dir" node-sc || exit 1
keygen_id=$("$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" | sed -n 's/^node ID: //p')
node_calc_id=$(node "$node_dir/sc-node.mjs" --node-id-of "$dir/secrets/identity.key")
if [[ -n $keygen_id && $keygen_id == "$node_calc_id" ]]; then
  ok "the node ID tmkms printed for its identity key ($keygen_id) is what Node computes from the key file"
else
  bad "node ID: tmkms printed '$keygen_id', Node computes '$node_calc_id'"
fi
run_sim "$dir"
node "$node_dir/sc-node.mjs" --listen 127.0.0.1:0 --port-file "$dir/port" --node-key "$dir/node.key" \
  --node-id-file "$dir/node-id" --kms-id-file "$dir/kms-id" --expect-kms-id "$keygen_id" \
  --bridge "$dir/sim.sock" >"$dir/sc-node.log" 2>&1 &
kms_pids+=($!)
wait_for 100 test -s "$dir/port" || { echo "FAIL sc-node did not start"; cat "$dir/sc-node.log"; exit 1; }
node_id=$(cat "$dir/node-id")
[[ $node_id == $(node "$node_dir/sc-node.mjs" --node-id-of "$dir/node.key") ]] || bad "sc-node's persistent key gives another ID"
sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"tcp://$node_id@127.0.0.1:$(cat "$dir/port")\"\nsecret_key = \"secrets/identity.key\"|" \
  "$dir/tmkms.toml"
kms_start "$dir"
if wait "$sim_pid" && grep -q '^result: PASS' "$dir/sim.log"; then
  ok "tcp:// through sc-node: $scenarios pass"
else
  bad "tcp:// through sc-node: validator-sim failed"; tail -30 "$dir/sim.log"
fi
if diff <(summary "$ref") <(summary "$dir") >"$work/summary.diff"; then
  ok "validator-sim's summaries over unix:// and tcp:// are identical"
else
  bad "validator-sim's summaries differ between unix:// and tcp://"; cat "$work/summary.diff"
fi
summary "$dir" | sed 's/^/    /' | head -12
seen=$(cat "$dir/kms-id" 2>/dev/null)
[[ $seen == "$keygen_id" ]] && ok "sc-node authenticated the KMS as $seen, the keygen ID" ||
  bad "sc-node saw KMS node ID '$seen', keygen printed '$keygen_id'"
grep -q "handshake complete" "$dir/sc-node.log" && ! grep -q "REFUSED\|failed" "$dir/sc-node.log" &&
  ok "sc-node: handshake complete, no refusal, no bad frame" || { bad "sc-node log"; cat "$dir/sc-node.log"; }
grep -q "connected to tcp://$node_id@" "$dir/tmkms.log" && ! grep -q "not pinned" "$dir/tmkms.log" &&
  ok "tmkms connected with the node ID pinned" || bad "tmkms did not connect pinned"
"$sim" --check-record "$dir/record" >"$work/check.log" 2>&1 && ok "tcp:// record: $(head -1 "$work/check.log")" ||
  { bad "check-record"; cat "$work/check.log"; }
kill -TERM "$kms_pid"
wait "$kms_pid" && ok "tmkms exits 0 on SIGTERM" || bad "tmkms exit status on SIGTERM"

if ((failed)); then
  echo "--- sc-node"; tail -20 "$dir/sc-node.log"
  echo "--- tmkms"; tail -20 "$dir/tmkms.log"
fi
check_summary
