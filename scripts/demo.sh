#!/usr/bin/env bash
# make demo: tmkms signing for a simulated validator node, end to end, in a temporary
# directory. Creates a key, a config and the state; starts validator-sim (the node) and
# tmkms; runs the basic and guard scenarios with one line per request, then a short random
# storm; then nodes over tcp:// (Secret Connection) and noise:// (libp2p Noise); prints what was signed, what was refused and why, the signing latency tmkms
# logged, and the final state. Usage: scripts/demo.sh BUILD_DIR
set -u
if [[ $# -ne 1 || ! -x $1/bin/tmkms || ! -x $1/bin/validator-sim ]]; then
  echo "usage: $0 BUILD_DIR   (with bin/tmkms and bin/validator-sim built)" >&2
  exit 2
fi
bin=$(cd "$1/bin" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
# shellcheck source=../tools/validator-sim/harness.sh
source "$here/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
chain=demo-chain
max_height=1000000
storm_heights=25
status=0

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "Setting up a tmkms home in a temporary directory"
h_home "$work" "$chain" "max_height = \"$max_height\"" || exit 1
echo "key:    secrets/chain-consensus.key (mode $(stat -c %a "$work/secrets/chain-consensus.key"))"
echo "config: tmkms.toml (chain $chain, node at unix://.../node.sock, max_height $max_height)"
echo "state:  $(head -n 1 "$work/state-init.log")"
"$bin/tmkms" pubkey -c "$work/tmkms.toml" | sed 's/^/        /'
pk=$(h_pubkey_b64 "$work")

# run_sim LOG ARGS...: one validator-sim run; tmkms (re)connects to it by itself.
run_sim() {
  local log=$1
  shift
  h_bg "$log" "$bin/validator-sim" --socket "$work/node.sock" --chain-id "$chain" --expect-pubkey "$pk" \
    --max-height "$max_height" --record "$work/record" "$@"
  local pid=$h_last_pid
  h_wait_socket "$work/node.sock" 10 || return 1
  if [[ -z ${tmkms_pid:-} ]]; then
    h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml"
    tmkms_pid=$h_last_pid
  fi
  wait "$pid"
  local rc=$?
  h_forget "$pid"
  return $rc
}

section "validator-sim plays the node: normal consensus, then the double-sign guard's table"
run_sim "$work/sim1.log" --scenario basic,guard --verbose || status=1
grep -v '^validator-sim: listening' "$work/sim1.log" | sed -n '1,/^validator-sim summary/p' | sed '$d'
sed -n '/^validator-sim summary/,$p' "$work/sim1.log"

section "A random storm of $storm_heights heights with repeats, conflicts and regressions mixed in"
run_sim "$work/sim2.log" --scenario storm --heights "$storm_heights" --start-height 1000 || status=1
sed -n '/^validator-sim summary/,$p' "$work/sim2.log"

section "tmkms's side: one log line per signature, with the time it took"
grep -E '\[sign\] \[[^]]*\] (signed|re-sent)' "$work/tmkms.log" | head -n 6 | cut -c 29-
echo "..."
grep -E '\[sign\] .*refused' "$work/tmkms.log" | head -n 4 | cut -c 29-
echo "..."
# Latency of new signatures (sign + durable state write), as tmkms measured it.
grep -E '\[sign\] \[[^]]*\] signed .* in [0-9]+ us' "$work/tmkms.log" |
  sed -E 's/.* in ([0-9]+) us.*/\1/' | sort -n >"$work/lat"
n=$(wc -l <"$work/lat")
if ((n > 0)); then
  pick() { sed -n "$(((n * $1 + 99) / 100))p" "$work/lat"; }
  echo "new signatures: $n; latency per signature (us): min $(head -n 1 "$work/lat"), p50 $(pick 50)," \
    "p90 $(pick 90), p99 $(pick 99), max $(tail -n 1 "$work/lat")"
  echo "(each includes writing the state durably before the signature leaves tmkms)"
fi
echo "refused requests logged: $(grep -c '\[sign\] .*refused' "$work/tmkms.log")"

section "The node over the network: tcp:// (Secret Connection) and noise:// (libp2p Noise), pinned both ways"
# Two more [[validator]] entries for the same chain, as sentries would be: they share the
# chain's double-sign guard and state with the unix:// one. One identity key serves both
# (its node ID for tcp://, its libp2p peer ID for noise://); each node has its own key.
id_of() { sed -n "s/^$1: //p" <<<"$2"; }
kms_keys=$("$bin/tmkms" softsign keygen -t identity "$work/secrets/identity.key")
tcp_keys=$("$bin/tmkms" softsign keygen -t identity "$work/node-tcp.key")
noise_keys=$("$bin/tmkms" softsign keygen -t identity "$work/node-noise.key")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp_port=$(free_port) noise_port=$(free_port)
cat >>"$work/tmkms.toml" <<TOML

[[validator]]
chain_id = "$chain"
addr = "tcp://$(id_of "node ID" "$tcp_keys")@127.0.0.1:$tcp_port"
secret_key = "secrets/identity.key"
max_height = "$max_height"

[[validator]]
chain_id = "$chain"
addr = "noise://$(id_of "peer ID" "$noise_keys")@127.0.0.1:$noise_port"
secret_key = "secrets/identity.key"
max_height = "$max_height"
TOML
echo "added to tmkms.toml (tmkms's identity: node ID $(id_of "node ID" "$kms_keys"), peer ID $(id_of "peer ID" "$kms_keys")):"
sed -n '/^addr = "tcp/,$p' "$work/tmkms.toml" | sed 's/^/        /'
kill -TERM "$tmkms_pid" 2>/dev/null
wait "$tmkms_pid"
h_forget "$tmkms_pid"
h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml"
tmkms_pid=$h_last_pid
# net_sim SCHEME PORT KMS_ID START: validator-sim as that network node, basic scenario.
net_sim() {
  local log=$work/sim-$1.log
  h_bg "$log" "$bin/validator-sim" --listen "$1://127.0.0.1:$2" --identity-key "$work/node-$1.key" \
    --expect-kms-id "$3" --chain-id "$chain" --expect-pubkey "$pk" --max-height "$max_height" \
    --record "$work/record" --scenario basic --start-height "$4"
  local pid=$h_last_pid
  wait "$pid" || status=1
  h_forget "$pid"
  echo "-- $1://"
  grep -E "ID|authenticated" "$log"
  sed -n '/^validator-sim summary/,$p' "$log" | grep -E "requests|signatures|double|result"
}
net_sim tcp "$tcp_port" "$(id_of "node ID" "$kms_keys")" 2000
net_sim noise "$noise_port" "$(id_of "peer ID" "$kms_keys")" 3000
echo "-- tmkms's side"
grep -E "this KMS's (node|peer) ID|connected to (tcp|noise)" "$work/tmkms.log" | cut -c 29- | sort -u

section "Every signature the node received, checked for double signs across all runs"
"$bin/validator-sim" --check-record "$work/record" | grep -v '^max_signed' || status=1

kill -TERM "$tmkms_pid" 2>/dev/null
wait "$tmkms_pid"
h_forget "$tmkms_pid"
section "tmkms state show (the chain's last signed step, as CometBFT's priv_validator_state.json)"
"$bin/tmkms" state show -c "$work/tmkms.toml" || status=1

if ((status)); then
  section "demo FAILED; last lines of the tmkms log:"
  tail -n 20 "$work/tmkms.log"
else
  section "demo finished: all checks passed"
fi
exit $status
