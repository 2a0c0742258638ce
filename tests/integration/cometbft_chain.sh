#!/usr/bin/env bash
# A real single-validator chain: CometBFT v0.38 (`cometbft init`, the built-in kvstore app,
# vote extensions enabled from height 1) whose only validator key lives in tmkms, reached
# over a Unix socket (priv_validator_laddr; the node listens, tmkms dials).
# The chain must commit BLOCKS blocks (100; 500 with TMKMS_TEST_LONG=1) while tmkms is
# killed with SIGKILL and restarted once (at BLOCKS/3) and the node is restarted once (at
# 2*BLOCKS/3). Then: every block from height 2 carries our validator's commit signature in
# its LastCommit, no block holds evidence, the node logged no conflicting vote of ours,
# and tmkms's durable state has reached the last committed height.
# labels: cometbft;chain
# timeout: 900
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
source "$TMKMS_SOURCE_DIR/tests/lib/cometbft_node.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
blocks=100
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && blocks=500
node_home=$work/node
cometbft=$peers/cometbft

rpc_port=$(free_port)
p2p_port=$(free_port)
while [[ $p2p_port == "$rpc_port" ]]; do p2p_port=$(free_port); done

node_init "$cometbft" "$node_home" "$work/kms" || { echo "FAIL cometbft init / tmkms setup"; exit 1; }
chain_id=$node_chain_id address=$node_address
node_config "$node_home" "unix://$work/kms/node.sock" "$rpc_port" "$p2p_port" || { echo "FAIL editing config.toml"; exit 1; }
height() { node_height "$rpc_port"; }

node_pid=
start_node() {
  # CometBFT v0.38 leaves its privval socket file behind when it stops, and its listener
  # then fails with "address already in use": remove it first, as a service unit would.
  rm -f "$work/kms/node.sock"
  "$cometbft" start --home "$node_home" >>"$work/node.log" 2>&1 &
  node_pid=$!
  kms_pids+=("$node_pid")
}
fail() {
  echo "FAIL: $*"
  echo "--- node log (last 40 lines)"; tail -40 "$work/node.log"
  echo "--- tmkms log (last 40 lines)"; tail -40 "$work/kms/tmkms.log"
  echo "0 passed, 1 failed"
  exit 1
}
# wait_height H SECONDS: until the chain has committed H blocks; fails early if the node
# or tmkms died.
wait_height() {
  local deadline=$((SECONDS + $2)) h=0
  while ((SECONDS < deadline)); do
    kill -0 "$node_pid" 2>/dev/null || fail "the node exited (waiting for height $1)"
    kill -0 "$kms_pid" 2>/dev/null || fail "tmkms exited (waiting for height $1)"
    # A panic in consensus (e.g. a missing extension signature) leaves the process up.
    grep -q "CONSENSUS FAILURE" "$work/node.log" && fail "the node's consensus failed (waiting for height $1)"
    h=$(height) || h=0
    [[ -n $h && $h -ge $1 ]] && return 0
    sleep 0.5
  done
  fail "chain stuck at height ${h:-?} for $2 s (wanted $1)"
}

start=$SECONDS
start_node
kms_start "$work/kms"
wait_height $((blocks / 3)) 180
t1=$SECONDS
echo "height $(height) after $((t1 - start)) s: killing tmkms with SIGKILL and restarting it"
{ kill -KILL "$kms_pid"; wait "$kms_pid"; } 2>/dev/null
kms_start "$work/kms"
wait_height $((2 * blocks / 3)) 180
echo "height $(height) after $((SECONDS - start)) s: restarting the node (SIGTERM)"
kill -TERM "$node_pid"
wait "$node_pid" 2>/dev/null
# Optional downtime of the node in seconds (default none). CometBFT waits about 3 s for
# its signer at start and exits without it, so tmkms's redial interval must stay below that.
sleep "${TMKMS_CHAIN_NODE_DOWNTIME:-0}"
start_node
wait_height "$blocks" 180
elapsed=$((SECONDS - start))
final=$(height)

node_check_blocks "$rpc_port" "$address" "$final" || fail "block check"
node_check_no_double_sign "$work/node.log" || fail "the node logged a conflicting vote / double-sign evidence"

# Stop: the node, then tmkms, which must exit cleanly on SIGTERM.
kill -TERM "$node_pid"
wait "$node_pid" 2>/dev/null
kill -TERM "$kms_pid"
kms_rc=0
wait "$kms_pid" 2>/dev/null || kms_rc=$?
kms_pids=()
[[ $kms_rc -eq 0 ]] || fail "tmkms exited with status $kms_rc on SIGTERM (want 0)"

# tmkms's durable state reached the last committed height.
state=$("$TMKMS_BUILD_DIR/bin/tmkms" state show -c "$work/kms/tmkms.toml" 2>&1)
state_height=$(printf '%s\n' "$state" | grep -oE 'height [0-9]+' | head -1 | awk '{print $2}')
[[ -n $state_height && $state_height -ge $final ]] || fail "tmkms state '$state' is below the committed height $final"

echo "chain: $final blocks in $elapsed s (tmkms SIGKILLed once, node restarted once); state: ${state%%$'\n'*}"
echo "tmkms log: $(grep -c ' signed ' "$work/kms/tmkms.log") signature lines, $(grep -c ' refused ' "$work/kms/tmkms.log") refusals"
echo "1 passed, 0 failed"
