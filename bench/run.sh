#!/usr/bin/env bash
# make bench: tmkms against bench_sign (the node side) with the floor measured in the same
# run, in the same state directory. BENCH_N sets the number of signatures (default 5000).
set -euo pipefail
build=${1:-build}
tmkms=$build/bin/tmkms
n=${BENCH_N:-5000}
work=$(mktemp -d "${TMPDIR:-/tmp}/tmkms-bench.XXXXXX")
kms=
cleanup() { [[ -n $kms ]] && kill "$kms" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/secrets" "$work/state"
chmod 700 "$work/secrets"
cat >"$work/tmkms.toml" <<TOML
[[chain]]
id = "bench-chain"
state_file = "state/bench-chain-consensus.state"
[[validator]]
chain_id = "bench-chain"
addr = "unix://$work/node.sock"
[[providers.softsign]]
chain_ids = ["bench-chain"]
key_type = "consensus"
path = "secrets/k.key"
TOML
"$tmkms" softsign keygen "$work/secrets/k.key" >/dev/null
"$tmkms" state init -c "$work/tmkms.toml" >/dev/null
echo "state directory: $work/state ($(stat -f -c %T "$work/state") filesystem)"
"$build/bin/bench_sign" --socket "$work/node.sock" --state-dir "$work/state" --n "$n" --kms-pid-file "$work/kms.pid" \
  2>&1 &
bench=$!
for _ in $(seq 100); do [[ -S $work/node.sock ]] && break; sleep 0.05; done
"$tmkms" start -c "$work/tmkms.toml" --log-level warn &
kms=$!
echo "$kms" >"$work/kms.pid"
wait "$bench"
