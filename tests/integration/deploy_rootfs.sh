#!/usr/bin/env bash
# labels: nitro;deploy;nosan
# (nosan: the sanitizer runtimes need /proc, which the fresh root has not; the same
# checks run in the normal build)
# timeout: 120
# skip-code: 77
#
# The enclave image's content without Docker: deploy/enclave-rootfs.sh assembles the root
# file system for tmkms-nitro-enclave (the production program, deploy/Dockerfile's
# ENTRYPOINT), and the test checks that the tree holds exactly the program, the libraries
# ldd resolves, the loader and the CA bundle, that the program has no simulation in it,
# and that the assembly is reproducible (same manifest twice). The production program is
# never run here (it opens /dev/nsm and AF_VSOCK). deploy/build-eif.sh with the fake
# nitro-cli: EIF and measurements written, the same PCRs for the same tree, another PCR0
# for the simulation build.
# Then a second tree, for tmkms-nitro-enclave-sim, is run with a fresh root: user + mount
# namespaces (`unshare -r --mount`, the simulation folder bind-mounted into the tree, then
# chroot), or plain chroot as root (the folder inside the tree) where namespaces are not
# allowed (a container). It must start, log "listening", create its socket, answer garbage
# on its config port with an Error and keep serving, see nothing of the host's files, and
# stop on SIGTERM. Exit 77 (skipped) only when neither way is allowed, after every other
# check passed. TMKMS_TEST_FRESH_ROOT=unshare|chroot|none forces a way.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
trap 'rm -rf "$work"' EXIT
deploy=$(cd "$TMKMS_SOURCE_DIR/deploy" && pwd)
program=$TMKMS_BUILD_DIR/bin/tmkms-nitro-enclave
sim_program=$TMKMS_BUILD_DIR/bin/tmkms-nitro-enclave-sim
cd "$work"

# --- the tree: exactly what the program needs ---
"$deploy/enclave-rootfs.sh" "$program" rootfs >manifest1
expected=$( (
    echo "usr/bin/tmkms-nitro-enclave"
    echo "etc/ssl/certs/ca-certificates.crt"
    ldd "$program" | awk '/=> \// { print substr($3, 2) } /^\t\// { print substr($1, 2) }'
) | LC_ALL=C sort)
actual=$(cd rootfs && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort)
[[ $expected == "$actual" ]] || fail "the tree differs from program + ldd libraries + bundle:
$(diff <(echo "$expected") <(echo "$actual"))"
[[ -z $(find rootfs -type l) ]] || fail "symbolic links in the tree"
grep -q "ld-linux" <<<"$actual" || fail "no dynamic loader in the tree"
cmp -s rootfs/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt || fail "CA bundle"
[[ $(stat -c %a rootfs/usr/bin/tmkms-nitro-enclave) == 755 && $(stat -c %a rootfs/etc/ssl/certs/ca-certificates.crt) == 644 ]] ||
    fail "modes not normalised"
[[ $(find rootfs -newermt @1 | wc -l) == 0 ]] || fail "time stamps not normalised"
[[ $(awk '{ print $2 }' manifest1 | LC_ALL=C sort) == "$actual" ]] || fail "the manifest does not list the tree"

# the image's program: the Dockerfile's entry point, byte for byte the production build,
# with none of the simulation build's code (simulated vsock, NSM simulator) in it
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]$/\1/p' "$deploy/Dockerfile")
[[ $entry == /usr/bin/tmkms-nitro-enclave && -x rootfs$entry ]] || fail "ENTRYPOINT '$entry' is not the tree's program"
cmp -s "rootfs$entry" "$program" || fail "the tree's program is not $program"
for marker in "SIMULATION build" "%s/vsock-%u-%u.sock" "--simulate"; do
    grep -qaF -- "$marker" "$sim_program" || fail "the simulation build lacks '$marker' (the check below means nothing)"
    if grep -qaF -- "$marker" "rootfs$entry"; then fail "the image's program contains '$marker'"; fi
done

# reproducible: a second assembly has the same manifest
"$deploy/enclave-rootfs.sh" "$program" rootfs2 >manifest2
cmp -s manifest1 manifest2 || fail "two assemblies differ"

