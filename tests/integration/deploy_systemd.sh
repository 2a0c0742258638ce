#!/usr/bin/env bash
# labels: nitro;deploy
# timeout: 60
#
# deploy/systemd units and deploy/tmkms-nitro-run.sh: `systemd-analyze verify` finds
# nothing to say about either unit (a strict INI check when systemd is not installed);
# all three (tmkms.service too) are Type=notify with Restart=on-failure and the hardening
# the guide asks for (NoNewPrivileges, ProtectSystem=strict with the state writable,
# PrivateTmp, the home hidden, RestrictAddressFamilies, MemoryDenyWriteExecute, no
# capabilities, LimitCORE=0, UMask=0077, ...); tmkms's has a 30 s watchdog, no devices
# and no AF_VSOCK; the Nitro units allow their devices instead of PrivateDevices, have
# AF_VSOCK and run `tmkms-nitro-run prepare` as root first. The run script creates the folders with their
# modes and owner, removes a stale socket, and execs the helper with the right arguments.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
trap 'rm -rf "$work"' EXIT
deploy=$(cd "$TMKMS_SOURCE_DIR/deploy" && pwd)
cd "$work"

# --- the units ---
cp "$deploy/tmkms-nitro-run.sh" "$work/tmkms-nitro-run"
common=("Type=notify" "Restart=on-failure" "NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateTmp=yes"
    "MemoryDenyWriteExecute=yes" "LockPersonality=yes" "RestrictRealtime=yes" "RestrictNamespaces=yes"
    "SystemCallArchitectures=native" "CapabilityBoundingSet=" "LimitCORE=0" "UMask=0077")
for unit in tmkms-nitro.service tmkms-nitro-helper.service tmkms.service; do
    src="$deploy/systemd/$unit"
    for want in "${common[@]}"; do
        grep -qxF "$want" "$src" || fail "$unit: no '$want'"
    done
    grep -q "^Restart=always" "$src" && fail "$unit: Restart=always (on-failure: a clean stop stays stopped)"
    families=$(sed -n 's/^RestrictAddressFamilies=//p' "$src")
    for family in AF_UNIX AF_INET AF_INET6; do
        [[ " $families " == *" $family "* ]] || fail "$unit: address families '$families' without $family"
    done
    # the unit as installed, with the programs at paths that exist here
    sed -e "s|/usr/local/bin/tmkms-nitro-run|$work/tmkms-nitro-run|" -e "s|/usr/local/bin/tmkms |/bin/true |" \
        "$src" >"$work/$unit"
done
for unit in tmkms-nitro.service tmkms-nitro-helper.service; do
    src="$deploy/systemd/$unit"
    for want in "ExecStartPre=+/usr/local/bin/tmkms-nitro-run prepare" "ProtectHome=tmpfs" \
        "ReadWritePaths=/home/ec2-user/.tmkms /home/ec2-user/sockets" \
        "BindPaths=/home/ec2-user/.tmkms /home/ec2-user/sockets" "DeviceAllow=/dev/vsock rw"; do
        grep -qxF "$want" "$src" || fail "$unit: no '$want'"
    done
    grep -q "^PrivateDevices=yes" "$src" && fail "$unit: PrivateDevices hides /dev/vsock"
    families=$(sed -n 's/^RestrictAddressFamilies=//p' "$src")
    [[ " $families " == *" AF_VSOCK "* ]] || fail "$unit: address families '$families' without AF_VSOCK"
