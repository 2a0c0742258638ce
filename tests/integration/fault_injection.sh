#!/usr/bin/env bash
# labels: fault;nitro;nosan
# (nosan: libfiu's preload library wraps libc functions, which the sanitizer runtimes
# intercept as well)
# timeout: 900
#
# Fault injection with libfiu (fiu-run -x: the POSIX and libc failure points, fiu-ctrl to
# switch them in a running process) during signing storms, for
#   A. tmkms (softsign key, file state): fdatasync, then pwrite, made to fail at a chosen
#      moment and cleared again; then rounds with random failures of fdatasync, pwrite,
#      open, read and malloc, each round ending with kill -9 and a restart;
#   B. the Nitro path in simulation: the helper's state store with fdatasync failing at a
#      chosen moment and cleared; rounds of random fdatasync/pwrite/write/malloc failures
#      in the helper and of write/read failures in the enclave's state round trip.
# validator-sim plays the node in --crashes mode and records every signature it receives
# (refusals during faults are expected). Checked after every phase and round: the state
# file is at or above every signature the node ever received (no signature without a
# durable state), a log line names the failure, signing resumes once the fault is cleared
# (or after the restart), and across all rounds and restarts no two conflicting
# signatures exist (validator-sim --check-record).
# Rounds: 4 per random phase in `make test`, 25 with TMKMS_TEST_LONG=1.
set -u
src=${TMKMS_SOURCE_DIR:?}
bin=${TMKMS_BUILD_DIR:?}/bin
work=$(mktemp -d /tmp/fault.XXXXXX)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
H_KEEP=1
cleanup() {
  h_cleanup
  [[ -n ${sim:-} ]] && "$src/scripts/simulate" down "$sim" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
command -v fiu-run >/dev/null && command -v fiu-ctrl >/dev/null || {
  echo "FAIL: fiu-run/fiu-ctrl missing (scripts/setup.sh installs fiu-utils)"
  exit 1
}
rounds=4
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && rounds=25
chain=fault-chain

# The highest (height, round, step) in validator-sim records, as a sortable key.
# Record lines: "sig H R TYPE signbytes signature"; TYPE 32 proposal, 1 prevote, 2 precommit.
record_max() {
  awk '$1 == "sig" { s = ($4 == 32) ? 1 : ($4 == 1 ? 2 : 3)
                     k = sprintf("%015d %010d %d", $2, $3, s); if (k > m) m = k }
       END { print (m == "" ? sprintf("%015d %010d %d", 0, 0, 0) : m) }' "$@"
}
# The state file's (height, round, step) as the same key.
state_key() { # STATE_FILE CHAIN
  "$bin/tmkms" state show --state-file "$1" --chain "$2" 2>/dev/null |
    jq -r '"\(.height) \(.round) \(.step)"' | awk '{ printf "%015d %010d %d\n", $1, $2, $3 }'
}
# durable WHAT STATE_FILE CHAIN RECORD: every received signature is at or below the state.
durable() {
  local rec st
  rec=$(record_max "$4")
  st=$(state_key "$2" "$3")
  if [[ -n $st && ! $rec > $st ]]; then ok; else bad "$1: a signature ($rec) above the durable state ($st)"; fi
}
# grows RECORD SECONDS: the record's highest signature moves within SECONDS.
grows() {
  local before n=$(($2 * 10))
  before=$(record_max "$1")
  while ((n-- > 0)); do
    [[ $(record_max "$1") > $before ]] && return 0
    sleep 0.1
  done
  return 1
}
# stalls RECORD SECONDS: the record's highest signature does not move for SECONDS.
stalls() {
  local before
  before=$(record_max "$1")
  sleep "$2"
  [[ $(record_max "$1") == "$before" ]]
}
fiu() { # PID COMMAND
  fiu-ctrl -f "$work/fiu" -c "$2" "$1"
}

# ---------------------------------------------------------------- A. tmkms, softsign
home=$work/a
h_home "$home" "$chain" || exit 1
pk=$(h_pubkey_b64 "$home")
state_a=$home/state/$chain-consensus.state
rec_a=$work/a.record
h_bg "$work/a-sim.log" "$bin/validator-sim" --socket "$home/node.sock" --chain-id "$chain" --expect-pubkey "$pk" \
  --record "$rec_a" --scenario storm --heights 0 --seconds 600 --crashes --timeout 3000
