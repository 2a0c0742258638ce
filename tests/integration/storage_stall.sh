#!/usr/bin/env bash
# labels: e2e;fault;systemd
# timeout: 180
# skip-code: 77
#
# The state's storage stalls (an EBS volume that stops answering): the state directory
# is an ext4 filesystem of its own (a loop device), frozen with fsfreeze(8) for 4.5 s in the
# middle of a validator-sim storm, so every write to it blocks. First tmkms, then the Nitro
# path in simulation (scripts/simulate, the helper's state file on that filesystem: the
# enclave waits for the helper's durable ack). Each runs as a Type=notify service with
# WATCHDOG_USEC=2000000 (tests/lib/sd_notify_receiver.py plays systemd). Checks, for both:
#   - while frozen, no signature leaves (its state cannot be made durable): the signatures
#     validator-sim records do not grow between 1 s into the freeze and the thaw;
#   - the watchdog health check sees the lock held (tmkms: the chain's signing lock; the
#     helper: its state lock): WATCHDOG=1 stops for longer than the watchdog interval
#     (systemd would restart the service), and the warning is logged once, not at every
#     check;
#   - after the thaw signing goes on by itself: the storm passes (its answer timeout is
#     longer than the freeze), pings resume, no double sign in the record; tmkms's state
#     file holds the highest height signed.
# Needs root, a loop device, mkfs.ext4 and fsfreeze (util-linux); exits 77 (skipped) and
# says why when one is missing.
set -u
bin="$TMKMS_BUILD_DIR/bin"
src="$TMKMS_SOURCE_DIR"
skip() { echo "SKIP: $*"; exit 77; }
((EUID == 0)) || skip "needs root (a loop mount and fsfreeze)"
for tool in mkfs.ext4 fsfreeze mount umount; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
work=$(mktemp -d)
mnt=$work/state
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
cleanup() {
  fsfreeze -u "$mnt" 2>/dev/null # a blocked writer must finish before it can be stopped
  H_KEEP=1 h_cleanup
  [[ -n ${sim:-} && -d $sim ]] && "$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1
  umount "$mnt" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"

mkdir -p "$mnt"
truncate -s 32M "$work/state.img"
mkfs.ext4 -q -F "$work/state.img" >/dev/null 2>&1 || skip "mkfs.ext4 failed"
mount -o loop "$work/state.img" "$mnt" 2>"$work/mount.err" || skip "no loop mount: $(cat "$work/mount.err")"
sigs() { grep -c '^sig ' "$1" 2>/dev/null || echo 0; } # RECORD

# storm_with_freeze LABEL SOCKET PUBKEY SIG_LOG_DIR: a 9 s validator-sim storm on SOCKET (its
# answer timeout, 20 s, longer than the freeze); once it signs, the state filesystem frozen
# for 4.5 s. Sets frozen_at/thawed_at (unix time) and checks that nothing was signed in the
# last 3.5 s of the freeze, that the storm passed, that signing went on after the thaw, and
# that the record has no double sign. The signer must be started by the caller.
storm_with_freeze() {
  local label=$1 sock=$2 pk=$3 dir=$4 sim_pid n1 n2 rc
  h_bg "$dir/sim.log" "$bin/validator-sim" --socket "$sock" --scenario storm --heights 0 --seconds 9 \
    --timeout 20000 --accept-timeout 60000 --expect-pubkey "$pk" --record "$dir/record"
  sim_pid=$h_last_pid
  for _ in $(seq 300); do (($(sigs "$dir/record") > 50)) && break; sleep 0.1; done
  (($(sigs "$dir/record") > 50)) && ok "$label: signing before the freeze" || bad "$label: no signing before the freeze"
  sleep 1
  frozen_at=$(date +%s.%N)
  fsfreeze -f "$mnt" || bad "$label: fsfreeze -f failed"
  sleep 1
  n1=$(sigs "$dir/record")
  sleep 3.5
  n2=$(sigs "$dir/record")
  thawed_at=$(date +%s.%N)
  fsfreeze -u "$mnt" || bad "$label: fsfreeze -u failed"
  ((n1 == n2)) && ok "$label: no signature left while the state could not be persisted ($n1, then $n2)" ||
    bad "$label: signatures left during the freeze: $n1, then $n2"
  wait "$sim_pid"
  rc=$?
  h_forget "$sim_pid"
  ((rc == 0)) && grep -q '^result: PASS' "$dir/sim.log" && ok "$label: the storm passed across the freeze" ||
    bad "$label: storm: $(grep -E '^FAIL|result' "$dir/sim.log" | head -n 5)"
  (($(sigs "$dir/record") > n2)) && ok "$label: signing went on after the thaw ($(sigs "$dir/record") signatures)" ||
    bad "$label: no signature after the thaw"
  "$bin/validator-sim" --check-record "$dir/record" >"$dir/check.log" 2>&1 && ok "$label: no double sign" ||
    bad "$label: double signs: $(tail -n 5 "$dir/check.log")"
}

# check_pings LABEL NOTIFY_LOG: WATCHDOG=1 before the freeze and after the thaw, none in
# the freeze's last 3 s, and a gap longer than the 2 s watchdog interval.
check_pings() {
  python3 - "$2" "$frozen_at" "$thawed_at" <<'PY' && ok "$1: watchdog pings stopped during the freeze and resumed" ||
import sys
record, frozen, thawed = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
pings = [float(line.split(" ", 2)[0]) for line in open(record) if "WATCHDOG=1" in line]
before = [t for t in pings if t <= frozen]
after = [t for t in pings if t > thawed]
inside = [t for t in pings if frozen + 1.5 < t <= thawed]
gap = min(after, default=thawed) - max(before, default=frozen)
print("watchdog: %d pings before the freeze, %d in its last %.1f s, %d after; gap %.2f s"
      % (len(before), len(inside), thawed - frozen - 1.5, len(after), gap))
sys.exit(0 if before and after and not inside and gap > 2.0 else 1)
PY
    bad "$1: watchdog pings: see above"
}

# stop_and_check LABEL LOG WARNING NOTIFY_LOG: SIGTERM to the signer's receiver ($recv_pid),
# exit 0; WARNING logged once in LOG; the pings (check_pings).
stop_and_check() {
  local rc n
  kill -TERM "$recv_pid"
  wait "$recv_pid"
  rc=$?
  h_forget "$recv_pid"
  ((rc == 0)) && ok "$1: exit 0 on SIGTERM" || bad "$1: exit $rc on SIGTERM"
  n=$(grep -c "$3" "$2")
  ((n == 1)) && ok "$1: '$3' logged once" || bad "$1: '$3' logged $n times"
  check_pings "$1" "$4"
}

# --- tmkms: its state file on the filesystem that freezes
h_home "$work" sim-chain || exit 1
[[ $(stat -f -c %T "$work/state/sim-chain-consensus.state") == ext2/ext3 ]] &&
  ok "the state file is on the loop-mounted ext4" || bad "the state file is not on the loop mount"
mkdir -p "$work/t"
h_bg "$work/tmkms.log" python3 "$src/tests/lib/sd_notify_receiver.py" --watchdog-usec 2000000 \
  "$work/t/notify.log" -- "$bin/tmkms" start -c "$work/tmkms.toml"
recv_pid=$h_last_pid
storm_with_freeze tmkms "$work/node.sock" "$(h_pubkey_b64 "$work")" "$work/t"
stop_and_check tmkms "$work/tmkms.log" 'the signing lock was not free within' "$work/t/notify.log"
top=$(sed -n 's/^  highest signed *h=\([0-9]*\).*/\1/p' "$work/t/sim.log")
state_h=$(h_state_height "$work")
[[ -n $top && -n $state_h ]] && ((state_h >= top)) && ok "tmkms: the state file holds height $state_h >= $top signed" ||
  bad "tmkms: state height '$state_h' < highest signed '$top'"
rm -rf "${mnt:?}"/*

# --- tmkms-nitro-helper: the enclave waits for the helper's durable ack, which the frozen
# state directory holds back
sim=$work/sim
"$src/scripts/simulate" up --dir "$sim" --build "$TMKMS_BUILD_DIR" --no-helper >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  exit 1
}
# shellcheck disable=SC1091
source "$sim/env"
export AWS_EC2_METADATA_SERVICE_ENDPOINT
home=$SIM_KMS_HOME
cp -a "$home/state/." "$mnt/"
sed -i "s|^state_file_path = .*|state_file_path = \"$mnt/priv_validator_state.json\"|" "$home/tmkms.toml"
grep -q "^state_file_path = \"$mnt/" "$home/tmkms.toml" || bad "the helper's state_file_path was not moved to the loop mount"
mkdir -p "$work/h"
h_bg "$work/helper.log" python3 "$src/tests/lib/sd_notify_receiver.py" --watchdog-usec 2000000 \
  "$work/h/notify.log" -- "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK"
recv_pid=$h_last_pid
storm_with_freeze helper "${SIM_ADDRESS#unix://}" "$SIM_PUBKEY" "$work/h"
stop_and_check helper "$work/helper.log" 'the state lock was not free within' "$work/h/notify.log"
"$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1

((failed == 0)) || for f in "$work"/*.log "$work"/*/sim.log "${sim:-/nonexistent}"/logs/*.log; do
  [[ -f $f ]] && { echo "--- $f (tail)"; tail -n 15 "$f"; }
done
check_summary
