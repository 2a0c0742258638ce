# Shared helpers for integration tests (sourced, not run). They need TMKMS_BUILD_DIR.
# Every test: work=$(mktemp -d); trap kms_cleanup EXIT; then kms_setup / kms_start.

tmkms=${TMKMS_BUILD_DIR:?TMKMS_BUILD_DIR is not set}/bin/tmkms
peers=${TMKMS_PEERS_DIR:-${TMKMS_SOURCE_DIR:-.}/.peers}
kms_pids=()

kms_cleanup() {
  local pid tries=50
  for pid in "${kms_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # A CometBFT node whose signer is gone keeps retrying its listener for minutes before it
  # exits: give everything 5 s, then SIGKILL what is left.
  while ((tries-- > 0)); do
    local alive=0
    for pid in "${kms_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${kms_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${kms_pids[@]}"; do wait "$pid" 2>/dev/null; done
  [[ -n ${work:-} && -d $work ]] && rm -rf "$work"
}

# kms_config DIR CHAIN [VALIDATOR_LINE]: DIR/secrets (0700), DIR/state and DIR/tmkms.toml
# for one softsign chain whose node socket is DIR/node.sock; VALIDATOR_LINE (e.g.
# 'max_height = "100"') is added to its [[validator]].
kms_config() {
  local dir=$1 chain=$2 extra=${3:-}
  mkdir -p "$dir/secrets" "$dir/state"
  chmod 700 "$dir/secrets"
  cat >"$dir/tmkms.toml" <<TOML
[[chain]]
id = "$chain"
state_file = "state/$chain-consensus.state"

[[validator]]
chain_id = "$chain"
addr = "unix://$dir/node.sock"
$extra

[[providers.softsign]]
chain_ids = ["$chain"]
key_type = "consensus"
path = "secrets/consensus.key"
TOML
}

# kms_setup DIR CHAIN [KEYFILE_TO_IMPORT]: config, key (new, or imported from a CometBFT
# priv_validator_key.json) and a height-0 state; the node socket is DIR/node.sock.
kms_setup() {
  local dir=$1 chain=$2 import=${3:-}
  kms_config "$dir" "$chain"
  if [[ -n $import ]]; then
    "$tmkms" softsign import "$import" "$dir/secrets/consensus.key" >/dev/null || return 1
  else
    "$tmkms" softsign keygen "$dir/secrets/consensus.key" >/dev/null || return 1
  fi
  "$tmkms" state init -c "$dir/tmkms.toml" >/dev/null || return 1
}

# The consensus public key, base64.
kms_pubkey_b64() {
  "$tmkms" pubkey -c "$1/tmkms.toml" | awk '/base64/ {print $NF; exit}'
}

# kms_start DIR: starts tmkms in the background, log in DIR/tmkms.log; sets kms_pid.
kms_start() {
  "$tmkms" start -c "$1/tmkms.toml" >>"$1/tmkms.log" 2>&1 &
  kms_pid=$!
  kms_pids+=("$kms_pid")
}

# free_port (and ok, bad, wait_grep, check_summary): tests/lib/check.sh.
# shellcheck source=check.sh
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

# wait_for COUNT_TENTHS CMD...: poll CMD every 0.1 s up to COUNT_TENTHS times.
wait_for() {
  local n=$1; shift
  while ((n-- > 0)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# Builds the Go peers if missing or stale (a no-op taking ~0.1 s when they are up to date).
ensure_peers() {
  "${TMKMS_SOURCE_DIR:?}/scripts/setup-go-peers.sh" >"${work:-/tmp}/setup-go-peers.log" 2>&1 || {
    cat "${work:-/tmp}/setup-go-peers.log"
    echo "setup-go-peers.sh failed"
    return 1
  }
}

# The Node.js peers (tests/node): installs their pinned packages if missing or stale (a
# no-op taking ~0.1 s when they are up to date). Sets node_dir.
node_dir=${TMKMS_SOURCE_DIR:-.}/tests/node
ensure_node_peers() {
  "${TMKMS_SOURCE_DIR:?}/scripts/setup-node-peers.sh" >"${work:-/tmp}/setup-node-peers.log" 2>&1 || {
    cat "${work:-/tmp}/setup-node-peers.log"
    echo "setup-node-peers.sh failed"
    return 1
  }
}
