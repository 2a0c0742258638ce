#!/usr/bin/env bash
# labels: nitro;deploy
# timeout: 120
# skip-code: 77
#
# The enclave image's content without Docker: deploy/enclave-rootfs.sh assembles a root
# file system for one of our binaries (tmkms-nitro-helper until the enclave program
# exists: the script takes the program as its argument), and the test checks that the tree
# holds exactly the program, the libraries ldd resolves, the loader and the CA bundle,
# that it is reproducible (same manifest twice), and that the program runs from it with a
# fresh root (chroot as root, `unshare -r chroot` otherwise; exit 77 = skipped only when
# the kernel allows neither). Then deploy/build-eif.sh with the fake nitro-cli: EIF and
# measurements written, the same PCRs for the same tree, another PCR0 for another program.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
trap 'rm -rf "$work"' EXIT
deploy=$(cd "$TMKMS_SOURCE_DIR/deploy" && pwd)
program="$HELPER"
cd "$work"

# --- the tree: exactly what the program needs ---
"$deploy/enclave-rootfs.sh" "$program" rootfs >manifest1
expected=$( (
    echo "usr/bin/tmkms-nitro-helper"
    echo "etc/ssl/certs/ca-certificates.crt"
    ldd "$program" | awk '/=> \// { print substr($3, 2) } /^\t\// { print substr($1, 2) }'
) | LC_ALL=C sort)
actual=$(cd rootfs && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort)
[[ $expected == "$actual" ]] || fail "the tree differs from program + ldd libraries + bundle:
$(diff <(echo "$expected") <(echo "$actual"))"
[[ -z $(find rootfs -type l) ]] || fail "symbolic links in the tree"
grep -q "ld-linux" <<<"$actual" || fail "no dynamic loader in the tree"
cmp -s rootfs/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt || fail "CA bundle"
[[ $(stat -c %a rootfs/usr/bin/tmkms-nitro-helper) == 755 && $(stat -c %a rootfs/etc/ssl/certs/ca-certificates.crt) == 644 ]] ||
    fail "modes not normalised"
[[ $(find rootfs -newermt @1 | wc -l) == 0 ]] || fail "time stamps not normalised"
[[ $(awk '{ print $2 }' manifest1 | LC_ALL=C sort) == "$actual" ]] || fail "the manifest does not list the tree"

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

# --- the program runs from the tree with a fresh root ---
in_root() {
    if [[ $(id -u) == 0 ]]; then
        chroot rootfs "$@"
    else
        unshare -r chroot rootfs "$@"
    fi
}
if ! in_root /usr/bin/tmkms-nitro-helper version >/dev/null 2>chroot.err; then
    if grep -qiE "operation not permitted|permission denied" chroot.err; then
        echo "SKIP: no chroot here: $(cat chroot.err)"
        exit 77
    fi
    fail "the program does not run from its tree: $(cat chroot.err)"
fi
[[ $(in_root /usr/bin/tmkms-nitro-helper version) == "$("$program" version)" ]] || fail "version differs in the tree"
# crypto libraries work inside (OpenSSL SHA-384), and nothing but our program is there
want=$("$program" pcr4 --instance-id i-0123456789abcdef0)
[[ $(in_root /usr/bin/tmkms-nitro-helper pcr4 --instance-id i-0123456789abcdef0) == "$want" ]] || fail "pcr4 in the tree"
if in_root /bin/sh -c true 2>/dev/null; then fail "a shell exists in the tree"; fi

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
expect 0 "$deploy/build-eif.sh" "$TMKMS_BUILD_DIR/bin/tmkms" three.eif
read -r q0 q1 q2 <<<"$(pcrs three.eif.json)"
[[ $q0 != "$p0" && $q2 != "$p2" && $q1 == "$p1" ]] || fail "another program: PCR0/PCR2 must change, PCR1 not"
# describe-eif agrees with the build's output
[[ $(nitro-cli describe-eif --eif-path one.eif | python3 -c 'import json,sys; print(json.load(sys.stdin)["Measurements"]["PCR0"])') == "$p0" ]] ||
    fail "describe-eif"
echo "deploy_rootfs: OK"