# --- refusals ---
expect 1 "$deploy/enclave-rootfs.sh" "$program" rootfs
[[ $err == *"exists and is not empty (--force replaces it)"* ]] || fail "overwrite: $err"
expect 0 "$deploy/enclave-rootfs.sh" --force "$program" rootfs
expect 1 "$deploy/enclave-rootfs.sh" "$work/no-such-program" other
[[ $err == *"not an executable file"* ]] || fail "missing program: $err"
expect 1 "$deploy/enclave-rootfs.sh" --ca-bundle "$work/none.crt" "$program" other
[[ $err == *"CA bundle"* ]] || fail "missing bundle: $err"
expect 2 "$deploy/enclave-rootfs.sh" "$program"
expect 0 "$deploy/enclave-rootfs.sh" --help
[[ $out == *"Assembles the enclave's root file system"* ]] || fail "help: $out"

# --- build-eif.sh with the fake nitro-cli ---
nitro_fake_setup
expect 0 "$deploy/build-eif.sh" --tag tmkms-nitro-enclave:test "$program" one.eif
[[ -s one.eif && -s one.eif.json && -s one.eif.manifest ]] || fail "build-eif outputs"
cmp -s one.eif.manifest manifest1 || fail "build-eif manifest differs from the tree's"
grep -qF '"build-enclave", "--docker-dir"' "$FAKE_NITRO_DIR/calls.log" || fail "nitro-cli build-enclave not called"
grep -qF '"--docker-uri", "tmkms-nitro-enclave:test", "--output-file", "one.eif"]' "$FAKE_NITRO_DIR/calls.log" ||
    fail "build-enclave arguments: $(cat "$FAKE_NITRO_DIR/calls.log")"
pcrs() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["Measurements"]; print(m["PCR0"], m["PCR1"], m["PCR2"])' "$1"; }
read -r p0 p1 p2 <<<"$(pcrs one.eif.json)"
[[ $p0 =~ ^[0-9a-f]{96}$ && $p1 =~ ^[0-9a-f]{96}$ && $p2 =~ ^[0-9a-f]{96}$ ]] || fail "measurements: $(cat one.eif.json)"
expect 0 "$deploy/build-eif.sh" "$program" two.eif
[[ $(pcrs two.eif.json) == "$p0 $p1 $p2" ]] || fail "the same tree gave other measurements"
expect 0 "$deploy/build-eif.sh" "$sim_program" three.eif
read -r q0 q1 q2 <<<"$(pcrs three.eif.json)"
[[ $q0 != "$p0" && $q2 != "$p2" && $q1 == "$p1" ]] || fail "the simulation build: PCR0/PCR2 must change, PCR1 not"
# describe-eif agrees with the build's output
[[ $(nitro-cli describe-eif --eif-path one.eif | python3 -c 'import json,sys; print(json.load(sys.stdin)["Measurements"]["PCR0"])') == "$p0" ]] ||
    fail "describe-eif"

# --- the simulation build runs from its own tree with a fresh root ---
expect 0 "$deploy/enclave-rootfs.sh" "$sim_program" rootfs-sim
mkdir rootfs-sim/sim # the simulation folder as the enclave sees it: /sim
# unshare: the user and mount namespaces, $work/sim bind-mounted on the tree's /sim;
# chroot (root, no namespaces): the tree's own sim/ folder.
can_unshare() { # the whole way: namespaces, the bind mount, chroot
    mkdir -p probe
    unshare -r --mount sh -c 'mount --bind probe rootfs-sim/sim && exec chroot rootfs-sim "$@"' sh \
        /usr/bin/tmkms-nitro-enclave-sim --version >/dev/null 2>&1
}
can_chroot() { [[ $(id -u) == 0 ]] && chroot rootfs-sim /usr/bin/tmkms-nitro-enclave-sim --version >/dev/null 2>&1; }
way=${TMKMS_TEST_FRESH_ROOT:-}
if [[ -z $way ]]; then
    if can_unshare; then way=unshare; elif can_chroot; then way=chroot; else way=none; fi
fi
if [[ $way == none ]]; then
    if [[ -n ${TMKMS_TEST_FRESH_ROOT:-} ]]; then
        echo "SKIP (fresh root): TMKMS_TEST_FRESH_ROOT=none; every other check passed"
    else
        echo "SKIP (fresh root): neither 'unshare -r --mount' + chroot ($(unshare -r --mount true 2>&1 | head -n 1))" \
            "nor chroot alone (uid $(id -u)) is allowed here; every other check passed"
    fi
    exit 77
fi
if [[ $way == unshare ]]; then
    host_sim=$work/sim
    mkdir "$host_sim"
else
    host_sim=$work/rootfs-sim/sim
fi
# in_root CMD...: CMD inside the tree (the simulation folder at /sim); every step execs
# the next, so a background in_root's $! is the program's pid.
if [[ $way == unshare ]]; then
    in_root=(unshare -r --mount sh -c 'mount --bind "$1" rootfs-sim/sim && shift && exec chroot rootfs-sim "$@"' sh
        "$host_sim")
