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

"$cometbft" init --home "$node_home" >"$work/init.log" 2>&1 || { cat "$work/init.log"; echo "FAIL cometbft init"; exit 1; }
chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$node_home/config/genesis.json")
# Vote extensions on from height 1: the node then requires an extension signature on every
# non-nil precommit (and panics on a missing one).
python3 - "$node_home/config/genesis.json" <<'PY'
import json, sys
p = sys.argv[1]; g = json.load(open(p))
g.setdefault("consensus_params", {}).setdefault("abci", {})["vote_extensions_enable_height"] = "1"
json.dump(g, open(p, "w"), indent=2)
PY
kms_setup "$work/kms" "$chain_id" "$node_home/config/priv_validator_key.json" || { echo "FAIL tmkms setup"; exit 1; }
address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$node_home/config/priv_validator_key.json")
# The key lives in tmkms only from now on. (A node that used a file key instead would make
# one anew, with another address, and the signature check below would fail.)
rm -f "$node_home/config/priv_validator_key.json"

python3 - "$node_home/config/config.toml" "$work/kms/node.sock" "$rpc_port" "$p2p_port" <<'PY'
import re, sys
path, sock, rpc, p2p = sys.argv[1:]
text = open(path).read()
def setkey(section, key, value):
    global text
    pattern = re.compile(r'(^\[%s\][^\[]*?^%s = )[^\n]*' % (re.escape(section), re.escape(key)), re.M | re.S)
    text, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
    assert n == 1, (section, key)
def settop(key, value):
    global text
    head, sep, rest = text.partition("\n[")
    head, n = re.subn(r'^%s = [^\n]*' % re.escape(key), '%s = %s' % (key, value), head, count=1, flags=re.M)
    assert n == 1, key
    text = head + sep + rest
settop("priv_validator_laddr", '"unix://%s"' % sock)
settop("proxy_app", '"kvstore"')
setkey("rpc", "laddr", '"tcp://127.0.0.1:%s"' % rpc)
setkey("p2p", "laddr", '"tcp://127.0.0.1:%s"' % p2p)
setkey("p2p", "addr_book_strict", "false")
setkey("p2p", "pex", "false")
for key, value in [("timeout_propose", '"1s"'), ("timeout_prevote", '"200ms"'),
                   ("timeout_precommit", '"200ms"'), ("timeout_commit", '"50ms"')]:
    setkey("consensus", key, value)
open(path, "w").write(text)
PY
[[ $? -eq 0 ]] || { echo "FAIL editing config.toml"; exit 1; }

# RPC on 127.0.0.1 only, never through a proxy.
rpc() {
  python3 - "$rpc_port" "$1" <<'PY'
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(json.dumps(json.load(opener.open("http://127.0.0.1:%s/%s" % (sys.argv[1], sys.argv[2]), timeout=3))))
PY
}
height() {
  rpc status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null
}

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

python3 - "$rpc_port" "$address" "$final" <<'PY' || fail "block check"
import json, sys, urllib.request
port, address, last = sys.argv[1], sys.argv[2].upper(), int(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(path):
    return json.load(opener.open("http://127.0.0.1:%s/%s" % (port, path), timeout=10))["result"]
bad = 0
for h in range(2, last + 1):
    b = get("block?height=%d" % h)["block"]
    ev = b.get("evidence", {}).get("evidence") or []
    if ev:
        print("evidence in block %d: %s" % (h, ev)); bad += 1
    sigs = [s for s in b["last_commit"]["signatures"] if (s.get("validator_address") or "").upper() == address]
    if len(b["last_commit"]["signatures"]) != 1 or not sigs:
        print("block %d: last commit has no signature from %s" % (h, address)); bad += 1
    elif sigs[0]["block_id_flag"] != 2 or not sigs[0]["signature"]:
        print("block %d: last commit entry of %s is not a commit signature: %s" % (h, address, sigs[0])); bad += 1
print("checked the last commits of blocks 2..%d: %d problems" % (last, bad))
sys.exit(1 if bad else 0)
PY

# The node's logs name conflicting votes from ourselves ("Found conflicting vote from
# ourselves") and evidence of double signing.
if grep -iE "conflicting vote|double.?sign|duplicate vote evidence" "$work/node.log" | grep -v "double_sign_check" >"$work/doublesign.txt"; then
  cat "$work/doublesign.txt" | head -5
  fail "the node logged a conflicting vote / double-sign evidence"
fi

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
