#!/usr/bin/env bash
# A real single-validator CometBFT chain (kvstore, vote extensions on from height 1) whose
# only validator key lives in the simulated Nitro enclave (scripts/simulate: KMS and IMDS
# emulators, tmkms-nitro-enclave-sim, tmkms-nitro-helper). The genesis validator is the
# enclave's consensus key (SIM_PUBKEY); the node's own key file is removed. Two legs, each
# its own chain and simulation:
#   unix-v038   cometbft v0.38.26, priv_validator_laddr = unix://SOCKET; the helper relays
#               the enclave's plain privval stream to it
#   noise-v040  cometbft v0.40.0, priv_validator_laddr = noise://<enclave peer ID>@127.0.0.1:PORT;
#               the enclave runs Noise itself and pins the node's peer ID (show-node-id
#               --libp2p), the helper relays ciphertext
# Each leg commits BLOCKS blocks (20; 200 with TMKMS_TEST_LONG=1) with the helper SIGKILLed
# and restarted halfway; every block from height 2 carries our commit signature, no
# evidence, no conflicting vote in the node's log, vote extensions on; the enclave
# connected again through the restarted helper and signed; the helper's state file
# reaches the last committed height. The node is stopped before the helper and enclave
# (a CometBFT node whose signer is gone takes minutes to exit; docs/TRANSPORTS.md).
# labels: nitro;cometbft;chain;noise
# timeout: 400
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
source "$TMKMS_SOURCE_DIR/tests/lib/cometbft_node.sh"
src=$TMKMS_SOURCE_DIR
build=$TMKMS_BUILD_DIR
bin=$build/bin
work=$(mktemp -d /tmp/ncc.XXXXXX) # short: the simulation's socket paths live under it
cleanup() {
  local d
  # Nodes first (kms_pids), then the simulations.
  for d in "$work"/*/node.pid; do [[ -f $d ]] && kill -KILL "$(cat "$d")" 2>/dev/null; done
  for d in "$work"/*/s; do [[ -d $d ]] && "$src/scripts/simulate" down --dir "$d" >/dev/null 2>&1; done
  kms_cleanup
}
trap cleanup EXIT
ensure_peers || exit 1
blocks=20
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && blocks=200
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

# genesis_for_key GENESIS PUBKEY_B64: the only validator is PUBKEY (power 10), vote
# extensions from height 1; prints the validator's address.
genesis_for_key() {
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, json, sys
path, key = sys.argv[1], sys.argv[2]
raw = base64.b64decode(key)
assert len(raw) == 32
address = hashlib.sha256(raw).hexdigest()[:40].upper()
g = json.load(open(path))
g["validators"] = [{"address": address, "pub_key": {"type": "tendermint/PubKeyEd25519", "value": key},
                    "power": "10", "name": "nitro-enclave"}]
g.setdefault("consensus_params", {}).setdefault("abci", {})["vote_extensions_enable_height"] = "1"
json.dump(g, open(path, "w"), indent=2)
print(address)
PY
}