else
    in_root=(chroot rootfs-sim)
fi
in_root() { "${in_root[@]}" "$@"; }
[[ $(in_root /usr/bin/tmkms-nitro-enclave-sim --version) == "$("$sim_program" --version)" ]] ||
    fail "the simulation build does not run from its tree ($way)"
if in_root /bin/sh -c true 2>/dev/null; then fail "a shell exists in the tree"; fi

# No /proc in the tree: the simulated PCR0 (SHA-384 of the program) cannot be computed,
# which is refused, never an all-zero PCR0; so it is given.
set +e
timeout 10 "${in_root[@]}" /usr/bin/tmkms-nitro-enclave-sim --simulate /sim --cid 16 >noproc.log 2>&1
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "/proc/self/exe cannot be read.*give --pcr0" noproc.log ||
    fail "without /proc and --pcr0: exit $rc: $(cat noproc.log)"
[[ ! -e $host_sim/vsock-16-5050.sock ]] || fail "it listened without a PCR0"
pcr0=$(sha384sum "$sim_program" | cut -c1-96)
"${in_root[@]}" /usr/bin/tmkms-nitro-enclave-sim --simulate /sim --cid 16 --pcr0 "$pcr0" --instance-id i-0123456789abcdef0 \
    >enclave.log 2>&1 &
epid=$!
trap 'kill -KILL "$epid" 2>/dev/null || true; rm -rf "$work"' EXIT
sock=$host_sim/vsock-16-5050.sock
wait_for 100 grep -qs "listening on /sim/vsock-16-5050.sock" enclave.log || fail "no 'listening' from the tree: $(cat enclave.log)"
[[ -S $sock ]] || fail "no socket $sock: $(ls -la "$host_sim")"
[[ -f $host_sim/nsm-ca/root.pem ]] || fail "the NSM simulator's CA was not created in the simulation folder"
if [[ $way == unshare ]]; then
    [[ -z $(ls -A rootfs-sim/sim) ]] || fail "the bind mount leaked into the host's view of the tree"
fi
# Its root is the tree: what it sees at / is the tree's content, nothing of the host's.
[[ $(stat -L -c %d:%i "/proc/$epid/root") == "$(stat -c %d:%i rootfs-sim)" ]] ||
    fail "its root is not the tree: $(stat -L -c %d:%i "/proc/$epid/root") vs $(stat -c %d:%i rootfs-sim)"
[[ $(ls -A "/proc/$epid/root" | LC_ALL=C sort | tr '\n' ' ') == "etc lib lib64 sim usr " ]] ||
    fail "it sees / as: $(ls -A "/proc/$epid/root")"
[[ ! -e /proc/$epid/root/etc/passwd && ! -e /proc/$epid/root/bin/sh && ! -e /proc/$epid/root$work ]] ||
    fail "host files are visible inside the tree"
# Garbage on the config port: an Error frame back, a log line, and it keeps serving.
garbage() { # PAYLOAD-HEX: prints the reply's length and whether it is an Error naming the frame
    python3 - "$sock" "$1" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(bytes.fromhex(sys.argv[2]))
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError):  # reset: it closed with our extra bytes unread
    pass
n = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else -1
print(n, len(data) - 4, b"frame: length" in data or b"not a host.proto Message" in data)
PY
}
read -r n got named <<<"$(garbage ffffffff0102030405060708)"
[[ $n -gt 0 && $n == "$got" && $named == True ]] || fail "garbage frame: reply length $n, $got bytes, names it: $named"
read -r n got named <<<"$(garbage 00000010ffffffffffffffffffffffffffffffff)"
[[ $n -gt 0 && $n == "$got" && $named == True ]] || fail "a second garbage frame got no Error: $n $got $named"
wait_for 50 test "$(grep -c 'config connection:' enclave.log)" -ge 2 || fail "no log line for the garbage: $(cat enclave.log)"
alive "$epid" || fail "the enclave died on garbage: $(cat enclave.log)"
[[ -S $sock ]] || fail "the socket disappeared"
kill -TERM "$epid"
set +e
timeout 10 tail --pid="$epid" -f /dev/null
wait "$epid"
rc=$?
set -e
[[ $rc == 0 ]] || fail "SIGTERM: exit $rc: $(cat enclave.log)"
grep -q "received Terminated, stopping" enclave.log || fail "no stop line: $(cat enclave.log)"
[[ ! -e $sock ]] || fail "the socket is left after SIGTERM"
echo "deploy_rootfs: OK (fresh root by $way)"
