#!/usr/bin/env bash
# labels: nitro;cli
# timeout: 120
#
# tmkms-nitro-helper's operator commands through the real binary: verify-attestation on
# the real AWS documents of shared/attestation (text and --json, checked against the
# facts files), the tampered copy, --at, --root, a simulator document carrying a keygen
# claim (bech32 re-derived in python), pcr4 (re-derived with hashlib) and kms-policy
# (parsed as JSON).
set -euo pipefail

HELPER="${TMKMS_BUILD_DIR:?}/bin/tmkms-nitro-helper"
NSM_SIM="${TMKMS_BUILD_DIR:?}/bin/nsm-sim"
DOCS="${TMKMS_SHARED_DIR:?}/attestation"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect STATUS CMD...: run CMD, require its exit status; output in $out / $err.
expect() {
    local want=$1
    shift
    set +e
    "$@" >"$work/stdout" 2>"$work/stderr"
    local got=$?
    set -e
    out=$(cat "$work/stdout")
    err=$(cat "$work/stderr")
    [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want; stdout: $out; stderr: $err"
}

# --- help ---
expect 0 "$HELPER" --help
for c in init start pcr4 kms-policy verify-attestation; do
    expect 0 "$HELPER" "$c" --help
    [[ $out == Usage:* ]] || fail "$c --help"
done
expect 2 "$HELPER" no-such-command

# --- the real documents ---
for d in doc1 doc2 doc3 doc4; do
    expect 0 "$HELPER" verify-attestation "$DOCS/$d.b64"
    grep -q "Result: OK, every check passed." <<<"$out" || fail "$d: text result"
    grep -q "checked at the document's own timestamp" <<<"$out" || fail "$d: validity time not stated"
    expect 0 "$HELPER" verify-attestation --json "$DOCS/$d.b64"
    python3 - "$DOCS/$d.facts.json" "$work/stdout" <<'PY' || fail "$d: --json does not match the facts"
import json, sys
facts = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))
assert got["ok"] is True and got["error"] is None
assert got["module_id"] == facts["module_id"]
assert got["timestamp"] == facts["timestamp_ms"]
assert got["digest"] == facts["digest"]
for i in (0, 1, 2, 3, 4, 8):
    key = "PCR%d" % i
    if key in facts["pcrs"]:
        assert got["pcrs"][str(i)] == facts["pcrs"][key], key
assert sorted(int(k) for k in got["pcrs"]) == facts["pcrs"]["indexes_present"]
for f in ("nonce", "user_data", "public_key"):
    if facts[f]["present"]:
        assert got[f] is not None and len(got[f]) == 2 * facts[f]["length"], f
    else:
        assert got[f] is None, f
assert set(got["checks"].values()) == {"passed"}, got["checks"]
assert got["validity_checked_at"]["source"] == "document"
PY
done
# doc2 is unpadded base64; stdin works too
expect 0 "$HELPER" verify-attestation - <"$DOCS/doc2.b64"
expect 0 "$HELPER" verify-attestation --root "$DOCS/aws-nitro-root-g1.pem" "$DOCS/doc3.b64"

# --- the tampered copy fails on the signature only ---
expect 1 "$HELPER" verify-attestation --json "$DOCS/tampered1.b64"
python3 -c '
import json, sys
got = json.load(open(sys.argv[1]))
assert got["ok"] is False and got["error"] == "bad_signature"
assert [k for k, v in got["checks"].items() if v != "passed"] == ["cose_signature"], got["checks"]
' "$work/stdout" || fail "tampered1 --json"
expect 1 "$HELPER" verify-attestation "$DOCS/tampered1.b64"
grep -q "FAILED: bad_signature" <<<"$out" || fail "tampered1 text"

# --- --at ---
expect 1 "$HELPER" verify-attestation --at now "$DOCS/doc1.b64"
grep -q "expired_certificate" <<<"$out" || fail "--at now should find the leaf expired"
expect 0 "$HELPER" verify-attestation --at 2024-09-17T04:31:00Z "$DOCS/doc1.b64"
grep -q "the time given with --at" <<<"$out" || fail "--at not stated"
expect 0 "$HELPER" verify-attestation --at 2024-09-17T06:31:00.5+02:00 "$DOCS/doc1.b64"
expect 2 "$HELPER" verify-attestation --at yesterday "$DOCS/doc1.b64"