sim_a=$h_last_pid
h_wait_socket "$home/node.sock" 10 || exit 1
start_tmkms() { # FIU-COMMANDS...
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  h_bg "$work/a-tmkms.$((++tmkms_runs)).log" fiu-run -x -f "$work/fiu" "${args[@]}" \
    "$bin/tmkms" start -c "$home/tmkms.toml"
  tmkms_pid=$h_last_pid
}
tmkms_runs=0
start_tmkms
grows "$rec_a" 10 && ok || bad "A: no signature before any fault"

for point in posix/io/sync/fdatasync posix/io/rw/pwrite; do
  fiu "$tmkms_pid" "enable name=$point" || bad "fiu-ctrl enable $point"
  sleep 0.5 # a request in flight may finish with the old state
  stalls "$rec_a" 2 && ok || bad "A: signatures kept advancing while $point failed"
  grep -q "signature withheld" "$work/a-tmkms.$tmkms_runs.log" && ok || bad "A: no log line for a failing $point"
  durable "A: $point failing" "$state_a" "$chain" "$rec_a"
  fiu "$tmkms_pid" "disable name=$point" || bad "fiu-ctrl disable $point"
  grows "$rec_a" 10 && ok || bad "A: signing did not resume after $point was cleared"
  kill -0 "$tmkms_pid" 2>/dev/null && ok || bad "A: tmkms died on a failing $point"
done
kill -KILL "$tmkms_pid"
wait "$tmkms_pid" 2>/dev/null
h_forget "$tmkms_pid"
durable "A: after the chosen faults" "$state_a" "$chain" "$rec_a"

for ((r = 1; r <= rounds; r++)); do
  start_tmkms "enable_random name=posix/io/sync/fdatasync,probability=0.05" \
    "enable_random name=posix/io/rw/pwrite,probability=0.05" \
    "enable_random name=posix/io/oc/open,probability=0.02" \
    "enable_random name=posix/io/rw/read,probability=0.01" \
    "enable_random name=libc/mm/malloc,probability=0.0005"
  sleep 2
  kill -KILL "$tmkms_pid" 2>/dev/null
  wait "$tmkms_pid" 2>/dev/null
  h_forget "$tmkms_pid"
  durable "A: random round $r" "$state_a" "$chain" "$rec_a"
done
start_tmkms
grows "$rec_a" 60 && ok || bad "A: no signing after the random rounds"
kill -TERM "$tmkms_pid" "$sim_a"
wait "$tmkms_pid" "$sim_a" 2>/dev/null
h_forget "$tmkms_pid"
h_forget "$sim_a"
durable "A: at the end" "$state_a" "$chain" "$rec_a"
"$bin/validator-sim" --check-record "$rec_a" >"$work/a-check.log" 2>&1 && ok ||
  bad "A: conflicting signatures: $(tail -n 3 "$work/a-check.log")"
echo "A: $(head -n 1 "$work/a-check.log"); $tmkms_runs tmkms runs"

