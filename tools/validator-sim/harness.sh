# Shell helpers shared by scripts/demo.sh and the validator-sim integration tests: a
# tmkms home with one chain, and background processes that are always cleaned up.
# Source it after setting `bin` (the build's bin/ directory) and `work` (a mktemp -d).

h_pids=()

# Stops every background process this shell started through h_bg, then removes $work.
h_cleanup() {
  local pid
  for pid in "${h_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${h_pids[@]}"; do
    # Bounded: a process that ignores SIGTERM for 5 s gets SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  h_pids=()
  [[ -n ${work:-} && -d $work && -z ${H_KEEP:-} ]] && rm -rf "$work"
}

# h_bg LOG CMD...: runs CMD in the background with stdout+stderr to LOG; sets h_last_pid.
h_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  h_last_pid=$!
  h_pids+=("$h_last_pid")
}

# h_forget PID: the process was waited for elsewhere.
h_forget() {
  local keep=() pid
  for pid in "${h_pids[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  h_pids=("${keep[@]}")
}

# h_wait_socket PATH SECONDS: polls until PATH is a socket.
h_wait_socket() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [[ -S $1 ]] && return 0
    sleep 0.05
  done
  echo "timed out waiting for socket $1" >&2
  return 1
}

# h_wait_grep FILE PATTERN SECONDS: polls until FILE has a line matching PATTERN.
h_wait_grep() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# h_home DIR CHAIN [VALIDATOR_EXTRA_TOML]: key, tmkms.toml and height-0 state for one
# chain whose node listens on DIR/node.sock. Prints nothing on success.
h_home() {
  local dir=$1 chain=$2 extra=${3:-}
  mkdir -p "$dir/secrets" "$dir/state" || return 1
  chmod 700 "$dir/secrets"
  "$bin/tmkms" softsign keygen "$dir/secrets/chain-consensus.key" >"$dir/keygen.log" 2>&1 || {
    cat "$dir/keygen.log" >&2
    return 1
  }
  cat >"$dir/tmkms.toml" <<TOML
[[chain]]
id = "$chain"
key_format = { type = "bech32", account_key_prefix = "cosmospub", consensus_key_prefix = "cosmosvalconspub" }
state_file = "state/$chain-consensus.state"

[[validator]]
chain_id = "$chain"
addr = "unix://$dir/node.sock"
$extra

[[providers.softsign]]
chain_ids = ["$chain"]
key_type = "consensus"
path = "secrets/chain-consensus.key"
TOML
  "$bin/tmkms" state init -c "$dir/tmkms.toml" >"$dir/state-init.log" 2>&1 || {
    cat "$dir/state-init.log" >&2
    return 1
  }
}

# h_pubkey_b64 DIR: the consensus key as tmkms reports it, base64.
h_pubkey_b64() {
  "$bin/tmkms" pubkey -c "$1/tmkms.toml" 2>/dev/null | sed -n 's/^ *base64: *//p' | head -n 1
}

# h_state_height DIR: the height in `tmkms state show` (CometBFT's JSON: "height": "N").
h_state_height() {
  "$bin/tmkms" state show -c "$1/tmkms.toml" 2>/dev/null |
    sed -n 's/.*"height": *"\{0,1\}\([0-9][0-9]*\)"\{0,1\}.*/\1/p' | head -n 1
}