# --- bad input ---
printf 'not base64!' >bad.b64
expect 1 "$HELPER" verify-attestation bad.b64
grep -q "bad_base64" <<<"$out" || fail "bad base64 not named"
head -c 3000 "$DOCS/doc1.b64" >short.b64
expect 1 "$HELPER" verify-attestation short.b64
expect 2 "$HELPER" verify-attestation no-such-file.b64
expect 2 "$HELPER" verify-attestation

# --- a simulator document with a keygen claim ---
pub_b64=$(python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())')
kid_b64=$(python3 -c 'import base64; print(base64.b64encode(b"arn:aws:kms:ap-southeast-1:123456789012:key/abcd").decode())')
"$NSM_SIM" --ca-dir ca --pcr0 "$(printf 'ab%.0s' {1..48})" --instance-id i-0123456789abcdef0 \
    --user-data "{\"pubkey\":\"$pub_b64\",\"key_id\":\"$kid_b64\"}" --nonce 0102 >sim.b64
expect 1 "$HELPER" verify-attestation sim.b64
grep -q "root_mismatch" <<<"$out" || fail "simulator document against the AWS root"
expect 0 "$HELPER" verify-attestation --root ca/root.pem -b crocnclconspub --json sim.b64
want=$(python3 - <<'PY'
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk
def bech32(hrp, data):
    acc, bits, words = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + words
    pm = polymod(values + [0] * 6) ^ 1
    return hrp + "1" + "".join(CHARSET[d] for d in words + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])
print(bech32("crocnclconspub", bytes.fromhex("1624de6420") + bytes(range(32))))
PY
)
python3 -c '
import json, sys
got = json.load(open(sys.argv[1]))
assert got["ok"] is True
assert got["validator_pubkey"] == sys.argv[2], (got["validator_pubkey"], sys.argv[2])
assert got["kms_key_id"] == "arn:aws:kms:ap-southeast-1:123456789012:key/abcd"
assert got["pcrs"]["0"] == "ab" * 48 and got["nonce"] == "0102" and got["public_key"] is None
' "$work/stdout" "$want" || fail "keygen claim"
expect 0 "$HELPER" verify-attestation --root ca/root.pem sim.b64
grep -q "validator public key (base64; -b PREFIX for bech32): $pub_b64" <<<"$out" || fail "claim without -b"

# --- pcr4 ---
expect 0 "$HELPER" pcr4 --instance-id i-0123456789abcdef0
want=$(python3 -c 'import hashlib; print(hashlib.sha384(b"\0" * 48 + b"i-0123456789abcdef0").hexdigest())')
[ "$out" = "$want" ] || fail "pcr4: $out != $want"
[ "$out" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pcrs"]["4"])' <("$HELPER" verify-attestation --root ca/root.pem --json sim.b64 || true))" ] ||
    fail "pcr4 differs from the simulator's PCR4"
# Without --instance-id: IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT, as the AWS SDKs read it).
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$closed expect 1 "$HELPER" pcr4
grep -q "no --instance-id, and IMDS did not give one" <<<"$err" || fail "pcr4 without an id or IMDS: $err"
"$TMKMS_BUILD_DIR/bin/imds-emulator" --listen 127.0.0.1:0 --instance-id i-0fedcba987654321f --role r \
    --user AKIDEXAMPLE:secret >"$work/imds.out" 2>&1 &
imds_pid=$!
for _ in $(seq 100); do grep -q '^LISTENING' "$work/imds.out" && break; sleep 0.05; done
imds_url=$(sed -n 's/^LISTENING //p' "$work/imds.out")
AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds_url expect 0 "$HELPER" pcr4
[ "$out" = "$(python3 -c 'import hashlib; print(hashlib.sha384(b"\0" * 48 + b"i-0fedcba987654321f").hexdigest())')" ] ||
    fail "pcr4 from IMDS: $out"
