# A real single-validator CometBFT chain for integration tests (sourced, after kms.sh).
# The node runs the built-in kvstore app with vote extensions on from height 1 and fast
# consensus timeouts; its only validator key is moved into tmkms.
#
#   node_init BIN HOME KMS_DIR       cometbft init; genesis with vote extensions; tmkms set up
#                                    in KMS_DIR with the node's key (kms_setup), the key file
#                                    removed from the node. Sets node_chain_id, node_address.
#   node_config HOME LADDR RPC P2P   priv_validator_laddr and loopback ports in config.toml
#   node_height RPC                  the latest committed height (fails while the RPC is down)
#   node_check_blocks RPC ADDR LAST  every block 2..LAST carries ADDR's commit signature in
#                                    its LastCommit and no evidence
#   node_check_no_double_sign LOG    the node logged no conflicting vote of ours
#   node_stop PID                    SIGTERM, then SIGKILL after 20 s; waits for it
#   node_vote_extensions_height RPC  consensus_params.abci.vote_extensions_enable_height (at height 1)
#
# The same edits serve v0.38.26 and v0.40.0: v0.40.0 is of the v0.38 line (its config.toml
# says version 0.39.0), with the same config keys and vote extensions still under
# consensus_params.abci (no "feature" params, no timeout_vote).

node_init() {
  local bin=$1 home=$2 kms_dir=$3
  "$bin" init --home "$home" >"$home.init.log" 2>&1 || { cat "$home.init.log"; return 1; }
  node_chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$home/config/genesis.json")
  # Vote extensions on from height 1: the node then requires an extension signature on
  # every non-nil precommit (and panics on a missing one).
  python3 - "$home/config/genesis.json" <<'PY' || return 1
import json, sys
p = sys.argv[1]; g = json.load(open(p))
g.setdefault("consensus_params", {}).setdefault("abci", {})["vote_extensions_enable_height"] = "1"
json.dump(g, open(p, "w"), indent=2)
PY
  kms_setup "$kms_dir" "$node_chain_id" "$home/config/priv_validator_key.json" || return 1
  node_address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' \
    "$home/config/priv_validator_key.json")
  # The key lives in tmkms only from now on. (A node that used a file key instead would make
  # one anew, with another address, and the signature checks would fail.)
  rm -f "$home/config/priv_validator_key.json"
}

node_config() {
  python3 - "$1/config/config.toml" "$2" "$3" "$4" <<'PY'
import re, sys
path, laddr, rpc, p2p = sys.argv[1:]
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
settop("priv_validator_laddr", '"%s"' % laddr)
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
}

# RPC on 127.0.0.1 only, never through a proxy.
node_rpc() {
  python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(json.dumps(json.load(opener.open("http://127.0.0.1:%s/%s" % (sys.argv[1], sys.argv[2]), timeout=3))))
PY
}

node_height() {
  node_rpc "$1" status 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null
}

node_vote_extensions_height() {
  # At height 1: the latest height's parameters may not be stored yet (RPC error).
  node_rpc "$1" "consensus_params?height=1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["consensus_params"]["abci"]["vote_extensions_enable_height"])' 2>/dev/null
}

node_check_blocks() {
  python3 - "$1" "$2" "$3" <<'PY'
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
}

# The node's logs name conflicting votes from ourselves ("Found conflicting vote from
# ourselves") and evidence of double signing.
node_check_no_double_sign() {
  if grep -iE "conflicting vote|double.?sign|duplicate vote evidence" "$1" | grep -v "double_sign_check" >"$1.doublesign"; then
    head -5 "$1.doublesign"
    return 1
  fi
}

# Stop a node: SIGTERM, and SIGKILL if it has not exited within 20 s. Stop the node before
# its signer: with the signer gone, CometBFT (v0.38.26, v0.40.0) blocks consensus in
# RetrySignerClient (50 attempts, each waiting seconds for a connection) and takes
# ~7 minutes to exit on SIGTERM.
node_stop() {
  local tries=200
  kill -TERM "$1" 2>/dev/null
  while ((tries-- > 0)) && kill -0 "$1" 2>/dev/null; do sleep 0.1; done
  { kill -KILL "$1"; wait "$1"; } 2>/dev/null
  return 0
}
