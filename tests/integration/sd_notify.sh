#!/usr/bin/env bash
# labels: e2e;systemd
# timeout: 120
#
# tmkms start as a Type=notify service, without a systemd: tests/lib/sd_notify_receiver.py
# plays PID 1's side (NOTIFY_SOCKET, WATCHDOG_USEC=2000000, WATCHDOG_PID = tmkms's PID) and
# records the datagrams with their sender's PID. validator-sim serves as the node for a
# few seconds. Checks: every notification comes from tmkms itself (NotifyAccess=main);
# READY=1 once the key is loaded (after the JSON log line that shows it: --log-format json
# is checked on the way) and after a STATUS=; a STATUS= shows the validator connected,
# and a later one shows it gone when the node leaves; WATCHDOG=1 at least every second
# (half the interval systemd would allow); STOPPING=1 on SIGTERM, then exit 0. Also:
# --log-level with per-module levels (conn=warn hides the "connected" lines, sign=debug is
# accepted) and a bad spec is a usage error.
set -u
bin="$TMKMS_BUILD_DIR/bin"
src="$TMKMS_SOURCE_DIR"
work=$(mktemp -d)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"

"$bin/tmkms" start --log-level info,conn=bogus -c /nonexistent >"$work/usage.log" 2>&1
rc=$?
[[ $rc -eq 2 ]] || bad "--log-level info,conn=bogus: exit $rc, want 2"
grep -q "conn=bogus" "$work/usage.log" || bad "--log-level error does not name the bad pair: $(cat "$work/usage.log")"
"$bin/tmkms" start --log-format yaml -c /nonexistent >"$work/usage.log" 2>&1
[[ $? -eq 2 ]] || bad "--log-format yaml accepted"
"$bin/tmkms" start --help | grep -q -- "--log-format" || bad "--help does not describe --log-format"

h_home "$work" sim-chain || exit 1
pk=$(h_pubkey_b64 "$work")
h_bg "$work/sim.log" "$bin/validator-sim" --socket "$work/node.sock" --scenario storm --heights 0 --seconds 4 \
  --expect-pubkey "$pk"
sim_pid=$h_last_pid
h_wait_socket "$work/node.sock" 10 || exit 1

h_bg "$work/tmkms.log" python3 "$src/tests/lib/sd_notify_receiver.py" --watchdog-usec 2000000 \
  --pid-file "$work/tmkms.pid" "$work/notify.log" -- \
  "$bin/tmkms" start -c "$work/tmkms.toml" --log-format json --log-level info,conn=warn,sign=debug
recv_pid=$h_last_pid
for _ in $(seq 50); do [[ -s $work/tmkms.pid ]] && break; sleep 0.1; done
tmkms_pid=$(cat "$work/tmkms.pid")

wait "$sim_pid"
sim_rc=$?
h_forget "$sim_pid"
[[ $sim_rc -eq 0 ]] || { bad "validator-sim exited $sim_rc"; tail -n 20 "$work/sim.log"; }
sleep 1.5 # the node is gone: STATUS= follows; tmkms keeps redialling, pinging the watchdog
kill -TERM "$recv_pid"
wait "$recv_pid"
rc=$?
h_forget "$recv_pid"
[[ $rc -eq 0 ]] || bad "tmkms exited $rc on SIGTERM"

python3 - "$work/notify.log" "$work/tmkms.log" "$tmkms_pid" <<'PY' || bad "notifications: see above"
import datetime, json, sys
notes, logfile, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
msgs = []
for line in open(notes):
    t, sender, text = line.rstrip("\n").split(" ", 2)
    msgs.append((float(t), int(sender), text.split("|")))
ok = True
def fail(why):
    global ok
    ok = False
    print("FAIL:", why)
if not msgs:
    fail("no notification at all")
    sys.exit(1)
for t, sender, fields in msgs:
    if sender != pid:
        fail("a notification from PID %d, not tmkms's %d: %s" % (sender, pid, fields))

# The log: JSON, one object per line, with the fields; the key line carries its chain.
key_ts = None
for line in open(logfile):
    try:
        obj = json.loads(line)
    except ValueError:
        fail("not a JSON log line: %r" % line)
        continue
    for field in ("ts", "level", "module", "msg"):
        if field not in obj:
            fail("log line without %s: %r" % (field, line))
    if obj.get("module") == "conn" and obj.get("level") == "info":
        fail("conn=warn let an info line through: %r" % line)
    if "consensus key" in obj.get("msg", "") and key_ts is None:
        if obj.get("chain") != "sim-chain":
            fail("the key line has no chain field: %r" % line)
        key_ts = datetime.datetime.strptime(obj["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
if key_ts is None:
    fail("no 'consensus key' line in the log")

def first(pred):
    return next((i for i, m in enumerate(msgs) if pred(m[2])), None)
ready = first(lambda f: "READY=1" in f)
if ready is None:
    fail("no READY=1")
else:
    if key_ts is not None and msgs[ready][0] < key_ts:
        fail("READY=1 before the key was loaded")
    if first(lambda f: any(x.startswith("STATUS=") for x in f)) > ready:
        fail("READY=1 before any STATUS=")
statuses = [x for m in msgs for x in m[2] if x.startswith("STATUS=")]
print("statuses:", statuses)
up = next((i for i, s in enumerate(statuses) if "1 of 1 validator connection up" in s), None)
if up is None:
    fail("no STATUS= with the validator connected")
elif not any("0 of 1 validator connection up" in s for s in statuses[up + 1:]):
    fail("no STATUS= after the node left")
if not all("1 chain" in s for s in statuses):
    fail("a STATUS= without the chain count")

stop = first(lambda f: "STOPPING=1" in f)
if stop is None:
    fail("no STOPPING=1")
pings = [m[0] for m in msgs if "WATCHDOG=1" in m[2]]
if ready is not None and stop is not None:
    window = [msgs[ready][0]] + [t for t in pings if msgs[ready][0] <= t <= msgs[stop][0]] + [msgs[stop][0]]
    gaps = [b - a for a, b in zip(window, window[1:])]
    print("watchdog: %d pings, longest gap %.2f s" % (len(pings), max(gaps)))
    if len(pings) < 4:
        fail("only %d WATCHDOG=1" % len(pings))
    if max(gaps) > 1.0:
        fail("WATCHDOG=1 gap of %.2f s (WATCHDOG_USEC=2000000)" % max(gaps))
    if any(t > msgs[stop][0] for t in pings):
        print("note: a ping after STOPPING=1")
sys.exit(0 if ok else 1)
PY

# No NOTIFY_SOCKET: the same binary runs as before (other tests cover it end to end); the
# helper's start documents its notifications too.
"$bin/tmkms-nitro-helper" start --help | grep -q "READY=1" || bad "helper --help: no systemd notes"
"$bin/tmkms-nitro-helper" start --log-level info,state=loud >"$work/usage.log" 2>&1
[[ $? -eq 2 ]] || bad "helper: bad --log-level accepted"

if ((failed)); then
  echo "--- notifications"; cat "$work/notify.log"
  echo "--- tmkms (tail)"; tail -n 30 "$work/tmkms.log"
  exit 1
fi
echo "sd_notify: OK"
