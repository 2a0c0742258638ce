#!/usr/bin/env bash
# noise://: CometBFT v0.40's privval NoiseListener (go-libp2p Noise, the node's persistent
# key, an allow-list of signer peer IDs) as the node; tmkms dials
# noise://<node peer ID>@127.0.0.1:port with its identity key and runs the harness's full
# privval session through the encrypted channel. Also: tmkms logs its own peer ID at
# start; a wrong pin gets no session and is logged; a KMS identity the node has not
# allowed gets no session.
# labels: cometbft;noise
# timeout: 300
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
harness=$peers/privval-harness-v040
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

# setup DIR CHAIN: a KMS with an identity key; sets kms_peer_id.
setup() {
  kms_setup "$1" "$2" || exit 1
  kms_peer_id=$("$tmkms" softsign keygen -t identity "$1/secrets/identity.key" | sed -n 's/^peer ID: //p')
  [[ $kms_peer_id == 12D3KooW* ]] || { echo "FAIL keygen -t identity printed no peer ID"; exit 1; }
}

# start_node DIR PORT ALLOWED_PEER_ID [harness flags...]: the v0.40 NoiseListener node;
# sets node_pid and node_peer_id (the node's key persists in DIR/node_key.json).
start_node() {
  local dir=$1 port=$2 allow=$3
  shift 3
  rm -f "$dir/node-peer-id"
  "$harness" -noise "127.0.0.1:$port" -node-key-file "$dir/node_key.json" -allow-peer-id "$allow" \
    -peer-id-file "$dir/node-peer-id" -chain-id "$chain" -pubkey "$(kms_pubkey_b64 "$dir")" "$@" \
    >"$dir/harness.out" 2>&1 &
  node_pid=$!
  kms_pids+=("$node_pid")
  wait_for 100 test -s "$dir/node-peer-id" || { echo "FAIL the harness did not start"; cat "$dir/harness.out"; exit 1; }
  node_peer_id=$(cat "$dir/node-peer-id")
}

# use_noise DIR ADDR: point the KMS config at ADDR with the identity key.
use_noise() {
  sed -i "s|addr = \"unix://$1/node.sock\"|addr = \"$2\"\nsecret_key = \"secrets/identity.key\"|" "$1/tmkms.toml"
}

stop_kms() { kill -TERM "$kms_pid" 2>/dev/null; wait "$kms_pid" 2>/dev/null; }

# 1. The full session over a pinned Noise connection.
dir=$work/session chain=noise-chain
setup "$dir" "$chain"
port=$(free_port)
start_node "$dir" "$port" "$kms_peer_id" -height 100
use_noise "$dir" "noise://$node_peer_id@127.0.0.1:$port"
kms_start "$dir"
if wait "$node_pid"; then
  ok "full privval session over noise:// with the node pinned ($(tail -1 "$dir/harness.out"))"
else
  bad "privval session over noise://"
  sed 's/^/    /' "$dir/harness.out" | grep -v '^    ok' | tail -15
fi
if grep -q "this KMS's peer ID is $kms_peer_id" "$dir/tmkms.log"; then
  ok "tmkms logged its own peer ID $kms_peer_id at start"
else
  bad "tmkms did not log its peer ID ($kms_peer_id)"
fi
grep -q "connected to noise://$node_peer_id@127.0.0.1:$port" "$dir/tmkms.log" &&
  ok "tmkms logged the connection" || bad "no 'connected to' line"
stop_kms

# 2. A wrong pin: the node (another key) gets no session, and tmkms says why. The node
#    allows the KMS, so only the pin stands in the way.
dir=$work/pin chain=pin-chain
setup "$dir" "$chain"
other=$("$tmkms" softsign keygen -t identity "$dir/secrets/other.key" | sed -n 's/^peer ID: //p')
port=$(free_port)
start_node "$dir" "$port" "$kms_peer_id" -wait 3s
use_noise "$dir" "noise://$other@127.0.0.1:$port"
kms_start "$dir"
if wait "$node_pid"; then
  bad "a node whose peer ID differs from the pin was served"
else
  ok "a node whose peer ID differs from the pin gets no session"
fi
if grep -q "noise://$other@127.0.0.1:$port: the node's peer ID is $node_peer_id, not the pinned $other: not serving it" \
  "$dir/tmkms.log"; then
  ok "the pin refusal is logged with both peer IDs"
else
  bad "no log line for the pin refusal"
fi
stop_kms

# 3. The node allows another signer only: this KMS gets no session. The node's key
#    persists, so the pin still holds when the node restarts with the right allow-list.
dir=$work/allow chain=allow-chain
setup "$dir" "$chain"
port=$(free_port)
start_node "$dir" "$port" "$other" -wait 3s -v
use_noise "$dir" "noise://$node_peer_id@127.0.0.1:$port"
kms_start "$dir"
if wait "$node_pid"; then
  bad "a KMS identity outside the node's allow-list was served"
else
  ok "a KMS identity outside the node's allow-list gets no session"
fi
grep -q "not allowlisted" "$dir/harness.out" && ok "the node logged the refusal ($kms_peer_id not allowlisted)" ||
  bad "the node did not log the allow-list refusal"
pinned=$node_peer_id
start_node "$dir" "$port" "$kms_peer_id" -height 100
if [[ $node_peer_id == "$pinned" ]] && wait "$node_pid"; then
  ok "the same node (persistent key, same peer ID) allowing this KMS gets a full session from the running tmkms"
else
  bad "no session after the node allowed the KMS"
  sed 's/^/    /' "$dir/harness.out" | tail -5
fi
stop_kms

if ((failed)); then
  echo "--- tmkms logs"
  for f in "$work"/*/tmkms.log; do echo "$f"; tail -20 "$f"; done
fi
check_summary