kill "$imds_pid"; wait "$imds_pid" 2>/dev/null
expect 2 "$HELPER" pcr4 --instance-id 'x; rm -rf'

# --- kms-policy ---
pcr0=$(printf 'AB%.0s' {1..48})
expect 0 "$HELPER" kms-policy --account 123456789012 --role tmkms-role --pcr0 "$pcr0" --pcr4 "$want"
python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert p["Version"] == "2012-10-17"
dec = [s for s in p["Statement"] if s["Action"] == "kms:Decrypt"]
enc = [s for s in p["Statement"] if s["Action"] == "kms:Encrypt"]
assert len(dec) == 1 and len(enc) == 1
assert dec[0]["Principal"]["AWS"] == "arn:aws:iam::123456789012:role/tmkms-role"
c = dec[0]["Condition"]["StringEqualsIgnoreCase"]
assert c["kms:RecipientAttestation:PCR0"] == "ab" * 48 and c["kms:RecipientAttestation:PCR4"] == sys.argv[2]
assert enc[0]["Principal"]["AWS"] == "arn:aws:iam::123456789012:role/tmkms-role" and "Condition" not in enc[0]
for s in p["Statement"]:
    acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
    if s not in dec:
        assert not any(a in ("kms:*", "kms:Decrypt") or a.startswith("kms:ReEncrypt") for a in acts), s
' "$work/stdout" "$want" || fail "kms-policy"
expect 0 "$HELPER" kms-policy --account 123456789012 --role tmkms-role --debug --pcr4 "$want"
grep -q "\"kms:RecipientAttestation:PCR0\": \"$(printf '0%.0s' {1..96})\"" <<<"$out" || fail "--debug PCR0"
expect 2 "$HELPER" kms-policy --account 12345 --role r --pcr0 "$pcr0" --pcr4 "$want"
expect 2 "$HELPER" kms-policy --account 123456789012 --role r --debug --pcr0 "$pcr0" --pcr4 "$want"
expect 2 "$HELPER" kms-policy --account 123456789012 --role 'r/x' --pcr0 "$pcr0" --pcr4 "$want"
expect 2 "$HELPER" kms-policy --account 123456789012 --role r --pcr0 abc --pcr4 "$want"

# --- init and start: usage errors name what is wrong; nothing is written
mkdir -p home
expect 2 "$HELPER" init -k key -p base64 -c home
[[ $err == *"-a REGION is required"* ]] || fail "init without -a: $err"
expect 2 "$HELPER" init -a ap-southeast-1 -p base64 -c home
[[ $err == *"-k KEY_ID is required"* ]] || fail "init without -k: $err"
expect 2 "$HELPER" init -a ap-southeast-1 -k key -p bech32 -c home
[[ $err == *"needs -b PREFIX"* ]] || fail "init bech32 without -b: $err"
expect 2 "$HELPER" init -a ap-southeast-1 -k key -p pem -c home
expect 2 "$HELPER" init -a 'AP;x' -k key -p base64 -c home
expect 2 "$HELPER" init -a ap-southeast-1 -k key -p base64 -c home --chain-id "bad'quote"
expect 2 "$HELPER" init -a ap-southeast-1 -k key -p base64 -c home --cid 12x
[[ -z $(ls -A home) ]] || fail "a refused init wrote files: $(ls -A home)"
# No enclave listening (simulated vsock in an empty folder): a clear error, exit 1.
mkdir -p vs
AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret expect 1 "$HELPER" init -a ap-southeast-1 -k key -p base64 \
    -c home --simulate vs
[[ $err == *"is the enclave running?"* ]] || fail "init without an enclave: $err"
expect 2 "$HELPER" start --no-such-option
expect 1 "$HELPER" start -c no-such.toml
[[ $err == *"no-such.toml"* ]] || fail "start without a config: $err"
cp "$TMKMS_SOURCE_DIR/tests/data/nitro/guide-generic.toml" home/tmkms.toml
expect 1 "$HELPER" start -c home/tmkms.toml --simulate vs
[[ $err == *"secrets/secret.key"* ]] || fail "start without the sealed key: $err"

echo "nitro_helper_cli: all checks passed"
