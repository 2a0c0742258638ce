#!/usr/bin/env bash
# labels: nitro;deploy
# timeout: 60
#
# deploy/systemd units and deploy/tmkms-nitro-run.sh: `systemd-analyze verify` finds
# nothing to say about either unit (a strict INI check when systemd is not installed);
# both have Restart=always and the hardening the guide asks for (NoNewPrivileges,
# ProtectSystem=strict with the KMS home and sockets writable, PrivateTmp,
# RestrictAddressFamilies with AF_VSOCK and AF_UNIX, MemoryDenyWriteExecute), and run
# `tmkms-nitro-run prepare` as root first. The run script creates the folders with their
# modes and owner, removes a stale socket, and execs the helper with the right arguments.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
trap 'rm -rf "$work"' EXIT
deploy=$(cd "$TMKMS_SOURCE_DIR/deploy" && pwd)
cd "$work"

# --- the units ---
cp "$deploy/tmkms-nitro-run.sh" "$work/tmkms-nitro-run"
for unit in tmkms-nitro.service tmkms-nitro-helper.service; do
    src="$deploy/systemd/$unit"
    for want in "Restart=always" "NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateTmp=yes" \
        "MemoryDenyWriteExecute=yes" "ExecStartPre=+/usr/local/bin/tmkms-nitro-run prepare" \
        "ReadWritePaths=/home/ec2-user/.tmkms /home/ec2-user/sockets"; do
        grep -qxF "$want" "$src" || fail "$unit: no '$want'"
    done
    families=$(sed -n 's/^RestrictAddressFamilies=//p' "$src")
    [[ " $families " == *" AF_VSOCK "* && " $families " == *" AF_UNIX "* ]] || fail "$unit: address families '$families'"
    # the unit as installed, with the run script at a path that exists here
    sed "s|/usr/local/bin/tmkms-nitro-run|$work/tmkms-nitro-run|" "$src" >"$work/$unit"
done
grep -qxF "ExecStart=/usr/local/bin/tmkms-nitro-run launch-all" "$deploy/systemd/tmkms-nitro.service" || fail "launch-all unit"
grep -qxF "ExecStart=/usr/local/bin/tmkms-nitro-run start" "$deploy/systemd/tmkms-nitro-helper.service" || fail "helper unit"

if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$work/tmkms-nitro.service" "$work/tmkms-nitro-helper.service" >verify.out 2>&1 ||
        fail "systemd-analyze verify: $(cat verify.out)"
    [[ ! -s verify.out ]] || fail "systemd-analyze verify complains: $(cat verify.out)"
    # the check does catch mistakes
    printf '[Service]\nRestrictAddressFamilies=AF_BOGUS\nRestartt=always\n' >>"$work/tmkms-nitro.service"
    systemd-analyze verify "$work/tmkms-nitro.service" >verify.out 2>&1 || true
    grep -q "AF_BOGUS" verify.out && grep -q "Restartt" verify.out || fail "systemd-analyze missed a broken unit"
else
    echo "systemd-analyze not installed: INI syntax check only"
    for unit in tmkms-nitro.service tmkms-nitro-helper.service; do
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