done
grep -qxF "ExecStart=/usr/local/bin/tmkms-nitro-run launch-all" "$deploy/systemd/tmkms-nitro.service" || fail "launch-all unit"
grep -qxF "ExecStart=/usr/local/bin/tmkms-nitro-run start" "$deploy/systemd/tmkms-nitro-helper.service" || fail "helper unit"
grep -qxF "DeviceAllow=/dev/nitro_enclaves rw" "$deploy/systemd/tmkms-nitro.service" || fail "launch-all: nitro-cli's device"
# launch-all notifies itself (the helper's READY=1 goes to launch-all): only the main process.
grep -qxF "NotifyAccess=main" "$deploy/systemd/tmkms-nitro.service" || fail "launch-all: NotifyAccess"
grep -qxF "NotifyAccess=main" "$deploy/systemd/tmkms-nitro-helper.service" || fail "helper: NotifyAccess"
grep -q "^WatchdogSec=" "$deploy/systemd/tmkms-nitro-helper.service" || fail "helper: no WatchdogSec"
src="$deploy/systemd/tmkms.service"
for want in "NotifyAccess=main" "WatchdogSec=30s" "ProtectHome=yes" "PrivateDevices=yes" \
    "ReadWritePaths=/var/lib/tmkms" "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
    grep -qxF "$want" "$src" || fail "tmkms.service: no '$want'"
done
grep -q "^ExecStart=/usr/local/bin/tmkms start " "$src" || fail "tmkms.service: ExecStart"

if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$work/tmkms-nitro.service" "$work/tmkms-nitro-helper.service" "$work/tmkms.service" \
        >verify.out 2>&1 ||
        fail "systemd-analyze verify: $(cat verify.out)"
    [[ ! -s verify.out ]] || fail "systemd-analyze verify complains: $(cat verify.out)"
    # the check does catch mistakes
    printf '[Service]\nRestrictAddressFamilies=AF_BOGUS\nRestartt=always\n' >>"$work/tmkms-nitro.service"
    systemd-analyze verify "$work/tmkms-nitro.service" >verify.out 2>&1 || true
    grep -q "AF_BOGUS" verify.out && grep -q "Restartt" verify.out || fail "systemd-analyze missed a broken unit"
else
    echo "systemd-analyze not installed: INI syntax check only"
    for unit in tmkms-nitro.service tmkms-nitro-helper.service tmkms.service; do
        python3 - "$work/$unit" <<'PY' || fail "$unit: syntax"
import re, sys
section = None
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    if re.fullmatch(r"\[(Unit|Service|Install)\]", line):
        section = line
        continue
    assert section and re.fullmatch(r"[A-Z][A-Za-z]+=.*", line), "line %d: %r" % (n, line)
PY
    done
fi

# --- the run script ---
expect 0 "$work/tmkms-nitro-run" --help
[[ $out == *"tmkms-nitro-run prepare"* ]] || fail "run --help"
expect 2 "$work/tmkms-nitro-run" bogus
export TMKMS_USER=$(id -un) TMKMS_HOME="$work/home/.tmkms" TMKMS_SOCKET_DIR="$work/home/sockets"
mkdir -p "$work/home/sockets"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$work/home/sockets/validator.socket"
expect 0 "$work/tmkms-nitro-run" prepare
[[ $(stat -c %a "$TMKMS_SOCKET_DIR") == 750 ]] || fail "socket folder mode"
for d in "$TMKMS_HOME" "$TMKMS_HOME/state" "$TMKMS_HOME/secrets"; do
    [[ -d $d && $(stat -c %a "$d") == 700 && $(stat -c %U "$d") == "$TMKMS_USER" ]] || fail "$d: mode or owner"
done
[[ ! -e $TMKMS_SOCKET_DIR/validator.socket ]] || fail "stale socket left"
expect 0 "$work/tmkms-nitro-run" prepare # idempotent
printf '#!/bin/sh\necho "$@"\n' >"$work/fake-helper"
chmod +x "$work/fake-helper"
export TMKMS_HELPER="$work/fake-helper" TMKMS_ARGS="-v"
expect 0 "$work/tmkms-nitro-run" launch-all
[[ $out == "launch-all -c $TMKMS_HOME/tmkms.toml -e $TMKMS_HOME/enclave.toml -v" ]] || fail "launch-all: $out"
expect 0 "$work/tmkms-nitro-run" start
[[ $out == "start -c $TMKMS_HOME/tmkms.toml -v" ]] || fail "start: $out"
echo "deploy_systemd: OK"
