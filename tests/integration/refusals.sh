#!/usr/bin/env bash
# tmkms start refuses to run rather than sign unsafely: a missing state file (the error
# names the path and `tmkms state init`), a key file readable by group or others, and a
# garbled state file (never silently reset). In every case it exits non-zero without
# having served the node.
# labels: cli;state
# timeout: 120
set -u
bin="$TMKMS_BUILD_DIR/bin"
work=$(mktemp -d)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$TMKMS_SOURCE_DIR/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

# expect_refusal DIR WHAT PATTERN...: `tmkms start` exits non-zero (not by the timeout)
# and its stderr matches every PATTERN.
expect_refusal() {
  local dir=$1 what=$2
  shift 2
  timeout 20 "$bin/tmkms" start -c "$dir/tmkms.toml" >"$dir/out" 2>"$dir/err"
  local rc=$?
  if [[ $rc -eq 0 || $rc -eq 124 ]]; then
    bad "$what: tmkms start exited $rc, want a refusal: $(head -c 400 "$dir/err")"
    return
  fi
  ok
  local pat
  for pat in "$@"; do
    grep -q -- "$pat" "$dir/err" && ok || bad "$what: stderr does not mention '$pat': $(head -c 400 "$dir/err")"
  done
}

# Missing state file.
d=$work/nostate
h_home "$d" sim-chain || exit 1
rm -f "$d/state/sim-chain-consensus.state"
expect_refusal "$d" "missing state" "sim-chain-consensus.state" "tmkms state init"
[[ ! -e $d/state/sim-chain-consensus.state ]] && ok || bad "missing state: tmkms start created a state file"

# Key file readable by others, then by the group.
for mode in 644 640; do
  d=$work/key$mode
  h_home "$d" sim-chain || exit 1
  chmod "$mode" "$d/secrets/chain-consensus.key"
  expect_refusal "$d" "key mode $mode" "chain-consensus.key"
done

# A garbled state file is an error, not a fresh start; the file is left as it was.
d=$work/garbled
h_home "$d" sim-chain || exit 1
st=$d/state/sim-chain-consensus.state
size=$(stat -c %s "$st")
head -c "$size" /dev/urandom >"$st"
sum=$(sha256sum <"$st")
expect_refusal "$d" "garbled state" "sim-chain-consensus.state"
[[ $(sha256sum <"$st") == "$sum" ]] && ok || bad "garbled state: the file was changed"

# Control: the same setup, untouched, starts and serves (so the refusals above are real).
d=$work/control
h_home "$d" sim-chain || exit 1
h_bg "$d/sim.log" "$bin/validator-sim" --socket "$d/node.sock" --scenario basic --basic-heights 1
sim_pid=$h_last_pid
h_wait_socket "$d/node.sock" 10 || exit 1
h_bg "$d/tmkms.log" "$bin/tmkms" start -c "$d/tmkms.toml"
wait "$sim_pid" && ok || bad "control: an untouched setup did not serve: $(tail -n 5 "$d/sim.log")"
h_forget "$sim_pid"

echo "refusals: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