# leg NAME NODE_BIN SCHEME(unix|noise)
leg() {
  local name=$1 nbin=$2 scheme=$3 dir=$work/$1
  local home=$dir/node s=$dir/s rpc p2p port
  mkdir -p "$dir"
  rpc=$(free_port) p2p=$(free_port) port=$(free_port)
  "$nbin" init --home "$home" >"$dir/node-init.log" 2>&1 || { bad "$name: node init"; cat "$dir/node-init.log"; return 1; }
  rm -f "$home/config/priv_validator_key.json" # the key lives in the enclave only
  local chain addr
  chain=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$home/config/genesis.json")
  if [[ $scheme == noise ]]; then
    addr="noise://$("$nbin" show-node-id --libp2p --home "$home")@127.0.0.1:$port"
  else
    addr="unix://$dir/pv.sock"
  fi

  local t0=$SECONDS
  if ! "$src/scripts/simulate" up --dir "$s" --build "$build" --chain-id "$chain" --address "$addr" >"$dir/up.log" 2>&1; then
    bad "$name: simulate up"; cat "$dir/up.log"; tail -n 10 "$s"/logs/*.log; return 1
  fi
  local pubkey vsock imds khome enclave_peer
  pubkey=$(sed -n 's/^SIM_PUBKEY=//p' "$s/env")
  vsock=$(sed -n 's/^SIM_VSOCK=//p' "$s/env")
  imds=$(sed -n 's/^AWS_EC2_METADATA_SERVICE_ENDPOINT=//p' "$s/env")
  khome=$(sed -n 's/^SIM_KMS_HOME=//p' "$s/env")
  enclave_peer=$(sed -n 's/.*(sealed identity key: node ID [0-9a-f]*, peer ID \([1-9A-Za-z]*\)).*/\1/p' "$s/logs/init.log")
  local address laddr
  address=$(genesis_for_key "$home/config/genesis.json" "$pubkey") || { bad "$name: genesis"; return 1; }
  if [[ $scheme == noise ]]; then
    laddr="noise://$enclave_peer@127.0.0.1:$port"
  else
    laddr=$addr
  fi
  node_config "$home" "$laddr" "$rpc" "$p2p" || { bad "$name: config.toml"; return 1; }

  local node_pid h
  "$nbin" start --home "$home" >>"$dir/node.log" 2>&1 &
  node_pid=$!
  kms_pids+=("$node_pid")
  echo "$node_pid" >"$dir/node.pid"
  # wait_height H: until the chain has committed H blocks (90 s at most).
  wait_height() {
    local deadline=$((SECONDS + 90))
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
    bad "$name: the chain did not reach height $((blocks / 2))"; tail -n 5 "$dir/node.log" "$s/logs/helper.log"; return 1
  fi
  # The helper SIGKILLed and restarted (the enclave keeps running and redials through it).
  local hpid mark
  hpid=$(cat "$s/pids/helper.pid")
  kill -KILL "$hpid"
  while kill -0 "$hpid" 2>/dev/null; do sleep 0.05; done
  mark=$(($(wc -l <"$s/logs/helper.log") + 1))
  AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds setsid "$bin/tmkms-nitro-helper" start -c "$khome/tmkms.toml" --cid 16 \
    --simulate "$vsock" >>"$s/logs/helper.log" 2>&1 </dev/null &
  echo $! >"$s/pids/helper.pid"
  if ! wait_height "$blocks"; then
    bad "$name: the chain did not reach height $blocks after the helper's restart"
    tail -n 5 "$dir/node.log"; tail -n 15 "$s/logs/helper.log"; return 1
  fi
  local final elapsed=$((SECONDS - t0))
  final=$(node_height "$rpc")
  if node_check_blocks "$rpc" "$address" "$final" >"$dir/blocks.out" && node_check_no_double_sign "$dir/node.log"; then
    ok "$name: $final blocks in $elapsed s signed by the enclave (key $pubkey), helper SIGKILLed and back; $(tail -1 "$dir/blocks.out")"
  else
    bad "$name: block check"; cat "$dir/blocks.out"
  fi
  local ve= try
  for try in 1 2 3 4 5; do
    ve=$(node_vote_extensions_height "$rpc") && [[ -n $ve ]] && break
    sleep 0.5
  done
  [[ $ve == 1 ]] && ok "$name: the node's vote extensions are enabled from height 1" ||
    bad "$name: vote_extensions_enable_height is '${ve:-?}', not 1"
  # The enclave's node link: connected before and after the restart; the restarted helper
  # relayed signatures (the enclave's log lines reach the helper that is running, once the
  # enclave's log forwarding, which redials every second, has found it: waited for).
  local conns after n=0
  while :; do
    conns=$(grep -c "enclave| .*\] connected to vsock:3:5000" "$s/logs/helper.log")
    after=$(tail -n +"$mark" "$s/logs/helper.log" | grep -cE "enclave\| .*\] signed (prevote|precommit|proposal)")
    ((conns >= 2 && after > 0 || n++ >= 100)) && break
    sleep 0.1
  done
  ((conns >= 2 && after > 0)) &&
    ok "$name: the enclave connected $conns times through the helper; $after signatures after the helper's restart" ||
    bad "$name: the enclave connected $conns times; $after signatures after the helper's restart"
  if [[ $scheme == noise ]]; then
    grep -q "enclave| .*this KMS's peer ID is $enclave_peer" "$s/logs/helper.log" && ! grep -q "not pinned" "$s/logs/helper.log" &&
      ! grep -q "rejecting non-allowlisted signer" "$dir/node.log" &&
      ok "$name: the enclave ($enclave_peer) pinned the node's peer ID; the node allowed only it" ||
      bad "$name: peer ID line missing, a pin warning, or the node rejected the signer"
  fi
  # Stop the node while its signer is connected, then the simulation.
  node_stop "$node_pid"
  "$src/scripts/simulate" down --dir "$s" >/dev/null 2>&1
  local state_h
  state_h=$("$bin/tmkms" state show --state-file "$khome/state/priv_validator_state.json" --chain "$chain" 2>/dev/null |
    jq -r .height)
  [[ -n $state_h && $state_h -ge $final ]] && ok "$name: the helper's state file at height $state_h >= $final" ||
    bad "$name: the helper's state file at ${state_h:-?}, below the committed height $final"
}

leg unix-v038 "$peers/cometbft" unix
leg noise-v040 "$peers/cometbft-v040" noise
check_summary
