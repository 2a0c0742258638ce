#!/usr/bin/env bash
# labels: nitro;cli
# timeout: 120
#
# tmkms-nitro-helper enclave run|info|stop against the fake nitro-cli (tests/fakes): the
# exact run-enclave arguments from enclave.toml (cpu count, memory, EIF path, CID, name,
# debug mode), describe-enclaves parsed to find our enclave among others, terminate-enclave
# with its ID; a second run refused; clear errors when nitro-cli is missing or fails and
# for a broken enclave.toml (FILE:LINE); --help everywhere.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
trap 'nitro_fake_cleanup; rm -rf "$work"' EXIT
nitro_fake_setup
cd "$work"

# --- help ---
for c in "enclave" "enclave run" "enclave info" "enclave stop" "enclave vsock-proxy" "launch-all"; do
    # shellcheck disable=SC2086
    expect 0 "$HELPER" $c --help
    [[ $out == Usage:* ]] || fail "$c --help"
done
expect 2 "$HELPER" enclave
expect 2 "$HELPER" enclave frobnicate
expect 2 "$HELPER" enclave run extra-arg

# --- defaults: no enclave.toml in the folder ---
echo "not a real EIF" >tmkms.eif
expect 0 "$HELPER" enclave run
[[ $out =~ ^started\ enclave\ (i-[0-9a-f]+-enc[0-9a-f]+),\ CID\ 16 ]] || fail "run output: $out"
id1=${BASH_REMATCH[1]}
[[ $(nitro_calls run-enclave) == '["run-enclave", "--cpu-count", "2", "--memory", "512", "--eif-path", "./tmkms.eif"]' ]] ||
    fail "run-enclave arguments: $(nitro_calls run-enclave)"
expect 1 "$HELPER" enclave run
[[ $err == *"enclave $id1 (CID 16) is running already"* ]] || fail "second run: $err"
expect 0 "$HELPER" enclave info
grep -qx "EnclaveID: $id1" <<<"$out" || fail "info: $out"
grep -qx "State: RUNNING" <<<"$out" || fail "info state: $out"
grep -qx "Flags: NONE" <<<"$out" || fail "info flags: $out"
grep -Eqx "PCR0: [0-9a-f]{96}" <<<"$out" || fail "info PCR0: $out"
expect 0 "$HELPER" enclave stop
[[ $out == "terminated enclave $id1" ]] || fail "stop: $out"
grep -qF "[\"terminate-enclave\", \"--enclave-id\", \"$id1\"]" "$FAKE_NITRO_DIR/calls.log" || fail "terminate arguments"
expect 1 "$HELPER" enclave info
[[ $err == *"no enclave of ours is running"* ]] || fail "info after stop: $err"
expect 1 "$HELPER" enclave stop
[[ $err == *"no enclave of ours is running"* ]] || fail "stop after stop: $err"

# --- enclave.toml: every run-enclave option, ours found by CID among other enclaves ---
mkdir -p conf images
echo "image" >images/validator.eif
cat >conf/enclave.toml <<'TOML'
[enclave]
eif_path = "../images/validator.eif"
cpu_count = 4
memory_mib = 1024
debug_mode = true
enclave_cid = 21
enclave_name = "validator-1"

[vsock_proxy]
remote_addr = "kms.eu-west-1.amazonaws.com"
TOML
# someone else's enclave, started first
nitro-cli run-enclave --cpu-count 2 --memory 256 --eif-path tmkms.eif --enclave-cid 17 --enclave-name other >/dev/null 2>&1
: >"$FAKE_NITRO_DIR/calls.log"
expect 0 "$HELPER" enclave run -e conf/enclave.toml
[[ $out == *"CID 21 (4 CPUs, 1024 MiB, debug mode: PCR0 is all zeros)"* ]] || fail "run with config: $out"
want="[\"run-enclave\", \"--cpu-count\", \"4\", \"--memory\", \"1024\", \"--eif-path\", \"$work/conf/../images/validator.eif\", \"--enclave-cid\", \"21\", \"--enclave-name\", \"validator-1\", \"--debug-mode\"]"
[[ $(nitro_calls run-enclave) == "$want" ]] || fail "run-enclave arguments: $(nitro_calls run-enclave), wanted $want"
expect 0 "$HELPER" enclave info --enclave-config conf/enclave.toml
grep -qx "EnclaveCID: 21" <<<"$out" || fail "info picked the wrong enclave: $out"
grep -qx "EnclaveName: validator-1" <<<"$out" || fail "info name: $out"
grep -qx "Flags: DEBUG_MODE" <<<"$out" || fail "info flags: $out"
grep -qx "MemoryMiB: 1024" <<<"$out" || fail "info memory: $out"
expect 0 "$HELPER" enclave stop -e conf/enclave.toml
[[ $(nitro_fake_enclaves | python3 -c 'import json,sys; print([e["EnclaveName"] for e in json.load(sys.stdin)])') == "['other']" ]] ||
    fail "stop terminated the wrong enclave"
nitro-cli terminate-enclave --all >/dev/null

# --- errors ---
printf '[enclave]\ncpu_count = 2\nmemory_mib = "lots"\n' >bad.toml
expect 1 "$HELPER" enclave run -e bad.toml
[[ $err == *"bad.toml:3: enclave.memory_mib: expected an integer"* ]] || fail "bad enclave.toml: $err"
printf '[vsock_proxy]\nremote_addr = "evil.example.com"\n' >bad2.toml
expect 1 "$HELPER" enclave vsock-proxy -e bad2.toml
[[ $err == *"bad2.toml:2: vsock_proxy.remote_addr: 'evil.example.com' is not a KMS endpoint"* ]] || fail "bad remote: $err"
expect 1 "$HELPER" enclave run -e missing.toml
[[ $err == *"missing.toml"* ]] || fail "missing enclave.toml: $err"
expect 1 env FAKE_NITRO_FAIL=run-enclave "$HELPER" enclave run
[[ $err == *"nitro-cli run-enclave failed (exit 1): [ E26 ] Insufficient memory"* ]] || fail "failing nitro-cli: $err"
expect 1 env FAKE_NITRO_FAIL=describe-enclaves "$HELPER" enclave info
[[ $err == *"nitro-cli describe-enclaves failed (exit 1): [ E11 ]"* ]] || fail "failing describe: $err"
nodir="$work/no-nitro-cli"
mkdir -p "$nodir"
expect 1 env PATH="$nodir" "$HELPER" enclave info
[[ $err == *"nitro-cli is not installed (not found on PATH)"* ]] || fail "missing nitro-cli: $err"
# a nitro-cli that prints garbage
printf '#!/bin/sh\necho "this is not json"\n' >"$nodir/nitro-cli"
chmod +x "$nodir/nitro-cli"
expect 1 env PATH="$nodir:/usr/bin:/bin" "$HELPER" enclave info
[[ $err == *"describe-enclaves output is not JSON"* ]] || fail "garbage from nitro-cli: $err"
[[ -z $(nitro_fake_enclaves | tr -d '[] \n') ]] || fail "enclaves left running"
echo "nitro_enclave_cli: OK"
