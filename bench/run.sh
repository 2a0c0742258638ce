#!/usr/bin/env bash
# make bench: tmkms against bench_sign (the node side) with the floor measured in the same
# run, in the same state directory. BENCH_N sets the number of signatures (default 5000).
set -euo pipefail
build=${1:-build}
n=${BENCH_N:-5000}
. "$(dirname "$0")/lib.sh"
export BENCH_SIGN=$build/bin/bench_sign
work=$(mktemp -d "${TMPDIR:-/tmp}/tmkms-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
setup_ours "$build" "$work"
echo "state directory: $work/state ($(stat -f -c %T "$work/state") filesystem)"
bench_against tmkms "$work" "$n" "$build/bin/tmkms" start -c "$work/tmkms.toml" --log-level warn