# ---------------------------------------------------------------- B. the Nitro path
sim=$work/s
"$src/scripts/simulate" up "$sim" --build "$bin/.." --chain-id "$chain" >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  exit 1
}
# shellcheck disable=SC1091
source "$sim/env"
export AWS_EC2_METADATA_SERVICE_ENDPOINT
"$src/scripts/simulate" stop "$sim" helper enclave >/dev/null
state_b=$SIM_KMS_HOME/state/priv_validator_state.json
rec_b=$work/b.record
node_sock=${SIM_ADDRESS#unix://}
h_bg "$work/b-sim.log" "$bin/validator-sim" --socket "$node_sock" --chain-id "$chain" --expect-pubkey "$SIM_PUBKEY" \
  --record "$rec_b" --scenario storm --heights 0 --seconds 600 --crashes --timeout 3000 --accept-timeout 60000
sim_b=$h_last_pid
h_wait_socket "$node_sock" 10 || exit 1
enclave_runs=0
helper_runs=0
start_enclave() { # FIU-COMMANDS...
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  h_bg "$work/b-enclave.$((++enclave_runs)).log" fiu-run -x -f "$work/fiu" "${args[@]}" \
    "$bin/tmkms-nitro-enclave-sim" --simulate "$SIM_VSOCK" --cid 16 --kms-endpoint "$SIM_KMS_URL" \
    --kms-ca "$SIM_KMS_CA" --instance-id i-0123456789abcdef0 --pcr0 "$(sha384sum "$bin/tmkms-nitro-enclave-sim" | cut -c1-96)"
  enclave_pid=$h_last_pid
}
start_helper() { # FIU-COMMANDS...
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  h_bg "$work/b-helper.$((++helper_runs)).log" fiu-run -x -f "$work/fiu" "${args[@]}" \
    "$bin/tmkms-nitro-helper" start -c "$SIM_KMS_HOME/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" \
    --repush-seconds 1 --boot-wait 30
  helper_pid=$h_last_pid
}
stop_pid() {
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  h_forget "$1"
}
start_enclave
start_helper
grows "$rec_b" 30 && ok || bad "B: no signature before any fault"

fiu "$helper_pid" "enable name=posix/io/sync/fdatasync" || bad "fiu-ctrl enable (helper)"
sleep 0.5
stalls "$rec_b" 2 && ok || bad "B: signatures kept advancing while the helper's fdatasync failed"
grep -q "not persisted (the enclave withholds the signature)" "$work/b-helper.$helper_runs.log" && ok ||
  bad "B: the helper did not log its failing fdatasync"
grep -q "signature withheld" "$work/b-helper.$helper_runs.log" && ok ||
  bad "B: the enclave did not log the withheld signature"
durable "B: the helper's fdatasync failing" "$state_b" "$chain" "$rec_b"
fiu "$helper_pid" "disable name=posix/io/sync/fdatasync" || bad "fiu-ctrl disable (helper)"
grows "$rec_b" 15 && ok || bad "B: signing did not resume after the helper's fault was cleared"

for ((r = 1; r <= rounds; r++)); do
  stop_pid "$helper_pid"
  start_helper "enable_random name=posix/io/sync/fdatasync,probability=0.05" \
    "enable_random name=posix/io/rw/pwrite,probability=0.05" \
    "enable_random name=posix/io/rw/write,probability=0.01" \
    "enable_random name=libc/mm/malloc,probability=0.0005"
  sleep 2
  durable "B: helper random round $r" "$state_b" "$chain" "$rec_b"
done
stop_pid "$helper_pid"
start_helper
# Serving again before the enclave rounds: a helper whose first config push meets a faulty
# enclave exits (as it does on any failed start; systemd or launch-all restarts it).
grows "$rec_b" 30 && ok || bad "B: no signing after the helper's random rounds"
for ((r = 1; r <= rounds; r++)); do
  stop_pid "$enclave_pid"
  start_enclave "enable_random name=posix/io/rw/write,probability=0.02" \
    "enable_random name=posix/io/rw/read,probability=0.02"
  sleep 3
  durable "B: enclave random round $r" "$state_b" "$chain" "$rec_b"
done
stop_pid "$enclave_pid"
start_enclave
grows "$rec_b" 60 && ok || bad "B: no signing after the random rounds"
kill -TERM "$sim_b"
wait "$sim_b" 2>/dev/null
h_forget "$sim_b"
durable "B: at the end" "$state_b" "$chain" "$rec_b"
"$bin/validator-sim" --check-record "$rec_b" >"$work/b-check.log" 2>&1 && ok ||
  bad "B: conflicting signatures: $(tail -n 3 "$work/b-check.log")"
echo "B: $(head -n 1 "$work/b-check.log"); $helper_runs helper runs, $enclave_runs enclave runs"

echo "$passed passed, $failed failed"
if ((failed)); then
  for f in "$work"/*.log; do
    echo "--- $f (tail)"
    tail -n 8 "$f"
  done
fi
((failed == 0))
