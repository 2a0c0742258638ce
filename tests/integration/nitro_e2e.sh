#!/usr/bin/env bash
# labels: nitro;e2e;fault
# timeout: 400
#
# The Nitro system end to end in simulation (scripts/simulate: IMDS and KMS emulators, a
# PCR0/PCR4 key policy set with the AWS CLI, tmkms-nitro-enclave-sim, the vsock proxy,
# tmkms-nitro-helper init and start), with validator-sim as the node:
#   - init: sealed keys 0600, never overwritten; the attestation document verifies against
#     the NSM simulator's root and its user_data binds the printed key to the KMS key;
#   - every validator-sim scenario through the enclave, signatures recorded; the helper's
#     state file reaches the highest signed height;
#   - the helper killed (-9) during a storm and restarted: signing resumes, no double sign;
#   - the enclave killed (-9) and restarted: the helper's repush configures it again,
#     and it continues from the helper's state (refusing below it);
#   - garbage on the enclave's config port and on the helper's state, node and log ports:
#     logged, nothing signed for it, everything keeps serving;
#   - a corrupt state file: the helper refuses to start, naming the file;
#   - an enclave image with another PCR0: KMS refuses to unseal, the helper says why;
#   - the documented limit: a host that rolls the state file back makes a restarted
#     enclave start from the older state (docs/THREAT_MODEL.md);
#   - SIGTERM: helper and enclave exit 0.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
sim=$(mktemp -d /tmp/nitro-e2e.XXXXXX)
work=$sim/work
mkdir -p "$work"
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
extra_pids=()
cleanup() {
  local p
  for p in "${extra_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  "$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1
  rm -rf "$sim"
}
trap cleanup EXIT
show_logs() {
  local f
  for f in "$sim"/logs/*.log "$work"/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (tail)"
    tail -n 15 "$f"
  done
}

"$src/scripts/simulate" up --dir "$sim" --build "$build" >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  show_logs
  exit 1
}
# shellcheck disable=SC1091
source "$sim/env"
export AWS_EC2_METADATA_SERVICE_ENDPOINT
home=$SIM_KMS_HOME
node_sock=${SIM_ADDRESS#unix://}
instance=i-0123456789abcdef0

# --- init's products
[[ $(stat -c %a "$home/secrets/secret.key") == 600 && $(stat -c %a "$home/secrets/id.key") == 600 ]] && ok ||
  bad "sealed key modes: $(stat -c '%n %a' "$home"/secrets/*)"
grep -q '^chain_id = .sim-chain.' "$home/tmkms.toml" && [[ -f $home/enclave.toml ]] && ok || bad "starter configs"
cp "$home/secrets/secret.key" "$work/secret.before"
if "$bin/tmkms-nitro-helper" init -a ap-southeast-1 -k "$SIM_KEY_ID" -p base64 -c "$home" --cid 16 \
  --simulate "$SIM_VSOCK" >"$work/init2.log" 2>&1; then
  bad "a second init succeeded"
else
  grep -q "never overwritten" "$work/init2.log" && cmp -s "$work/secret.before" "$home/secrets/secret.key" && ok ||
    bad "second init: $(cat "$work/init2.log")"
fi
sed -n '/^attestation document/{n;p}' "$sim/logs/init.log" >"$work/doc.b64"
"$bin/tmkms-nitro-helper" verify-attestation "$work/doc.b64" --root "$SIM_VSOCK/nsm-ca/root.pem" --json \
  >"$work/att.json" 2>"$work/att.err" && ok || bad "verify-attestation: $(cat "$work/att.err")"
claim_pk=$(jq -r '.user_data_claim.pubkey // .claim.pubkey // empty' "$work/att.json" 2>/dev/null)
grep -qF "$SIM_PUBKEY" "$work/att.json" && ok || bad "the attestation's user_data does not carry $SIM_PUBKEY: $(head -c 600 "$work/att.json")"
[[ -z $claim_pk || $claim_pk == "$SIM_PUBKEY" ]] && ok || bad "claim pubkey $claim_pk != $SIM_PUBKEY"

# --- every scenario through the enclave
sim_run() { # LOG ARGS...
  local log=$1
  shift
  "$bin/validator-sim" --socket "$node_sock" --chain-id sim-chain --expect-pubkey "$SIM_PUBKEY" \
    --record "$work/record" --accept-timeout 60000 "$@" >"$log" 2>&1
}
sim_run "$work/sim1.log" --scenario basic,guard,storm,oversize --heights 60 --max-height 0 ||
  bad "scenarios through the enclave: $(grep -E '^FAIL|result' "$work/sim1.log" | head -n 5)"
grep -q '^result: PASS' "$work/sim1.log" && ok || { bad "validator-sim did not pass"; show_logs; }
top=$(sed -n 's/^  highest signed *h=\([0-9]*\).*/\1/p' "$work/sim1.log")
state_h=$("$bin/tmkms" state show --state-file "$home/state/priv_validator_state.json" --chain sim-chain 2>/dev/null |
  jq -r .height)
[[ -n $top && $state_h -ge $top ]] && ok || bad "state file height $state_h < highest signed $top"
cp "$home/state/priv_validator_state.json" "$work/state.snapshot"
snap_h=$state_h
grep -q 'enclave| .*signed precommit' "$sim/logs/helper.log" && ok || bad "the enclave's log lines did not reach the helper"

restart_helper() { # extra args...
  setsid "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" --repush-seconds 1 "$@" \
    >>"$sim/logs/helper.log" 2>&1 </dev/null &
  echo $! >"$sim/pids/helper.pid"
}
helper_pid() { cat "$sim/pids/helper.pid"; }

# --- the helper killed during a storm, restarted
kill -TERM "$(helper_pid)"
wait_grep "$sim/logs/helper.log" 'shutting down' 5 && ok || bad "helper: no clean shutdown on SIGTERM"
restart_helper
start=$((top + 1))
sim_run "$work/sim2.log" --scenario storm --crashes --start-height "$start" --heights 120 &
sim_pid=$!
sleep 1.5
hpid=$(helper_pid)
kill -KILL "$hpid"
for _ in $(seq 200); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.05; done # its state lock goes with it
served=$(grep -c 'the enclave serves chain' "$sim/logs/helper.log")
restart_helper
wait "$sim_pid" && ok || bad "storm across a helper kill: $(grep -E '^FAIL|result' "$work/sim2.log" | head -n 5)"
grep -q '^result: PASS' "$work/sim2.log" && ok || { bad "storm across a helper kill did not pass"; show_logs; }
top=$(sed -n 's/^  highest signed *h=\([0-9]*\).*/\1/p' "$work/sim2.log")

# --- the enclave killed and restarted: the helper's repush configures it again
# (once the restarted helper has configured it: the storm may end before that)
n=0
until (($(grep -c 'the enclave serves chain' "$sim/logs/helper.log") > served)) || ((n++ > 300)); do sleep 0.1; done
((n <= 300)) && ok || bad "the restarted helper did not configure the enclave within 30 s"
enclave_cmd=(setsid "$bin/tmkms-nitro-enclave-sim" --simulate "$SIM_VSOCK" --cid 16 --kms-endpoint "$SIM_KMS_URL"
  --kms-ca "$SIM_KMS_CA" --instance-id "$instance")
kill -KILL "$(cat "$sim/pids/enclave.pid")"
"${enclave_cmd[@]}" >>"$sim/logs/enclave.log" 2>&1 </dev/null &
echo $! >"$sim/pids/enclave.pid"
before=$(grep -c 'enclave loaded state' "$sim/logs/helper.log")
n=0
until (($(grep -c 'enclave loaded state' "$sim/logs/helper.log") > before)) || ((n++ > 300)); do sleep 0.1; done
((n <= 300)) && ok || bad "the restarted enclave was not configured again by the helper within 30 s"
sim_run "$work/sim3.log" --scenario basic,storm --start-height $((top + 1)) --heights 30 && ok ||
  bad "after the enclave restart: $(grep -E '^FAIL|result' "$work/sim3.log" | head -n 5)"
# An old height is refused by the restarted enclave: its state came from the helper.
sim_run "$work/sim4.log" --scenario guard --start-height 2 --max-height 0 >/dev/null 2>&1
grep -q 'height regression\|step regression\|conflicting data' "$sim/logs/helper.log" && ok ||
  bad "the restarted enclave did not refuse below the helper's state"

# --- garbage on every port; everything keeps serving
garbage() { # SOCKET
  python3 - "$1" <<'PY'
import os, socket, sys
for payload in (b"\xff\xff\xff\xff" + os.urandom(64), b"\x00\x00\x00\x00", b"\x00\x00\x00\x10" + os.urandom(16), os.urandom(300)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(sys.argv[1]); s.sendall(payload)
        try: s.recv(4096)
        except Exception: pass
    except Exception as e:
        print("garbage:", e)
    s.close()
PY
}
for port in 16-5050 3-5555 3-6050; do garbage "$SIM_VSOCK/vsock-$port.sock"; done
wait_grep "$sim/logs/enclave.log" 'config connection: frame' 5 && ok || bad "the enclave did not log the garbage on its config port"
wait_grep "$sim/logs/helper.log" 'state connection: .*(frame|message|expected)' 5 && ok ||
  bad "the helper did not log the garbage on its state port"
kill -0 "$(cat "$sim/pids/enclave.pid")" && kill -0 "$(helper_pid)" && ok || bad "garbage killed a process"
sim_run "$work/sim5.log" --scenario basic --start-height $((top + 100)) && ok ||
  bad "signing after garbage: $(grep -E '^FAIL|result' "$work/sim5.log" | head -n 5)"

# --- no double sign across everything the node side received
"$bin/validator-sim" --check-record "$work/record" >"$work/check.log" 2>&1 && ok ||
  bad "double signs in the record: $(tail -n 5 "$work/check.log")"

# --- SIGTERM: both exit 0
kill -TERM "$(helper_pid)" "$(cat "$sim/pids/enclave.pid")"
for p in "$(helper_pid)" "$(cat "$sim/pids/enclave.pid")"; do
  n=0
  while kill -0 "$p" 2>/dev/null && ((n++ < 100)); do sleep 0.1; done
  kill -0 "$p" 2>/dev/null && bad "pid $p still running 10 s after SIGTERM"
done
grep -q 'received Terminated, stopping' "$sim/logs/enclave.log" && ok || bad "the enclave did not stop on SIGTERM"
rm -f "$sim/pids/helper.pid"

# --- a corrupt state file is refused
cp "$home/state/priv_validator_state.json" "$work/state.good"
printf 'garbage' | dd of="$home/state/priv_validator_state.json" bs=1 seek=10 conv=notrunc 2>/dev/null
printf 'garbage' | dd of="$home/state/priv_validator_state.json" bs=1 seek=4106 conv=notrunc 2>/dev/null
if "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" --boot-wait 2 \
  >"$work/corrupt.log" 2>&1; then
  bad "the helper started on a corrupt state file"
else
  grep -q "priv_validator_state.json" "$work/corrupt.log" && ok || bad "corrupt state: $(cat "$work/corrupt.log")"
fi
cp "$work/state.good" "$home/state/priv_validator_state.json"

# --- another enclave image (PCR0) cannot unseal
"${enclave_cmd[@]}" --pcr0 "$(printf 'another image' | sha384sum | cut -c1-96)" >"$work/enclave-other.log" 2>&1 </dev/null &
extra_pids+=($!)
if "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" --boot-wait 10 \
  >"$work/other.log" 2>&1; then
  bad "an enclave with another PCR0 unsealed the key"
else
  grep -q "AccessDeniedException" "$work/other.log" && ok || bad "other PCR0: $(tail -n 3 "$work/other.log")"
fi
kill -TERM "${extra_pids[@]}" 2>/dev/null
wait "${extra_pids[@]}" 2>/dev/null
extra_pids=()

# --- the enclave lost in the middle of the first config push (it restarts): the
# helper dials again instead of giving up
python3 - "$SIM_VSOCK/vsock-16-5050.sock" >"$work/lost-enclave.log" 2>&1 <<'PY' &
import os, socket, struct, sys
path = sys.argv[1]
if os.path.exists(path): os.unlink(path)
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(path); l.listen(1); l.settimeout(30)
c, _ = l.accept()
c.settimeout(10)
hdr = b""
while len(hdr) < 4: hdr += c.recv(4 - len(hdr))
left = struct.unpack(">I", hdr)[0]
while left: left -= len(c.recv(left))
c.close(); l.close(); os.unlink(path)
print("read one config push and closed")
PY
lost_pid=$!
for _ in $(seq 100); do [[ -S $SIM_VSOCK/vsock-16-5050.sock ]] && break; sleep 0.05; done
served=$(grep -c 'the enclave serves chain' "$sim/logs/helper.log")
restart_helper
wait "$lost_pid" && ok || bad "the stand-in enclave: $(cat "$work/lost-enclave.log")"
"${enclave_cmd[@]}" >>"$sim/logs/enclave.log" 2>&1 </dev/null &
echo $! >"$sim/pids/enclave.pid"
n=0
until (($(grep -c 'the enclave serves chain' "$sim/logs/helper.log") > served)) || ((n++ > 300)); do sleep 0.1; done
((n <= 300)) && ok || bad "the helper did not configure the enclave that came back"
grep -q 'connection closed by peer; dialing again' "$sim/logs/helper.log" && ok ||
  bad "the helper did not say why it dialed again"
kill -TERM "$(helper_pid)" "$(cat "$sim/pids/enclave.pid")"
for p in "$(helper_pid)" "$(cat "$sim/pids/enclave.pid")"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done

# --- the documented limit: a rolled-back state file is what a restarted enclave gets
cp "$work/state.snapshot" "$home/state/priv_validator_state.json"
"${enclave_cmd[@]}" >>"$sim/logs/enclave.log" 2>&1 </dev/null &
echo $! >"$sim/pids/enclave.pid"
restart_helper
wait_grep "$sim/logs/helper.log" "enclave loaded state $snap_h/" 30 && ok ||
  bad "rollback: the enclave did not start from the rolled-back height $snap_h"

echo "$passed passed, $failed failed"
((failed == 0)) || show_logs
((failed == 0))
