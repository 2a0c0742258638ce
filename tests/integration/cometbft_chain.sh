#!/usr/bin/env bash
# A real single-validator chain: CometBFT v0.38 (`cometbft init`, the built-in kvstore app,
# vote extensions enabled) whose only validator key lives in tmkms over a Unix socket.
# The chain must commit CHAIN_BLOCKS blocks (100; 500 with TMKMS_TEST_LONG=1) while tmkms
# is killed with SIGKILL and restarted once and the node is restarted once; afterwards every
# block carries our validator's commit signature and no block holds evidence.
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc_port=$(free_port)
p2p_port=$(free_port)

"$cometbft" init --home "$node_home" >/dev/null 2>&1 || { echo "cometbft init failed"; exit 1; }
chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$node_home/config/genesis.json")
# Vote extensions on from height 1: the node then requires an extension signature on every
# non-nil precommit, and panics on a missing one.
python3 - "$node_home/config/genesis.json" <<'PY'
import json, sys
p = sys.argv[1]; g = json.load(open(p))
g.setdefault("consensus_params", {}).setdefault("abci", {})["vote_extensions_enable_height"] = "1"
json.dump(g, open(p, "w"), indent=2)
PY
kms_setup "$work/kms" "$chain_id" "$node_home/config/priv_validator_key.json" || exit 1
address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$node_home/config/priv_validator_key.json")
# The key now lives in tmkms only.
rm -f "$node_home/config/priv_validator_key.json"

python3 - "$node_home/config/config.toml" "$work/kms/node.sock" "$rpc_port" "$p2p_port" <<'PY'
import re, sys
path, sock, rpc, p2p = sys.argv[1:]
text = open(path).read()
def setkey(section, key, value):
    global text
    pattern = re.compile(r'(\[%s\][^\[]*?^%s = )[^\n]*' % (re.escape(section), re.escape(key)), re.M | re.S)
    text, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
    assert n == 1, (section, key)
def settop(key, value):
    global text
    text, n = re.subn(r'^%s = [^\n]*' % re.escape(key), '%s = %s' % (key, value), text, count=1, flags=re.M)
    assert n == 1, key
settop("priv_validator_laddr", '"unix://%s"' % sock)
settop("proxy_app", '"kvstore"')
setkey("rpc", "laddr", '"tcp://127.0.0.1:%s"' % rpc)
setkey("p2p", "laddr", '"tcp://127.0.0.1:%s"' % p2p)
setkey("p2p", "addr_book_strict", "false")
for key, value in [("timeout_propose", '"1s"'), ("timeout_prevote", '"200ms"'), ("timeout_precommit", '"200ms"'),
                   ("timeout_commit", '"50ms"')]:
    setkey("consensus", key, value)
open(path, "w").write(text)
PY

node_pid=
start_node() {
  "$cometbft" start --home "$node_home" >>"$work/node.log" 2>&1 &
  node_pid=$!
  kms_pids+=("$node_pid")
}
height() {
  python3 - "$rpc_port" <<'PY' 2>/dev/null
import json, sys, urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=2))
print(s["result"]["sync_info"]["latest_block_height"])
PY
}
# wait_height H SECONDS
wait_height() {
  local deadline=$((SECONDS + $2)) h=0
  while ((SECONDS < deadline)); do
    h=$(height) || h=0
    [[ -n $h && $h -ge $1 ]] && return 0
    sleep 0.5
  done
  echo "chain stuck at height ${h:-?} (wanted $1)"
  return 1
}
fail() {
  echo "FAIL: $*"
  echo "--- node log"; tail -40 "$work/node.log"
  echo "--- tmkms log"; tail -40 "$work/kms/tmkms.log"
  exit 1
}

start=$SECONDS
start_node
kms_start "$work/kms"
wait_height $((blocks / 3)) 300 || fail "no progress before the KMS crash"
echo "height $(height): killing tmkms with SIGKILL and restarting it"
kill -KILL "$kms_pid"
wait "$kms_pid" 2>/dev/null
kms_start "$work/kms"
wait_height $((2 * blocks / 3)) 300 || fail "no progress after the KMS restart"
echo "height $(height): restarting the node"
kill -TERM "$node_pid"
wait "$node_pid" 2>/dev/null
start_node
wait_height "$blocks" 300 || fail "no progress after the node restart"
echo "reached height $(height) in $((SECONDS - start)) s"

python3 - "$rpc_port" "$address" "$blocks" <<'PY' || fail "block check"
import json, sys, urllib.request
port, address, blocks = sys.argv[1], sys.argv[2].upper(), int(sys.argv[3])
bad = 0
for h in range(2, blocks + 1):
    b = json.load(urllib.request.urlopen("http://127.0.0.1:%s/block?height=%d" % (port, h), timeout=5))["result"]["block"]
    if b["evidence"]["evidence"]:
        print("evidence in block %d: %s" % (h, b["evidence"]["evidence"])); bad += 1
    sigs = [s for s in b["last_commit"]["signatures"] if s["validator_address"].upper() == address]
    if not sigs or sigs[0]["block_id_flag"] != 2 or not sigs[0]["signature"]:
        print("block %d: no commit signature from %s" % (h, address)); bad += 1
print("checked blocks 2..%d: %d problems" % (blocks, bad))
sys.exit(1 if bad else 0)
PY
grep -qi "double.sign\|conflicting votes" "$work/node.log" && fail "the node logged double-sign evidence"
echo "signatures by tmkms: $(grep -c ' signed ' "$work/kms/tmkms.log"), refusals: $(grep -c 'refused' "$work/kms/tmkms.log")"
echo "1 passed, 0 failed"
