#!/usr/bin/env bash
# The tmkms command line: help everywhere, exit statuses, `tmkms init` output and
# permissions, configuration errors reported as file:line with exit status 2.
# labels: cli
# timeout: 60
set -u
tmkms="$TMKMS_BUILD_DIR/bin/tmkms"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"
expect_status() { # want cmd...
  local want=$1; shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [[ $got -eq $want ]]; then ok; else bad "$* exited $got, want $want: $(head -c 300 "$work/err")"; fi
}

expect_status 0 "$tmkms" --help
expect_status 2 "$tmkms"
expect_status 2 "$tmkms" frobnicate
for sub in init start pubkey softsign state version; do
  expect_status 0 "$tmkms" "$sub" --help
  grep -q "Usage: tmkms $sub" "$work/out" && ok || bad "$sub --help prints no usage"
done
expect_status 0 "$tmkms" version
grep -q '^tmkms ' "$work/out" && ok || bad "version output: $(cat "$work/out")"

# init: config, key (0600), state, directories (0700); a second run keeps everything.
expect_status 0 "$tmkms" init -n test-chain-1 "$work/kms"
for f in tmkms.toml secrets/test-chain-1-consensus.key secrets/kms-identity.key state/test-chain-1-consensus.state; do
  [[ -f $work/kms/$f ]] && ok || bad "init did not create $f"
done
[[ $(stat -c %a "$work/kms/secrets/test-chain-1-consensus.key") == 600 ]] && ok || bad "key mode"
[[ $(stat -c %a "$work/kms/secrets/kms-identity.key") == 600 ]] && ok || bad "identity key mode"
# The identity's IDs as init prints them match what openssl and Python derive from the key
# file (the public key via openssl's PKCS#8 wrapping of the seed; SHA-256 and base58 here).
pkcs8_hex=302e020100300506032b657004220420$(base64 -d <"$work/kms/secrets/kms-identity.key" | od -An -v -tx1 | tr -d ' \n')
pub_hex=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$pkcs8_hex")" | openssl pkey -inform DER -pubout -outform DER |
  tail -c 32 | od -An -v -tx1 | tr -d ' \n')
ids=$(python3 - "$pub_hex" <<'PY'
import hashlib, sys
pub = bytes.fromhex(sys.argv[1])
node_id = hashlib.sha256(pub).hexdigest()[:40]
mh = bytes([0x00, 36, 0x08, 0x01, 0x12, 0x20]) + pub
alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
n, out = int.from_bytes(mh, "big"), ""
while n:
    n, r = divmod(n, 58)
    out = alphabet[r] + out
print("node ID %s (tcp://), peer ID %s (noise://)" % (node_id, "1" * (len(mh) - len(mh.lstrip(b"\0"))) + out))
PY
)
grep -qF "$ids" "$work/out" && ok || bad "init's identity IDs: want '$ids' in: $(grep 'node ID' "$work/out")"
[[ $(stat -c %a "$work/kms/secrets") == 700 ]] && ok || bad "secrets dir mode"
sum=$(sha256sum "$work/kms/secrets/test-chain-1-consensus.key")
expect_status 0 "$tmkms" init -n test-chain-1 "$work/kms"
grep -q 'kept' "$work/out" && ok || bad "second init did not report kept files"
[[ $(sha256sum "$work/kms/secrets/test-chain-1-consensus.key") == "$sum" ]] && ok || bad "init overwrote the key"

# Configuration errors: file:line, exit 2, nothing started.
cp "$work/kms/tmkms.toml" "$work/bad.toml"
printf '[[chain]]\nid = "x"\nsign_extensionz = true\n' >"$work/bad.toml"
expect_status 2 "$tmkms" start -c "$work/bad.toml"
grep -q "bad.toml:3: chain: unknown key 'sign_extensionz'" "$work/err" && ok || bad "unknown key error: $(cat "$work/err")"
printf '[[chain]]\nid = "x"\nid = "y"\n' >"$work/bad.toml"
expect_status 2 "$tmkms" start -c "$work/bad.toml"
grep -q "bad.toml:3:" "$work/err" && ok || bad "duplicate key error: $(cat "$work/err")"
expect_status 1 "$tmkms" start -c "$work/missing.toml"
grep -q "missing.toml" "$work/err" && ok || bad "missing config not named"
expect_status 2 "$tmkms" start --log-level loud -c "$work/kms/tmkms.toml"

check_summary
