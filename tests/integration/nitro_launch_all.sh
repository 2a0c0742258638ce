#!/usr/bin/env bash
# labels: nitro;supervision
# timeout: 180
#
# tmkms-nitro-helper launch-all with the fake nitro-cli: the enclave is a stand-in process
# started by the fake's run-enclave, the helper's `start` a stand-in too (a wrapper given
# as TMKMS_NITRO_HELPER_BIN records its arguments and sleeps; every other command is the
# real helper, so the vsock proxy is ours, in simulation). Checks: all three come up, the
# helper gets the enclave's CID; a killed helper, proxy or enclave is brought back; an
# enclave that returns with another CID restarts the helper with it; nitro-cli failing for a
# moment restarts nothing; SIGTERM tears
# everything down (exit 0, enclave terminated, no process left); a helper that keeps dying
# and an enclave that cannot start end launch-all with exit status 1, torn down too.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
launcher=""
cleanup() {
    [[ -n $launcher ]] && kill -TERM "$launcher" 2>/dev/null && wait "$launcher" 2>/dev/null
    for f in "$work"/helper.starts "$work"/proxy.starts; do
        [[ -f $f ]] && while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <"$f"
    done
    nitro_fake_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
nitro_fake_setup
cd "$work"
mkdir sim

cat >helper-standin <<SH
#!/usr/bin/env bash
# 'start' is the stand-in helper; everything else the real tmkms-nitro-helper.
if [[ \$1 == start ]]; then
    echo "\$\$ \$*" >>"$work/helper.starts"
    [[ -f "$work/helper.crash" ]] && exit 3
    echo "\${NOTIFY_SOCKET:-} \${WATCHDOG_USEC:-}" >>"$work/helper.env"
    # Like the helper: READY=1 (and STATUS=) from its own PID once it serves, then STOPPING=1 on SIGTERM.
    [[ -n \${NOTIFY_SOCKET:-} ]] && exec python3 "$work/notify-standin.py"
    exec sleep 100000
fi
[[ \$1 == enclave && \$2 == vsock-proxy ]] && echo "\$\$" >>"$work/proxy.starts"
exec "$HELPER" "\$@"
SH
chmod +x helper-standin
cat >notify-standin.py <<'PY'
import os, signal, socket, sys, time
path = os.environ["NOTIFY_SOCKET"]
addr = "\0" + path[1:] if path.startswith("@") else path
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
def stop(*_):
    s.sendto(b"STOPPING=1", addr)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(0.3)
s.sendto(b"STATUS=enclave CID 16 serves chain 'test-chain'; no validator connected", addr)
s.sendto(b"READY=1", addr)
s.sendto(b"READY=1", addr)  # a second READY=1: launch-all sends one
while True:
    time.sleep(1000)
PY
export TMKMS_NITRO_HELPER_BIN="$work/helper-standin"
export FAKE_NITRO_ENCLAVE_CMD='exec sleep 100000'
echo "fake image" >tmkms.eif
printf "address = 'unix://%s/node.sock'\nchain_id = 'test-chain'\n" "$work" >tmkms.toml
printf '[enclave]\neif_path = "tmkms.eif"\n' >enclave.toml
kms_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
# wait_for evaluates its command at every poll: these re-read their files each time.
has_lines() { (($(lines "$1") >= $2)); }
run_calls_at_least() { (($(nitro_calls run-enclave | wc -l) >= $1)); }
proxy_alive() { alive "$(last_pid proxy.starts)"; }
ours_running() { [[ $(our_enclave) != none ]]; }
last_pid() { tail -n 1 "$1" | cut -d' ' -f1; }
our_enclave() { nitro_fake_enclaves | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x["EnclaveName"] == "tmkms"]
print("%s %d %d" % (e[0]["EnclaveID"], e[0]["ProcessID"], e[0]["EnclaveCID"]) if e else "none")'; }
enclave_count() { nitro_fake_enclaves | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

launch() {
    "$HELPER" launch-all -c tmkms.toml -e enclave.toml --simulate sim --kms-target "127.0.0.1:$kms_port" \
        --check-interval-ms 200 --backoff-ms 100 "$@" >>launch.log 2>&1 &
    launcher=$!
}

# --- everything comes up ---
launch --max-restarts 3 --restart-window 60
wait_for 100 test -S sim/vsock-3-8000.sock || fail "no proxy; log: $(cat launch.log)"
wait_for 100 test -s helper.starts || fail "no helper; log: $(cat launch.log)"
grep -q "start -c tmkms.toml --cid 16 --simulate sim$" helper.starts || fail "helper arguments: $(cat helper.starts)"
read -r eid epid ecid <<<"$(our_enclave)"
[[ $ecid == 16 ]] || fail "enclave: $(our_enclave)"
[[ $(nitro_calls run-enclave) == *'"--eif-path", "'"$work"'/tmkms.eif"]' ]] || fail "run-enclave: $(nitro_calls run-enclave)"

# --- a killed helper is restarted ---
hpid=$(last_pid helper.starts)
kill -KILL "$hpid"
wait_for 50 has_lines helper.starts 2 || fail "the helper was not restarted; starts: $(cat helper.starts); log: $(cat launch.log)"
alive "$(last_pid helper.starts)" || fail "the restarted helper is not running"
grep -q "helper: killed by signal 9; restarting" launch.log || fail "no restart logged"

# --- a killed proxy is restarted ---
ppid=$(last_pid proxy.starts)
kill -KILL "$ppid"
wait_for 50 has_lines proxy.starts 2 || fail "the proxy was not restarted; log: $(cat launch.log)"
wait_for 50 proxy_alive || fail "the restarted proxy is not running"

# --- a killed enclave is run again; it comes back with another CID (someone else's enclave
#     took 16's neighbour) and the helper is restarted with that CID ---
nitro-cli run-enclave --cpu-count 2 --memory 256 --eif-path tmkms.eif --enclave-name other >/dev/null 2>&1
helper_starts=$(lines helper.starts)
kill -KILL "$epid"
wait_for 100 run_calls_at_least 3 || fail "the enclave was not run again; log: $(cat launch.log)"
wait_for 50 ours_running || fail "our enclave is not back: $(nitro_fake_enclaves); log: $(cat launch.log)"
read -r eid2 epid2 ecid2 <<<"$(our_enclave)"
[[ $eid2 != "$eid" && $ecid2 == 18 ]] || fail "new enclave: $(our_enclave)"
wait_for 50 has_lines helper.starts $((helper_starts + 1)) || fail "the helper was not restarted for the new CID"
tail -n 1 helper.starts | grep -q -- "--cid 18 " || fail "the helper did not get the new CID: $(tail -n 1 helper.starts)"
grep -q "enclave $eid is gone" launch.log || fail "the enclave's death was not logged"

# --- nitro-cli failing for a moment is not the enclave's death: no restart ---
runs=$(nitro_calls run-enclave | wc -l)
echo describe-enclaves >"$FAKE_NITRO_DIR/fail"
wait_for 50 grep -q "checking the enclave: nitro-cli describe-enclaves failed" launch.log || fail "no check failure logged"
rm "$FAKE_NITRO_DIR/fail"
sleep 0.5
[[ $(nitro_calls run-enclave | wc -l) == "$runs" ]] || fail "a failing describe-enclaves restarted the enclave"
[[ $(our_enclave) == "$eid2 $epid2 $ecid2" ]] || fail "our enclave changed: $(our_enclave)"

# --- SIGTERM: everything down, exit 0 ---
hpid=$(last_pid helper.starts)
ppid=$(last_pid proxy.starts)
kill -TERM "$launcher"
set +e
timeout 20 tail --pid="$launcher" -f /dev/null
wait "$launcher"
rc=$?
set -e
launcher=""
[[ $rc == 0 ]] || fail "launch-all exited $rc after SIGTERM; log: $(cat launch.log)"
dead "$hpid" || fail "helper left running"
dead "$ppid" || fail "proxy left running"
dead "$epid2" || fail "enclave process left running"
[[ $(our_enclave) == none ]] || fail "our enclave is still listed"
[[ $(enclave_count) == 1 ]] || fail "someone else's enclave was terminated too"
grep -qF "[\"terminate-enclave\", \"--enclave-id\", \"$eid2\"]" "$FAKE_NITRO_DIR/calls.log" || fail "no terminate-enclave"
nitro-cli terminate-enclave --all >/dev/null

# --- a helper that keeps dying: exit 1 after --max-restarts, torn down ---
: >launch.log
rm -f helper.starts proxy.starts
touch helper.crash
launch --max-restarts 2 --restart-window 60
set +e
timeout 30 tail --pid="$launcher" -f /dev/null
wait "$launcher"
rc=$?
set -e
launcher=""
[[ $rc == 1 ]] || fail "launch-all exited $rc with a crashing helper; log: $(cat launch.log)"
[[ $(lines helper.starts) == 3 ]] || fail "helper started $(lines helper.starts) times, wanted 3 (2 restarts)"
grep -q "more than --max-restarts 2: giving up" launch.log || fail "no give-up message: $(cat launch.log)"
dead "$(last_pid proxy.starts)" || fail "proxy left running after giving up"
[[ $(enclave_count) == 0 ]] || fail "enclave left running after giving up"
rm helper.crash

# --- an enclave that cannot start: exit 1, the helper never started ---
: >launch.log
rm -f helper.starts proxy.starts
FAKE_NITRO_FAIL=run-enclave launch --max-restarts 1 --restart-window 60
set +e
timeout 30 tail --pid="$launcher" -f /dev/null
wait "$launcher"
rc=$?
set -e
launcher=""
[[ $rc == 1 ]] || fail "launch-all exited $rc when run-enclave fails; log: $(cat launch.log)"
grep -q "enclave: start failed: nitro-cli run-enclave failed (exit 1): \[ E26 \]" launch.log || fail "run-enclave error not shown: $(cat launch.log)"
[[ ! -s helper.starts ]] || fail "the helper started without an enclave"

# --- usage errors ---
expect 2 "$HELPER" launch-all --simulate sim
expect 2 "$HELPER" launch-all --kms-target 127.0.0.1:1
expect 2 "$HELPER" launch-all --max-restarts lots
expect 1 "$HELPER" launch-all -c missing.toml --simulate sim --kms-target 127.0.0.1:1
[[ $err == *"missing.toml"* ]] || fail "missing tmkms.toml: $err"
printf '[enclave]\ncpu_count = -2\n' >bad.toml
expect 1 "$HELPER" launch-all -e bad.toml --simulate sim --kms-target 127.0.0.1:1
[[ $err == *"bad.toml:2: enclave.cpu_count"* ]] || fail "bad enclave.toml: $err"
# --- systemd: launch-all under a stand-in for PID 1 (NotifyAccess=main): one READY=1, from
# launch-all, after the helper's; the helper's STATUS= passed on; the helper's NOTIFY_SOCKET
# is launch-all's, not systemd's; --metrics reaches the helper; STOPPING=1 on SIGTERM.
rm -f helper.starts helper.env launch.log
python3 "$TMKMS_SOURCE_DIR/tests/lib/sd_notify_receiver.py" --pid-file launch.pid notify.log -- \
    "$HELPER" launch-all -c tmkms.toml -e enclave.toml --simulate sim --kms-target "127.0.0.1:$kms_port" \
    --check-interval-ms 200 --backoff-ms 100 --metrics 127.0.0.1:9 >>launch.log 2>&1 &
launcher=$!
wait_for 100 test -s helper.starts || fail "no helper under the notify receiver; log: $(cat launch.log)"
wait_for 100 grep -q "READY=1" notify.log || fail "no READY=1; notifications: $(cat notify.log 2>/dev/null)"
grep -q -- "--metrics 127.0.0.1:9" helper.starts || fail "--metrics not passed to the helper: $(cat helper.starts)"
read -r helper_notify helper_wd <helper.env
# launch-all's own socket: an abstract name the kernel picked (autobind), not the receiver's path
[[ $helper_notify =~ ^@[0-9a-f]{5}$ && -z $helper_wd ]] ||
    fail "the helper's NOTIFY_SOCKET '$helper_notify' (watchdog '$helper_wd') is not launch-all's"
sleep 0.5
kill -TERM "$launcher"
rc=0
wait "$launcher" || rc=$?
launcher=""
[[ $rc == 0 ]] || fail "launch-all under the notify receiver exited $rc; log: $(cat launch.log)"
python3 - notify.log "$(cat launch.pid)" <<'PY' || fail "notifications: $(cat notify.log)"
import sys
main = int(sys.argv[2])
msgs = [(int(l.split(" ", 2)[1]), l.rstrip("\n").split(" ", 2)[2].split("|")) for l in open(sys.argv[1])]
bad = [m for m in msgs if m[0] != main]
ready = [m for m in msgs if "READY=1" in m[1]]
status = [f for m in msgs for f in m[1] if f.startswith("STATUS=")]
stopping = [i for i, m in enumerate(msgs) if "STOPPING=1" in m[1]]
ok = not bad and len(ready) == 1 and len(stopping) == 1
ok = ok and any("serves chain 'test-chain'; no validator connected" in s for s in status)
ok = ok and stopping[0] == len(msgs) - 1 if stopping else False
print("notifications:", msgs)
sys.exit(0 if ok else 1)
PY

echo "nitro_launch_all: OK"
