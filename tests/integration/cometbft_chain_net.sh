#!/usr/bin/env bash
# Real CometBFT nodes over the network transports: a single-validator chain (kvstore,
# vote extensions on) whose key lives in tmkms, reached over
#   tcp:// with a v0.38.26 node   (Secret Connection; the node's privval identity is fresh
#   tcp:// with a v0.40.0 node     at every start, so tmkms runs unpinned and warns)
#   noise:// with a v0.40.0 node  (libp2p Noise; the node allows tmkms's peer ID, tmkms
#                                  pins the node's peer ID from its node_key.json)
# Each leg commits BLOCKS blocks (30; 300 with TMKMS_TEST_LONG=1) with tmkms SIGKILLed and
# restarted halfway (it must come back over the encrypted transport by itself); every
# block from height 2 carries our commit signature, no evidence, no conflicting vote in
# the node's log, and tmkms's state reaches the last height. On the noise leg, a tmkms
# with an identity the node does not allow gets no session and says why.
# labels: cometbft;chain;secret-connection;noise
# timeout: 600
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
source "$TMKMS_SOURCE_DIR/tests/lib/cometbft_node.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
blocks=30
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && blocks=300
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# leg NAME NODE_BIN SCHEME: one chain, signed over SCHEME. Returns non-zero on a failure
# (already reported).
leg() {
  local name=$1 bin=$2 scheme=$3 dir=$work/$1
  local home=$dir/node kms=$dir/kms rpc p2p port
  mkdir -p "$dir"
  rpc=$(free_port) p2p=$(free_port) port=$(free_port)
  node_init "$bin" "$home" "$kms" || { bad "$name: node init"; return 1; }
  local keys kms_peer_id addr laddr
  keys=$("$tmkms" softsign keygen -t identity "$kms/secrets/identity.key")
  kms_peer_id=$(sed -n 's/^peer ID: //p' <<<"$keys")
  if [[ $scheme == noise ]]; then
    laddr="noise://$kms_peer_id@127.0.0.1:$port"
    addr="noise://$("$bin" show-node-id --libp2p --home "$home")@127.0.0.1:$port"
  else
    laddr="tcp://127.0.0.1:$port"
    addr="tcp://127.0.0.1:$port"
  fi
  node_config "$home" "$laddr" "$rpc" "$p2p" || { bad "$name: config.toml"; return 1; }
  sed -i "s|addr = \"unix://$kms/node.sock\"|addr = \"$addr\"\nsecret_key = \"secrets/identity.key\"|" "$kms/tmkms.toml"

  local start=$SECONDS node_pid h
  "$bin" start --home "$home" >>"$dir/node.log" 2>&1 &
  node_pid=$!
  kms_pids+=("$node_pid")
  kms_start "$kms"
  # wait_height H: until the chain has committed H blocks (120 s at most).
  wait_height() {
    local deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
      kill -0 "$node_pid" 2>/dev/null || { echo "    the node exited"; return 1; }
      grep -q "CONSENSUS FAILURE" "$dir/node.log" && { echo "    consensus failure"; return 1; }
      h=$(node_height "$rpc") || h=0
      [[ -n $h && $h -ge $1 ]] && return 0
      sleep 0.3
    done
    echo "    stuck at height ${h:-?}"
    return 1
  }
  if ! wait_height $((blocks / 2)); then
    bad "$name: the chain did not reach height $((blocks / 2))"; tail -5 "$dir/node.log" "$kms/tmkms.log"; return 1
  fi
  { kill -KILL "$kms_pid"; wait "$kms_pid"; } 2>/dev/null
  kms_start "$kms"
  if ! wait_height "$blocks"; then
    bad "$name: the chain did not reach height $blocks after tmkms's restart"; tail -5 "$dir/node.log" "$kms/tmkms.log"
    return 1
  fi
  local final elapsed=$((SECONDS - start))
  final=$(node_height "$rpc")
  if node_check_blocks "$rpc" "$node_address" "$final" >"$dir/blocks.out" &&
    node_check_no_double_sign "$dir/node.log"; then
    ok "$name: $final blocks in $elapsed s, tmkms SIGKILLed and back over $scheme://; $(tail -1 "$dir/blocks.out")"
  else
    bad "$name: block check"; cat "$dir/blocks.out"
  fi
  if [[ $scheme == tcp ]]; then
    grep -q "is not pinned" "$kms/tmkms.log" && ok "$name: tmkms warned that the node is not pinned" ||
      bad "$name: no warning about the missing pin"
  fi
  kill -TERM "$kms_pid"
  wait "$kms_pid" 2>/dev/null && ok "$name: tmkms exits cleanly on SIGTERM" || bad "$name: tmkms exit status"
  local state_h
  state_h=$("$tmkms" state show -c "$kms/tmkms.toml" 2>&1 | grep -oE 'height [0-9]+' | head -1 | awk '{print $2}')
  [[ -n $state_h && $state_h -ge $final ]] && ok "$name: tmkms's state at height $state_h >= $final" ||
    bad "$name: tmkms's state ${state_h:-?} is below the committed height $final"

  if [[ $scheme == noise ]]; then
    # Another identity, same consensus key: the node must not let it sign.
    local intr=$dir/intruder
    mkdir -p "$intr"
    cp -a "$kms/secrets" "$kms/state" "$intr/"
    rm "$intr/secrets/identity.key"
    "$tmkms" softsign keygen -t identity "$intr/secrets/identity.key" >/dev/null
    sed "s|$kms|$intr|g" "$kms/tmkms.toml" >"$intr/tmkms.toml"
    local before
    before=$(node_height "$rpc")
    "$tmkms" start -c "$intr/tmkms.toml" >"$intr/tmkms.log" 2>&1 &
    local intr_pid=$!
    kms_pids+=("$intr_pid")
    if wait_for 150 grep -q "does it allow this KMS's identity" "$intr/tmkms.log"; then
      ok "$name: a KMS the node does not allow gets no session: $(grep -m1 -o 'closed by the node.*identity?)' "$intr/tmkms.log")"
    else
      bad "$name: no refusal seen for the unallowed KMS"; tail -5 "$intr/tmkms.log"
    fi
    grep -E "\] signed (vote|proposal|prevote|precommit)" "$intr/tmkms.log" && bad "$name: the unallowed KMS signed something"
    kill -TERM "$intr_pid"; wait "$intr_pid" 2>/dev/null
  fi
  stop_pid "$node_pid"
}

leg tcp-v038 "$peers/cometbft" tcp
leg tcp-v040 "$peers/cometbft-v040" tcp
leg noise-v040 "$peers/cometbft-v040" noise
echo "$passed passed, $failed failed"
((failed == 0))
