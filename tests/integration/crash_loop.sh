#!/usr/bin/env bash
# Crash loop: validator-sim runs a signing storm (repeats, timestamp-only repeats,
# conflicts, regressions mixed in) while tmkms is killed with SIGKILL at random moments
# and restarted: 20 restarts, 200 with TMKMS_TEST_LONG=1. Every signature tmkms releases
# is recorded. At the end: no two different sign bytes were signed at one
# height/round/type across all runs, the simulator saw no failed check (nothing signed
# below a released signature, identical repeats answered with the same signature), and the
# state file is at or above the highest signed height.
# labels: crash;long
# timeout: 1800
set -u
bin="$TMKMS_BUILD_DIR/bin"
work=$(mktemp -d)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$TMKMS_SOURCE_DIR/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
restarts=20
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && restarts=200
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

h_home "$work" crash-chain || exit 1
pk=$(h_pubkey_b64 "$work")
h_bg "$work/sim.log" "$bin/validator-sim" --socket "$work/node.sock" --chain-id crash-chain --scenario storm \
  --crashes --heights 0 --seconds 0 --record "$work/record" --expect-pubkey "$pk" --accept-timeout 60000
sim_pid=$h_last_pid
h_wait_socket "$work/node.sock" 10 || exit 1

records() {
  local n
  n=$(grep -c '^sig ' "$work/record" 2>/dev/null)
  echo "${n:-0}"
}

# wait_progress BEFORE SECONDS: until the record has more signatures than BEFORE.
wait_progress() {
  local i
  for ((i = 0; i < $2 * 50; i++)); do
    (($(records) > $1)) && return 0
    kill -0 "$tmkms_pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

early=0
kills=0
last_state_h=0
for ((i = 1; i <= restarts; i++)); do
  before=$(records)
  h_bg "$work/tmkms.$i.log" "$bin/tmkms" start -c "$work/tmkms.toml"
  tmkms_pid=$h_last_pid
  if ((RANDOM % 4 == 0)); then
    # Sometimes while it starts up, before or while it connects.
    sleep "0.0$((RANDOM % 10))"
    early=$((early + 1))
  elif wait_progress "$before" 20; then
    # Mostly in the middle of the storm, a random moment after it signs again.
    sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  else
    bad "restart $i: tmkms signed nothing within 20 s"
    tail -n 20 "$work/tmkms.$i.log"
  fi
  if ! kill -0 "$tmkms_pid" 2>/dev/null; then
    bad "restart $i: tmkms exited on its own"
    tail -n 20 "$work/tmkms.$i.log"
  fi
  kill -KILL "$tmkms_pid" 2>/dev/null && kills=$((kills + 1))
  wait "$tmkms_pid" 2>/dev/null
  h_forget "$tmkms_pid"
  # The state on disk never goes back, and covers every signature released so far.
  state_h=$(h_state_height "$work")
  signed_h=$(awk '$1 == "sig" && $2 > m { m = $2 } END { print m + 0 }' "$work/record" 2>/dev/null)
  if [[ -z $state_h ]]; then
    bad "restart $i: tmkms state show printed no height"
  elif ((state_h < last_state_h)); then
    bad "restart $i: the state went back from height $last_state_h to $state_h"
  elif ((state_h < ${signed_h:-0})); then
    bad "restart $i: state height $state_h is below the signed height $signed_h"
  fi
  last_state_h=${state_h:-0}
  ((failed)) && break
done

# A last, undisturbed tmkms must pick up where the killed ones stopped.
before=$(records)
h_bg "$work/tmkms.final.log" "$bin/tmkms" start -c "$work/tmkms.toml"
tmkms_pid=$h_last_pid
wait_progress "$before" 20 || bad "after the last restart tmkms signed nothing"
kill -TERM "$sim_pid" 2>/dev/null
wait "$sim_pid"
sim_rc=$?
h_forget "$sim_pid"
kill -TERM "$tmkms_pid"
wait "$tmkms_pid"
tmkms_rc=$?
h_forget "$tmkms_pid"

sed -n '/^validator-sim summary/,$p' "$work/sim.log"
grep '^FAIL' "$work/sim.log" | head -n 20
[[ $sim_rc -eq 0 ]] || bad "validator-sim exited $sim_rc"
[[ $tmkms_rc -eq 0 ]] || bad "the last tmkms exited $tmkms_rc on SIGTERM"
"$bin/validator-sim" --check-record "$work/record" | tee "$work/check.log" | grep -v '^max_signed' || true
grep -q '^result: PASS' "$work/check.log" || bad "check-record found a conflicting signature"
max_signed=$(sed -n 's/^max_signed_height //p' "$work/check.log")
state_h=$(h_state_height "$work")
if [[ -z $state_h || -z $max_signed || $state_h -lt $max_signed ]]; then
  bad "state height '${state_h}' is below the highest signed height '${max_signed}'"
fi
echo "crash_loop: $kills kills ($early during startup), highest signed height ${max_signed:-?}, state height ${state_h:-?}"
if ((failed)); then

  echo "crash_loop: $failed failure(s)"
  exit 1
fi
echo "crash_loop: PASS"
