#!/usr/bin/env bash
# Real CometBFT nodes over the network transports: a single-validator chain (kvstore,
# vote extensions on) whose key lives in tmkms, reached over
#   tcp:// with a v0.38.26 node   (Secret Connection; the node's privval identity is fresh
#   tcp:// with a v0.40.0 node     at every start, so tmkms runs unpinned and warns)
#   noise:// with a v0.40.0 node  (libp2p Noise; the node allows tmkms's peer ID, tmkms
#                                  pins the node's peer ID from its node_key.json)
# Each leg commits BLOCKS blocks (30; 300 with TMKMS_TEST_LONG=1) with tmkms SIGKILLed and
# restarted halfway (it must come back over the encrypted transport by itself, and the
# restarted process must sign); every block from height 2 carries our commit signature, no
# evidence, no conflicting vote in the node's log, the node's vote extensions are on (RPC
# consensus_params), and tmkms's state reaches the last height. On the tcp legs tmkms
# warns that the node is not pinned. On the noise leg, a tmkms with an identity the node
# does not allow gets no session and says why, the node logs its refusal, the chain does
# not move for 2 s, and then the allowed tmkms signs again.
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
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

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
      kill -0 "$kms_pid" 2>/dev/null || { echo "    tmkms exited"; return 1; }
      grep -q "CONSENSUS FAILURE" "$dir/node.log" && { echo "    consensus failure"; return 1; }
      h=$(node_height "$rpc") || h=0
      [[ -n $h && $h -ge $1 ]] && return 0
      sleep 0.3
    done
    echo "    stuck at height ${h:-?}"
    return 1
  }
  if ! wait_height $((blocks / 2)); then
    bad "$name: the chain did not reach height $((blocks / 2))"; tail -n 5 "$dir/node.log" "$kms/tmkms.log"; return 1
  fi
  { kill -KILL "$kms_pid"; wait "$kms_pid"; } 2>/dev/null
  kms_start "$kms"
  if ! wait_height "$blocks"; then
    bad "$name: the chain did not reach height $blocks after tmkms's restart"; tail -n 5 "$dir/node.log" "$kms/tmkms.log"
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
  # The node really had vote extensions on (so it asked for, and checked, an extension
  # signature on every non-nil precommit).
  local ve= try
  for try in 1 2 3 4 5; do
    ve=$(node_vote_extensions_height "$rpc") && [[ -n $ve ]] && break
    sleep 0.5
  done
  [[ $ve == 1 ]] && ok "$name: the node's vote extensions are enabled from height 1" || {
    bad "$name: the node's vote_extensions_enable_height is '${ve:-?}', not 1"
    node_rpc "$rpc" "consensus_params?height=1" 2>&1 | tail -n 3
  }
  # Both tmkms processes had a session over the transport, and the restarted one signed.
  local conns after
  conns=$(grep -c "connected to $scheme://" "$kms/tmkms.log")
  after=$(awk '/ starting with /{n=0} / signed /{n++} END{print n+0}' "$kms/tmkms.log")
  ((conns >= 2 && after > 0)) &&
    ok "$name: tmkms connected $conns times over $scheme://; the restarted tmkms made $after signatures" ||
    bad "$name: tmkms connected $conns times over $scheme://, the restarted tmkms made $after signatures"
  if [[ $scheme == tcp ]]; then
    grep -q "is not pinned" "$kms/tmkms.log" && ok "$name: tmkms warned that the node is not pinned" ||
      bad "$name: no warning about the missing pin"
  else
    ! grep -q "is not pinned" "$kms/tmkms.log" && grep -q "this KMS's peer ID is $kms_peer_id" "$kms/tmkms.log" &&
      ok "$name: tmkms pinned the node's peer ID and logged its own ($kms_peer_id)" ||
      bad "$name: pin warning, or no 'this KMS's peer ID' line"
  fi
  # Stop the node while its signer is still connected: a node whose signer is gone keeps
  # consensus blocked in its signing retries (50 attempts, ~400 s) and only exits after.
  [[ $scheme == tcp ]] && node_stop "$node_pid"
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
    local intr_peer_id
    intr_peer_id=$("$tmkms" softsign keygen -t identity "$intr/secrets/identity.key" | sed -n 's/^peer ID: //p')
    sed "s|$kms|$intr|g" "$kms/tmkms.toml" >"$intr/tmkms.toml"
    # The height at which the chain stopped without its signer (a block whose precommit was
    # signed just before tmkms stopped may still be committed: wait until it is stable).
    local before prev= try
    for try in 1 2 3 4 5; do
      before=$(node_height "$rpc")
      [[ $before == "$prev" ]] && break
      prev=$before
      sleep 0.3
    done
    "$tmkms" start -c "$intr/tmkms.toml" >"$intr/tmkms.log" 2>&1 &
    local intr_pid=$!
    kms_pids+=("$intr_pid")
    if wait_for 150 grep -q "does it allow this KMS's identity" "$intr/tmkms.log"; then
      ok "$name: a KMS the node does not allow gets no session: $(grep -m1 -o 'closed by the node.*identity?)' "$intr/tmkms.log")"
    else
      bad "$name: no refusal seen for the unallowed KMS"; tail -5 "$intr/tmkms.log"
    fi
    # It keeps redialing; give it 2 s in which, were it served, the chain would move on.
    sleep 2
    local after_intr
    after_intr=$(node_height "$rpc")
    if [[ $after_intr == "$before" ]] && ! grep -qE "\] signed " "$intr/tmkms.log"; then
      ok "$name: nothing signed by the unallowed KMS, the chain stayed at height $before"
    else
      bad "$name: the unallowed KMS signed (height $before -> $after_intr)"
    fi
    grep -q "rejecting non-allowlisted signer peer.*peer=$intr_peer_id" "$dir/node.log" &&
      ok "$name: the node logged its refusal of $intr_peer_id" || bad "$name: the node did not log the refusal"
    kill -TERM "$intr_pid"; wait "$intr_pid" 2>/dev/null
    # The node still serves its allowed KMS afterwards.
    kms_start "$kms"
    if wait_height $((before + 3)); then
      ok "$name: the allowed KMS signs again after the refusals (height $(node_height "$rpc"))"
    else
      bad "$name: the chain did not resume with the allowed KMS"
    fi
    node_stop "$node_pid"
    kill -TERM "$kms_pid"; wait "$kms_pid" 2>/dev/null
  fi
}

leg tcp-v038 "$peers/cometbft" tcp
leg tcp-v040 "$peers/cometbft-v040" tcp
leg noise-v040 "$peers/cometbft-v040" noise
check_summary
