#!/usr/bin/env bash
# labels: e2e;secrets;nitro
# timeout: 180
# skip-code: 77
#
# "Never a secret" in the logs (docs/OPERATIONS.md, Logs): every log line and every CLI
# message the programs write while handling keys, searched for the key material.
#   (a) tmkms over unix://, tcp:// (Secret Connection) and noise://, each at --log-level
#       debug once in the human format and once with --log-format json: validator-sim's
#       basic, guard (double signs, regressions, a wrong chain id, malformed requests),
#       storm and oversize (garbage frames: tmkms closes, the node reconnects) scenarios;
#       tmkms starts before the node listens, so its repeating connect failures give debug
#       lines. The CLI's key handling, stdout and stderr captured: init, softsign keygen
#       (consensus and identity), export, import (and imports that must fail: a public key
#       that does not match, a truncated key), pubkey and start on a key file in the wrong
#       encoding (the seed as hex).
#   (b) the Nitro path in simulation (scripts/simulate, the enclave and the vsock proxy with
#       -v, the helper with -v and --log-format json; the helper pushes its level to the
#       enclave): the same scenarios through the helper's node relay. The enclave generated
#       its key: its seed is found by public key in the enclave's memory
#       (tests/lib/scan_secrets.py --write-seeds, as memory_secrets.sh does, --locked-only
#       as the seed is looked for there and an ASan build's shadow is too large to read; needs root:
#       without root that part is skipped and the test exits 77). The AWS credentials the
#       helper and the enclave sign KMS requests with (secret access key, session token, as
#       the IMDS emulator serves them) are searched for too, in every log.
# The encodings: for each ed25519 key, its 32-byte seed and its 64-byte libsodium secret
# key (seed || public key) as lowercase hex, uppercase hex, base64 with and without
# padding, URL-safe base64 (and the base64 of the seed's first 30 bytes, with which the
# base64 of any value starting with the seed starts), and the raw bytes; for the AWS secrets the text itself, JSON-
# escaped, URL-encoded, base64 and hex. The public key alone is allowed (it is public).
# Controls: every encoding of a control key written into a scratch log is reported, its
# public key alone is not, and a real seed appended to a copy of a real log is found; every
# log searched is non-empty and, for the programs with a debug level, holds debug lines.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
py=/usr/bin/python3
source "$src/tests/lib/kms.sh"
work=$(mktemp -d /tmp/logsec.XXXXXX)
sim_dir=$work/sim
cli=$work/cli
mkdir -p "$cli" "$work/real" "$work/control"
cleanup() {
  [[ -d $sim_dir/pids ]] && "$src/scripts/simulate" down --dir "$sim_dir" >/dev/null 2>&1
  kms_cleanup
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
skipped=

# Every file to search, one path a line; and what each must show (see check_logs).
logs=$work/logs.list
: >"$logs"
# searched FILE KIND: FILE is searched; KIND is human, json (debug lines expected, in that
# format), cli (may be empty: a command that printed nothing) or plain (non-empty).
searched() { printf '%s\t%s\n' "$1" "$2" >>"$logs"; }

# --- the search

# add_key DIR LABEL KEYFILE: a key file (base64 of the 32-byte seed) to search for.
add_key() {
  printf '%s\ted25519\t%s\n' "$2" "$(base64 -d "$3" | od -An -v -tx1 | tr -d ' \n')" >>"$1/secrets.tsv"
}
# add_text DIR LABEL TEXT: a secret string (an AWS credential).
add_text() { printf '%s\ttext\t%s\n' "$2" "$3" >>"$1/secrets.tsv"; }

# make_patterns DIR: from DIR/secrets.tsv, DIR/text.tsv (LABEL<TAB>pattern: the textual
# encodings, for grep -F), DIR/raw.tsv (LABEL<TAB>hex of the raw bytes) and DIR/pub.tsv
# (LABEL<TAB>the key's public key, base64).
make_patterns() {
  "$py" - "$1" <<'PY'
import base64, sys, urllib.parse
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
d = sys.argv[1]
text, raw, pub = [], [], []
def b64(b): return base64.b64encode(b).decode()
def b64url(b): return base64.urlsafe_b64encode(b).decode()
def binary(label, b):
    forms = [("hex", b.hex()), ("HEX", b.hex().upper()), ("base64", b64(b)),
             ("base64 unpadded", b64(b).rstrip("=")), ("base64url", b64url(b)),
             ("base64url unpadded", b64url(b).rstrip("="))]
    seen = set()
    for name, p in forms:
        if p not in seen:
            seen.add(p)
            text.append((f"{label}, {name}", p))
    raw.append((f"{label}, raw bytes", b.hex()))
for line in open(f"{d}/secrets.tsv"):
    label, kind, value = line.rstrip("\n").split("\t", 2)
    if kind == "ed25519":
        seed = bytes.fromhex(value)
        assert len(seed) == 32, label
        pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        pub.append((label, b64(pk)))
        binary(f"{label}: 32-byte seed", seed)
        binary(f"{label}: 64-byte secret key", seed + pk)
        # Base64 of anything that starts with the seed (the seed, the 64-byte key, a cut
        # value echoed in an error) starts with the 40 characters of its first 30 bytes.
        text.append((f"{label}: first 30 bytes of the seed, base64", b64(seed[:30])))
        if b64url(seed[:30]) != b64(seed[:30]):
            text.append((f"{label}: first 30 bytes of the seed, base64url", b64url(seed[:30])))
    else:
        b = value.encode()
        forms = [("text", value), ("JSON-escaped", value.replace("/", "\\/")),
                 ("URL-encoded", urllib.parse.quote(value, safe="")), ("base64", b64(b)), ("hex", b.hex())]
        seen = set()
        for name, p in forms:
            if p not in seen:
                seen.add(p)
                text.append((f"{label}, {name}", p))
for name, rows in (("text", text), ("raw", raw), ("pub", pub)):
    with open(f"{d}/{name}.tsv", "w") as f:
        for label, p in rows:
            assert "\t" not in p and "\n" not in p and len(p) >= 16, label
            f.write(f"{label}\t{p}\n")
PY
  cut -f2 "$1/text.tsv" >"$1/text.pat"
}

# leaks DIR FILE...: one line "FILE: LABEL" for each secret of DIR found in a FILE, in any
# encoding. Text forms with grep -F -f (binary files read as text, bytes as they are);
# raw bytes in Python (a seed may hold a newline byte, which grep -f would take as the
# end of a pattern).
leaks() {
  local dir=$1 f m
  shift
  for f in "$@"; do
    LC_ALL=C grep -a -o -F -f "$dir/text.pat" -- "$f" | LC_ALL=C sort -u | while IFS= read -r m; do
      M=$m awk -F'\t' -v f="$f" '$2 == ENVIRON["M"] {print f ": " $1; exit}' "$dir/text.tsv"
    done
  done
  "$py" -c '
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
for f in sys.argv[2:]:
    data = open(f, "rb").read()
    for label, h in rows:
        if bytes.fromhex(h) in data:
            print(f"{f}: {label}")
' "$dir/raw.tsv" "$@"
}

# --- (a) tmkms and its CLI

# run DIR NAME CMD...: CMD's stdout and stderr captured (DIR/NAME.out, .err), both searched.
run() {
  local dir=$1 name=$2
  shift 2
  "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  local rc=$?
  searched "$dir/$name.out" cli
  searched "$dir/$name.err" cli
  return $rc
}

# setup DIR CHAIN: as kms_setup, every command's output captured.
setup() {
  local dir=$1 chain=$2 name
  name=$(basename "$dir")
  kms_config "$dir" "$chain" 'max_height = "100000000"'
  run "$cli" "keygen-$name" "$tmkms" softsign keygen "$dir/secrets/consensus.key" &&
    run "$cli" "state-init-$name" "$tmkms" state init -c "$dir/tmkms.toml" &&
    run "$cli" "pubkey-$name" "$tmkms" pubkey -c "$dir/tmkms.toml" || return 1
  add_key "$work/real" "consensus key ($name)" "$dir/secrets/consensus.key"
}

# One tmkms per transport and format, started before its node listens.
for scheme in unix tcp noise; do
  for format in human json; do
    name=$scheme-$format
    dir=$work/$name
    chain=logsec-$name
    setup "$dir" "$chain" || { bad "$name: setup: $(cat "$cli"/*-"$name".err)"; continue; }
    sim_args=(--socket "$dir/node.sock")
    if [[ $scheme != unix ]]; then
      run "$cli" "keygen-identity-$name" "$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" ||
        { bad "$name: identity keygen"; continue; }
      add_key "$work/real" "identity key ($name)" "$dir/secrets/identity.key"
      "$tmkms" softsign keygen -t identity "$dir/node-identity.key" >"$dir/node-identity.out" || exit 1
      id_kind="node ID"
      [[ $scheme == noise ]] && id_kind="peer ID"
      node_id=$(sed -n "s/^$id_kind: //p" "$dir/node-identity.out")
      port=$(free_port)
      sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"$scheme://$node_id@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"|" \
        "$dir/tmkms.toml"
      sim_args=(--listen "$scheme://127.0.0.1:$port" --identity-key "$dir/node-identity.key")
    fi
    "$tmkms" start -c "$dir/tmkms.toml" --log-level debug --log-format "$format" >"$dir/tmkms.log" 2>&1 &
    kms_pid=$!
    kms_pids+=("$kms_pid")
    searched "$dir/tmkms.log" "$format"
    # A repeated connect failure is logged at debug level: wait for one before the node listens.
    wait_for 50 grep -q 'again' "$dir/tmkms.log" || bad "$name: no repeated connect failure logged"
    "$bin/validator-sim" "${sim_args[@]}" --chain-id "$chain" --scenario all --heights 20 --max-height 100000000 \
      --expect-pubkey "$(awk '/base64/ {print $NF; exit}' "$cli/pubkey-$name.out")" >"$dir/sim.log" 2>&1
    if (($? == 0)) && grep -q '^result: PASS' "$dir/sim.log"; then
      ok "$name: basic, guard, storm and oversize passed (refusals: $(grep -c refused "$dir/tmkms.log"))"
    else
      bad "$name: validator-sim: $(grep -E '^FAIL|^result' "$dir/sim.log" | head -n 3)"
    fi
    (($(grep -c 'connected to' "$dir/tmkms.log") >= 2)) && ok "$name: the node reconnected" ||
      bad "$name: no reconnection in the log"
    kill -TERM "$kms_pid"
    wait "$kms_pid" || bad "$name: tmkms exit status on SIGTERM"
  done
done

# The CLI's other key handling, the error paths included.
d=$work/cli-keys
mkdir -p "$d"
if run "$cli" init "$tmkms" init -n logsec-init "$d/init"; then
  for k in "$d"/init/secrets/*.key; do add_key "$work/real" "tmkms init: $(basename "$k")" "$k"; done
  ok "tmkms init: $(ls "$d"/init/secrets/*.key | wc -l) keys"
else
  bad "tmkms init: $(cat "$cli/init.err")"
fi
run "$cli" keygen-export "$tmkms" softsign keygen "$d/a.key" || bad "keygen a.key"
add_key "$work/real" "exported key" "$d/a.key"
run "$cli" export "$tmkms" softsign export "$d/a.key" "$d/a.json" && ok "softsign export" ||
  bad "softsign export: $(cat "$cli/export.err")"
run "$cli" export-again "$tmkms" softsign export "$d/a.key" "$d/a.json" && bad "export over an existing file succeeded" ||
  ok "export over an existing file refused"
run "$cli" import "$tmkms" softsign import "$d/a.json" "$d/a-imported.key" && cmp -s "$d/a.key" "$d/a-imported.key" &&
  ok "softsign import: the same key back" || bad "softsign import: $(cat "$cli/import.err")"
# A priv_validator_key.json whose public key is another key's: refused, without the key.
run "$cli" keygen-other "$tmkms" softsign keygen "$d/b.key" || bad "keygen b.key"
add_key "$work/real" "other key" "$d/b.key"
"$tmkms" softsign export "$d/b.key" "$d/b.json" >/dev/null 2>&1
(umask 077 && jq --slurpfile b "$d/b.json" '.pub_key = $b[0].pub_key' "$d/a.json" >"$d/mismatch.json")
run "$cli" import-mismatch "$tmkms" softsign import "$d/mismatch.json" "$d/m.key" && bad "import of a mismatched key succeeded" ||
  ok "import of a key whose public key does not match: refused ($(head -c 120 "$cli/import-mismatch.err"))"
# ... and one whose private key is cut short.
(umask 077 && jq '.priv_key.value |= .[0:60]' "$d/a.json" >"$d/short.json")
run "$cli" import-short "$tmkms" softsign import "$d/short.json" "$d/s.key" && bad "import of a truncated key succeeded" ||
  ok "import of a truncated key: refused ($(head -c 120 "$cli/import-short.err"))"
# A key file holding the seed as hex instead of base64: pubkey and start must fail without
# echoing the file.
wrong=$work/wrong
setup "$wrong" logsec-wrong || bad "wrong-encoding setup"
(umask 077 && base64 -d "$wrong/secrets/consensus.key" | od -An -v -tx1 | tr -d ' \n' >"$wrong/secrets/hex.key")
sed -i 's|secrets/consensus.key|secrets/hex.key|' "$wrong/tmkms.toml"
run "$cli" pubkey-hex-key "$tmkms" pubkey -c "$wrong/tmkms.toml" && bad "pubkey on a hex key file succeeded" ||
  ok "pubkey on a key file in the wrong encoding: refused ($(head -c 120 "$cli/pubkey-hex-key.err"))"
run "$cli" start-hex-key timeout 10 "$tmkms" start -c "$wrong/tmkms.toml" --log-level debug && bad "start on a hex key file succeeded" ||
  ok "start on a key file in the wrong encoding: refused ($(grep -m1 -i error "$cli/start-hex-key.err" | cut -c1-150))"

# --- (b) the Nitro path in simulation
if "$src/scripts/simulate" up --dir "$sim_dir" --build "$build" --enclave-arg -v --proxy-arg -v \
  --helper-arg -v --helper-arg --log-format --helper-arg json >"$work/simulate.log" 2>&1; then
  # shellcheck disable=SC1091
  source "$sim_dir/env"
  # While no node listens, the enclave's repeated attempts through the relay are logged at
  # debug level: wait for one to be forwarded to the helper's log before the node listens.
  wait_for 100 grep -q '"level":"debug","module":"conn","source":"enclave"' "$sim_dir/logs/helper.log" ||
    bad "nitro: no debug line of the enclave forwarded before the node listened"
  "$bin/validator-sim" --socket "$sim_dir/node.sock" --chain-id "$SIM_CHAIN_ID" --expect-pubkey "$SIM_PUBKEY" \
    --scenario all --heights 20 --accept-timeout 60000 >"$work/nitro-sim.log" 2>&1
  if (($? == 0)) && grep -q '^result: PASS' "$work/nitro-sim.log"; then
    ok "nitro: basic, guard, storm and oversize through the helper's relay passed"
  else
    bad "nitro: validator-sim: $(grep -E '^FAIL|^result' "$work/nitro-sim.log" | head -n 3)"
  fi
  grep -q 'refused proposal.*conflicting data' "$sim_dir/logs/enclave.log" &&
    ok "nitro: the enclave refused a double sign" || bad "nitro: no double-sign refusal in the enclave's log"
  # The credentials the instance role hands out: what the helper and the enclave sign with.
  creds=$("$py" -c '
import json, sys, urllib.request as u
base = sys.argv[1]
t = u.urlopen(u.Request(base + "/latest/api/token", method="PUT",
                        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})).read().decode()
get = lambda p: u.urlopen(u.Request(base + p, headers={"X-aws-ec2-metadata-token": t})).read().decode()
role = get("/latest/meta-data/iam/security-credentials/").split()[0]
c = json.loads(get("/latest/meta-data/iam/security-credentials/" + role))
print(c["SecretAccessKey"]); print(c["Token"])' "$SIM_IMDS_URL")
  aws_secret=$(sed -n 1p <<<"$creds")
  aws_token=$(sed -n 2p <<<"$creds")
  if [[ -n $aws_secret && -n $aws_token ]]; then
    add_text "$work/real" "AWS secret access key" "$aws_secret"
    add_text "$work/real" "AWS session token" "$aws_token"
    ok "nitro: the instance role's secret access key and session token, from the IMDS emulator"
  else
    bad "nitro: no credentials from the IMDS emulator"
  fi
  if [[ $(id -u) == 0 ]]; then
    "$py" "$src/tests/lib/scan_secrets.py" "$(cat "$sim_dir/pids/enclave.pid")" --label enclave \
      --pubkey "$SIM_PUBKEY" --write-seeds "$work/enclave.seeds" --locked-only >"$work/scan.out" 2>&1
    if [[ -s $work/enclave.seeds ]]; then
      n=0
      while read -r seed; do
        n=$((n + 1))
        printf 'enclave consensus key %d\ted25519\t%s\n' "$n" "$seed" >>"$work/real/secrets.tsv"
      done <"$work/enclave.seeds"
      ok "nitro: the enclave's seed, found by its public key in the enclave's memory"
    else
      bad "nitro: the enclave's seed was not found: $(tail -n 3 "$work/scan.out")"
    fi
  else
    skipped="the enclave's seed (finding it in the enclave's memory needs root)"
    echo "SKIP $skipped"
  fi
  "$src/scripts/simulate" down --dir "$sim_dir" >/dev/null 2>&1
  searched "$sim_dir/logs/helper.log" json
  searched "$sim_dir/logs/enclave.log" human
  searched "$sim_dir/logs/proxy.log" human
  searched "$sim_dir/logs/init.log" plain
  searched "$sim_dir/logs/imds.log" plain
  searched "$sim_dir/logs/kms.log" plain
  searched "$work/simulate.log" plain
else
  bad "scripts/simulate up: $(tail -n 5 "$work/simulate.log")"
fi

# --- the logs are logs: non-empty, debug lines where the program has a debug level
while IFS=$'\t' read -r f kind; do
  short=${f#"$work"/}
  case $kind in
  human)
    n=$(grep -c '^[0-9T:.Z-]* DEBUG ' "$f")
    [[ -s $f ]] && ((n > 0)) && ok "$short: $(wc -l <"$f") lines, $n at debug level" || bad "$short: no debug lines"
    ;;
  json)
    n=$(grep -c '"level":"debug"' "$f")
    other=$(grep -vc '^{' "$f")
    [[ -s $f ]] && ((n > 0 && other == 0)) && ok "$short: $(wc -l <"$f") JSON lines, $n at debug level" ||
      bad "$short: $n debug lines, $other lines not JSON"
    ;;
  plain) [[ -s $f ]] && ok "$short: $(wc -l <"$f") lines (no debug level)" || bad "$short: empty" ;;
  esac
done <"$logs"
grep -q 'pushing the config to the enclave' "$sim_dir/logs/helper.log" 2>/dev/null &&
  ok "helper: its debug line about the credentials it pushes is there" || bad "helper: no 'pushing the config' debug line"
grep -q '"level":"debug","module":"[a-z-]*","source":"enclave"' "$sim_dir/logs/helper.log" 2>/dev/null &&
  ok "helper: the enclave's debug lines are forwarded" || bad "helper: no forwarded debug line of the enclave"
grep -q 'DEBUG \[vsock-proxy\]' "$sim_dir/logs/proxy.log" 2>/dev/null && ok "proxy: debug lines (-v)" ||
  bad "proxy: no debug line"
cli_bytes=$(cut -f1 "$logs" | grep "^$cli/" | xargs cat | wc -c)
((cli_bytes > 0)) && ok "CLI captures: $(grep -c "^$cli/" "$logs") files, $cli_bytes bytes" || bad "CLI captures empty"

# --- controls: the search finds what it must, and only that
c=$work/control
"$py" -c 'import os; print(os.urandom(32).hex())' | sed 's/^/control key\ted25519\t/' >"$c/secrets.tsv"
make_patterns "$c"
i=0
missed=0
while IFS=$'\t' read -r label p; do
  i=$((i + 1))
  printf 'INFO [x] a line\nDEBUG [x] key=%s; done\n' "$p" >"$c/scratch-$i.log"
  [[ $(leaks "$c" "$c/scratch-$i.log") == *"$label"* ]] ||
    { missed=$((missed + 1)); bad "control: $label in a scratch log not reported"; }
done <"$c/text.tsv"
while IFS=$'\t' read -r label h; do
  i=$((i + 1))
  "$py" -c 'import sys; open(sys.argv[1], "wb").write(b"DEBUG [x] bytes <" + bytes.fromhex(sys.argv[2]) + b">\n")' \
    "$c/scratch-$i.log" "$h"
  [[ $(leaks "$c" "$c/scratch-$i.log") == *"$label"* ]] ||
    { missed=$((missed + 1)); bad "control: $label in a scratch log not reported"; }
done <"$c/raw.tsv"
((missed == 0)) && ok "control: each of the $i encodings of a control key, written into a scratch log, is reported"
pub=$(cut -f2 "$c/pub.tsv")
pubhex=$(base64 -d <<<"$pub" | od -An -v -tx1 | tr -d ' \n')
printf 'INFO key %s %s %s %s\n' "$pub" "${pub%=}" "$pubhex" "${pubhex^^}" >"$c/pub.log"
[[ -z $(leaks "$c" "$c/pub.log") ]] && ok "control: the public key alone is not reported" ||
  bad "control: the public key alone reported: $(leaks "$c" "$c/pub.log")"

# --- the search itself
make_patterns "$work/real"
echo "searching $(wc -l <"$logs") files for $(cut -f1 "$work/real/secrets.tsv" | wc -l) secrets" \
  "in $(($(wc -l <"$work/real/text.tsv") + $(wc -l <"$work/real/raw.tsv"))) forms"
# The real search's own control: a real seed appended to a copy of a real log is found.
f=$work/unix-json/tmkms.log
cp "$f" "$work/planted.log"
printf '{"level":"debug","msg":"key %s"}\n' "$(sed -n 's/.*32-byte seed, base64url unpadded\t//p' "$work/real/text.tsv" | head -n1)" \
  >>"$work/planted.log"
[[ -n $(leaks "$work/real" "$work/planted.log") ]] && ok "control: a real seed planted in a copy of a real log is found" ||
  bad "control: a planted real seed was not found"
mapfile -t files < <(cut -f1 "$logs")
found=$(leaks "$work/real" "${files[@]}")
if [[ -z $found ]]; then
  ok "no key material and no AWS secret in any of the ${#files[@]} logs and CLI captures"
else
  bad "secrets in the logs:"
  sed "s|$work/||; s/^/    /" <<<"$found"
fi

check_summary || exit 1
[[ -z $skipped ]] || { echo "SKIP (part): $skipped"; exit 77; }
exit 0
