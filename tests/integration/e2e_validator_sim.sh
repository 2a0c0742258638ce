#!/usr/bin/env bash
# End to end against the real tmkms binary: validator-sim's encoder self-test, then all of
# its scenarios (basic, guard with max_height, storm, oversize) over one connection-serving
# tmkms, every signature recorded; the record has no double sign, the state file is at or
# above the highest signed height, tmkms exits cleanly on SIGTERM; and the simulator's
# checks can fail (a wrong expected key is caught).
# labels: e2e;long
# timeout: 600
set -u
bin="$TMKMS_BUILD_DIR/bin"
src="$TMKMS_SOURCE_DIR"
work=$(mktemp -d)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
show_logs() {
  echo "--- validator-sim (tail)"; tail -n 40 "$work/sim.log"
  echo "--- tmkms (tail)"; tail -n 40 "$work/tmkms.log"
}

# 1. The simulator's own sign-bytes encoder against CometBFT's vectors.
if ! "$bin/validator-sim" --self-test "$TMKMS_SHARED_DIR/vectors/cometbft-vote-signbytes.json" \
  "$src/tools/validator-sim/vectors-cometbft.json"; then
  bad "validator-sim self-test"
fi

# 2. Every scenario against tmkms. max_height is written as a string, as tmkms writes it.
max=100000000
h_home "$work" sim-chain "max_height = \"$max\"" || exit 1
pk=$(h_pubkey_b64 "$work")
[[ -n $pk ]] || { echo "FAIL: tmkms pubkey printed no base64 key"; exit 1; }
heights=40
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=2000
h_bg "$work/sim.log" "$bin/validator-sim" --socket "$work/node.sock" --scenario basic,guard,storm,oversize \
  --heights "$heights" --max-height "$max" --expect-pubkey "$pk" --record "$work/record" --verbose
sim_pid=$h_last_pid
h_wait_socket "$work/node.sock" 10 || exit 1
h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml"
tmkms_pid=$h_last_pid
wait "$sim_pid"
sim_rc=$?
h_forget "$sim_pid"
sed -n '/^validator-sim summary/,$p' "$work/sim.log"
grep '^FAIL' "$work/sim.log" | head -n 20
[[ $sim_rc -eq 0 ]] || bad "validator-sim exited $sim_rc"
grep -q '^result: PASS' "$work/sim.log" || bad "validator-sim did not report PASS"
# Every refusal class of the guard table was seen.
for reason in "double-sign conflict" "height/round/step regression" "wrong chain id" "above max_height" \
  "malformed request"; do
  grep -q "^    $reason " "$work/sim.log" || bad "no refusal counted as: $reason"
done

# 3. tmkms is still up and stops cleanly on SIGTERM.
if kill -0 "$tmkms_pid" 2>/dev/null; then
  kill -TERM "$tmkms_pid"
  wait "$tmkms_pid"
  rc=$?
  h_forget "$tmkms_pid"
  [[ $rc -eq 0 ]] || bad "tmkms exited $rc on SIGTERM"
else
  bad "tmkms died during the run"
fi

# 4. The record: no conflicting signature, and the state (readable once tmkms has let go of
#    it) is at or above what was signed.
"$bin/validator-sim" --check-record "$work/record" >"$work/check.log" 2>&1 || bad "check-record: $(cat "$work/check.log")"
max_signed=$(sed -n 's/^max_signed_height //p' "$work/check.log")
state_h=$(h_state_height "$work")
if [[ -z $max_signed || -z $state_h || $state_h -lt $max_signed ]]; then
  bad "state height '${state_h}' below the highest signed height '${max_signed}'"
fi
echo "record: $(head -n 1 "$work/check.log"); state height $state_h"

# 5. The checks can fail: a key that is not tmkms's is reported and the exit is non-zero.
other=$(head -c 32 /dev/urandom | base64)
h_bg "$work/sim-neg.log" "$bin/validator-sim" --socket "$work/node.sock" --scenario basic --basic-heights 1 \
  --start-height $((max_signed + 10)) --expect-pubkey "$other" --accept-timeout 20000
neg_pid=$h_last_pid
h_wait_socket "$work/node.sock" 10 || exit 1
h_bg "$work/tmkms2.log" "$bin/tmkms" start -c "$work/tmkms.toml"
wait "$neg_pid"
neg_rc=$?
h_forget "$neg_pid"
if [[ $neg_rc -ne 1 ]] || ! grep -q 'not the expected key' "$work/sim-neg.log"; then
  bad "a wrong --expect-pubkey was not caught (exit $neg_rc)"
fi

if ((failed)); then
  show_logs
  echo "e2e_validator_sim: $failed failure(s)"
  exit 1
fi
echo "e2e_validator_sim: PASS"
