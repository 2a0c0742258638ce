#!/usr/bin/env bash
# labels: nitro;supervision;e2e;fault
# timeout: 300
#
# tmkms-nitro-helper launch-all supervising the real parts in simulation: the fake
# nitro-cli's run-enclave starts tmkms-nitro-enclave-sim with the CID it hands out, and
# launch-all runs the real vsock proxy (to the kms-emulator) and the real helper `start`.
# The emulators, the KMS key with its PCR0/PCR4 policy (PCR0: SHA-384 of
# tmkms-nitro-enclave-sim) and `init` come from `scripts/simulate up --no-helper`, whose
# own enclave and proxy are then stopped. validator-sim plays the node:
#   - signatures through the supervised system;
#   - the enclave killed (-9) during a storm: the fake no longer lists it, launch-all runs
#     it again (CID 17) and restarts the helper with the new CID; signing resumes;
#   - the helper killed (-9) during a storm: restarted; signing resumes;
#   - SIGTERM to launch-all: exit 0, the enclave terminated, helper and proxy gone;
#   - systemd's side (tests/lib/sd_notify_receiver.py as PID 1, NotifyAccess=main): every
#     notification from launch-all, one READY=1 across the helper's restarts, the helper's
#     STATUS= passed on ("validator connected" while validator-sim is, "no validator
#     connected" when it left, the new CID after the enclave's restart), STOPPING=1 last;
#   - no double sign in validator-sim's record of the whole run.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
sim=$(mktemp -d /tmp/nla-real.XXXXXX)
work=$sim/work
mkdir -p "$work"
source "$src/tests/lib/nitro.sh"
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
launcher=""
cleanup() {
  if [[ -n $launcher ]]; then
    kill -TERM "$launcher" 2>/dev/null
    timeout 20 tail --pid="$launcher" -f /dev/null 2>/dev/null
    kill -KILL "$launcher" 2>/dev/null
  fi
  nitro_fake_cleanup
  "$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1
  rm -rf "$sim"
}
trap cleanup EXIT
show_logs() {
  local f
  for f in "$sim"/logs/*.log "$work"/*.log "$work"/nitro/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (tail)"
    tail -n 20 "$f"
  done
}
die() {
  bad "$*"
  show_logs
  echo "$passed passed, $failed failed"
  exit 1
}
count() { grep -cE "$2" "$1" 2>/dev/null; } # FILE PATTERN

# --- the emulators, the key, its policy and init; then launch-all takes over
"$src/scripts/simulate" up --dir "$sim" --build "$build" --no-helper >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  die "scripts/simulate up --no-helper"
}
"$src/scripts/simulate" stop --dir "$sim" enclave proxy >>"$work/up.log" 2>&1 || die "simulate stop enclave proxy"
# shellcheck disable=SC1091
source "$sim/env"
export AWS_EC2_METADATA_SERVICE_ENDPOINT
home=$SIM_KMS_HOME
node_sock=${SIM_ADDRESS#unix://}
[[ ! -e $SIM_VSOCK/vsock-16-5050.sock && ! -e $SIM_VSOCK/vsock-3-8000.sock ]] && ok ||
  bad "the stopped enclave or proxy left its socket: $(ls "$SIM_VSOCK")"

nitro_fake_setup
echo "fake image: the fake nitro-cli runs FAKE_NITRO_ENCLAVE_CMD" >"$home/tmkms.eif"
printf -v FAKE_NITRO_ENCLAVE_CMD 'exec %q --simulate %q --cid "$FAKE_ENCLAVE_CID" --kms-endpoint %q --kms-ca %q --instance-id i-0123456789abcdef0' \
  "$bin/tmkms-nitro-enclave-sim" "$SIM_VSOCK" "$SIM_KMS_URL" "$SIM_KMS_CA"
export FAKE_NITRO_ENCLAVE_CMD
launch_log=$work/launch.log
notify_log=$work/notify.log
python3 "$src/tests/lib/sd_notify_receiver.py" --pid-file "$work/launch.pid" "$notify_log" -- "$HELPER" launch-all -c "$home/tmkms.toml" -e "$home/enclave.toml" --simulate "$SIM_VSOCK" \
  --kms-target "127.0.0.1:${SIM_KMS_URL##*:}" --check-interval-ms 200 --backoff-ms 200 >"$launch_log" 2>&1 &
launcher=$!

# our_enclave: "ID PID CID" of the running enclave named tmkms, or "none".
our_enclave() {
  nitro_fake_enclaves | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x["EnclaveName"] == "tmkms"]
print("%s %d %d" % (e[0]["EnclaveID"], e[0]["ProcessID"], e[0]["EnclaveCID"]) if e else "none")'
}
# The pid launch-all logged for its last start of a child (helper, vsock-proxy).
child_pid() { sed -n "s/.*$1 started (pid \([0-9]*\)).*/\1/p" "$launch_log" | tail -n 1; }
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
serving() { count "$launch_log" 'the enclave serves chain'; }
top=0
sim_run() { # LOG ARGS...: validator-sim as the node; sets top to the highest signed height
  local log=$1 rc h
  shift
  "$bin/validator-sim" --socket "$node_sock" --chain-id sim-chain --expect-pubkey "$SIM_PUBKEY" \
    --record "$work/record" --accept-timeout 60000 "$@" >"$log" 2>&1
  rc=$?
  note_top "$log"
  ((rc == 0)) && grep -q '^result: PASS' "$log"
}
note_top() { # LOG: a background run's highest signed height (its subshell cannot set top)
  local h
  h=$(sed -n 's/^  highest signed *h=\([0-9]*\).*/\1/p' "$1")
  [[ -n $h ]] && ((h > top)) && top=$h
  return 0
}

spanned() { grep -qE '^  connections +([2-9]|[1-9][0-9]+) ' "$1"; } # the storm saw tmkms reconnect
recorded() { cat "$work/record" 2>/dev/null | wc -l; }
wait_signing() { # until the storm started in the background has 30 more signatures
  local want=$(($(recorded) + 30)) n=0
  until (($(recorded) >= want)) || ((n++ > 300)); do sleep 0.1; done
}

# --- everything comes up: enclave CID 16, the helper started with it
wait_grep "$launch_log" 'the enclave serves chain|giving up' 60 && (($(serving) == 1)) ||
  die "launch-all did not bring the system up: $(tail -n 20 "$launch_log")"
read -r eid epid ecid <<<"$(our_enclave)"
[[ $ecid == 16 ]] && alive "$epid" && ok || bad "enclave: $(our_enclave)"
[[ $(cmdline "$epid") == *"tmkms-nitro-enclave-sim --simulate $SIM_VSOCK --cid 16 "* ]] && ok ||
  bad "the enclave process: $(cmdline "$epid")"
hpid=$(child_pid helper)
ppid=$(child_pid vsock-proxy)
[[ $(cmdline "$hpid") == *" start -c $home/tmkms.toml --cid 16 --simulate $SIM_VSOCK "* ]] && ok ||
  bad "the helper: $(cmdline "$hpid")"
[[ $(cmdline "$ppid") == *" enclave vsock-proxy "*"--simulate $SIM_VSOCK --target 127.0.0.1:"* ]] && ok ||
  bad "the proxy: $(cmdline "$ppid")"
[[ -S $SIM_VSOCK/vsock-16-5050.sock && -S $SIM_VSOCK/vsock-3-8000.sock ]] && ok || bad "sockets: $(ls "$SIM_VSOCK")"
grep -q '\[node-relay\] relaying to unix://' "$launch_log" && ! grep -q '\[vsock-proxy\] .*node.sock' "$launch_log" && ok ||
  bad "the helper's node relay and the KMS proxy are not told apart in launch-all's log"

# --- signatures through the supervised system
sim_run "$work/sim1.log" --scenario basic,storm --heights 40 && ok ||
  { bad "validator-sim through launch-all: $(grep -E '^FAIL|result' "$work/sim1.log" | head -n 5)"; show_logs; }

# --- the enclave killed during a storm: run again with CID 17, the helper follows it
helper_starts=$(count "$launch_log" 'helper started')
sim_run "$work/sim2.log" --scenario storm --crashes --start-height $((top + 1)) --heights 150 &
sim_pid=$!
wait_signing
kill -KILL "$epid"
wait_grep "$launch_log" "enclave $eid is gone" 20 && ok || bad "launch-all did not notice the enclave's death"
[[ $(our_enclave) != "$eid "* ]] && ok || bad "the fake still lists the killed enclave: $(our_enclave)"
wait_grep "$launch_log" 'enclave .* running, CID 17' 30 && ok || bad "the enclave was not run again with CID 17"
wait_grep "$launch_log" "the enclave's CID is now 17: restarting the helper" 10 && ok ||
  bad "the helper was not restarted for the new CID"
n=0
until (($(serving) >= 2)) || ((n++ > 600)); do sleep 0.1; done
(($(serving) >= 2)) && ok || bad "the system did not serve again after the enclave's restart"
wait "$sim_pid"
st=$?
note_top "$work/sim2.log"
((st == 0)) && ok || bad "storm across the enclave's kill: $(grep -E '^FAIL|result' "$work/sim2.log" | head -n 5)"
spanned "$work/sim2.log" && ok || bad "the enclave was not killed during the storm: $(grep connections "$work/sim2.log")"
read -r eid2 epid2 ecid2 <<<"$(our_enclave)"
[[ $eid2 != "$eid" && $ecid2 == 17 ]] && alive "$epid2" && ok || bad "the new enclave: $(our_enclave)"
[[ $(cmdline "$epid2") == *" --cid 17 "* && -S $SIM_VSOCK/vsock-17-5050.sock ]] && ok ||
  bad "the new enclave's process or socket: $(cmdline "$epid2"); $(ls "$SIM_VSOCK")"
hpid2=$(child_pid helper)
(($(count "$launch_log" 'helper started') > helper_starts)) && [[ $hpid2 != "$hpid" ]] && dead "$hpid" && ok ||
  bad "the helper was not replaced (pid $hpid -> $hpid2)"
[[ $(cmdline "$hpid2") == *" --cid 17 --simulate "* ]] && ok || bad "the new helper's CID: $(cmdline "$hpid2")"
[[ $(child_pid vsock-proxy) == "$ppid" ]] && alive "$ppid" && ok || bad "the proxy was restarted for an enclave death"
sim_run "$work/sim3.log" --scenario basic --start-height $((top + 1)) && ok ||
  bad "signing after the enclave's restart: $(grep -E '^FAIL|result' "$work/sim3.log" | head -n 5)"

# --- the helper killed during a storm: restarted, signing resumes
serving_before=$(serving)
sim_run "$work/sim4.log" --scenario storm --crashes --start-height $((top + 1)) --heights 150 &
sim_pid=$!
wait_signing
kill -KILL "$hpid2"
wait_grep "$launch_log" 'helper: killed by signal 9; restarting' 10 && ok || bad "no helper restart logged"
n=0
until (($(serving) > serving_before)) || ((n++ > 600)); do sleep 0.1; done
(($(serving) > serving_before)) && ok || bad "the restarted helper did not configure the enclave"
wait "$sim_pid"
st=$?
note_top "$work/sim4.log"
((st == 0)) && ok || bad "storm across the helper's kill: $(grep -E '^FAIL|result' "$work/sim4.log" | head -n 5)"
spanned "$work/sim4.log" && ok || bad "the helper was not killed during the storm: $(grep connections "$work/sim4.log")"
hpid3=$(child_pid helper)
[[ $hpid3 != "$hpid2" ]] && alive "$hpid3" && [[ $(cmdline "$hpid3") == *" --cid 17 --simulate "* ]] && ok ||
  bad "the restarted helper: pid $hpid3: $(cmdline "$hpid3")"
[[ $(our_enclave) == "$eid2 $epid2 $ecid2" ]] && ok || bad "the enclave changed on a helper death: $(our_enclave)"
sim_run "$work/sim5.log" --scenario basic --start-height $((top + 1)) && ok ||
  bad "signing after the helper's restart: $(grep -E '^FAIL|result' "$work/sim5.log" | head -n 5)"

# --- a node connected for a few seconds, then gone: the helper's STATUS= follows (it looks
# every second)
sim_run "$work/sim6.log" --scenario storm --start-height $((top + 1)) --heights 0 --seconds 3 && ok ||
  bad "the last storm: $(grep -E '^FAIL|result' "$work/sim6.log" | head -n 5)"
# the helper's STATUS= after the node left (checked with the others below)
wait_for 50 sh -c 'grep STATUS= "$1" | tail -n 1 | grep -q "no validator connected"' _ "$notify_log" ||
  bad "no STATUS= 'no validator connected' after the node left"

# --- SIGTERM: everything gone, exit 0
ppid=$(child_pid vsock-proxy)
kill -TERM "$launcher"
timeout 30 tail --pid="$launcher" -f /dev/null
wait "$launcher"
rc=$?
launcher=""
((rc == 0)) && ok || bad "launch-all exited $rc after SIGTERM: $(tail -n 10 "$launch_log")"
dead "$epid2" && dead "$hpid3" && dead "$ppid" && ok ||
  bad "left running: enclave $(alive "$epid2" && echo "$epid2") helper $(alive "$hpid3" && echo "$hpid3") proxy $(alive "$ppid" && echo "$ppid")"
[[ $(our_enclave) == none ]] && ok || bad "the enclave is still listed: $(our_enclave)"
grep -qF "[\"terminate-enclave\", \"--enclave-id\", \"$eid2\"]" "$FAKE_NITRO_DIR/calls.log" && ok ||
  bad "no terminate-enclave for $eid2"
grep -q 'received Terminated, stopping' "$FAKE_NITRO_DIR/$eid2.log" && ok || bad "the enclave did not stop on SIGTERM"
[[ ! -e $SIM_VSOCK/vsock-17-5050.sock && ! -e $SIM_VSOCK/vsock-3-8000.sock ]] && ok ||
  bad "sockets left: $(ls "$SIM_VSOCK")"

# --- systemd saw one process: launch-all
python3 - "$notify_log" "$(cat "$work/launch.pid")" <<'PY' && ok || bad "notifications: $(cat "$notify_log")"
import sys
main = int(sys.argv[2])
msgs = [(int(l.split(" ", 2)[1]), l.rstrip("\n").split(" ", 2)[2].split("|")) for l in open(sys.argv[1])]
status = [f[7:] for m in msgs for f in m[1] if f.startswith("STATUS=")]
connected = [i for i, s in enumerate(status) if s.endswith("'sim-chain'; validator connected")]
last_connected = connected[-1] if connected else len(status)
checks = {
    "all from launch-all": all(p == main for p, _ in msgs),
    "one READY=1": sum("READY=1" in f for _, f in msgs) == 1,
    "STOPPING=1 last": bool(msgs) and "STOPPING=1" in msgs[-1][1],
    "validator connected": any(s.endswith("'sim-chain'; validator connected") for s in status),
    # after the last "validator connected" (a helper always starts with "no validator")
    "then no validator": any(s.endswith("; no validator connected") for s in status[last_connected + 1:]),
    "CID 17": any(s.startswith("enclave CID 17 serves") for s in status),
}
for name, good in checks.items():
    if not good:
        print("FAIL: notifications:", name)
sys.exit(0 if all(checks.values()) else 1)
PY

# --- no double sign across the whole run
"$bin/validator-sim" --check-record "$work/record" >"$work/check.log" 2>&1 && ok ||
  bad "double signs in the record: $(tail -n 5 "$work/check.log")"
signed=$(grep -c . "$work/record" 2>/dev/null)
((signed > 0)) && ok || bad "nothing recorded"

echo "$passed passed, $failed failed ($signed signatures recorded, highest height $top)"
((failed == 0)) || show_logs
((failed == 0))
