#!/usr/bin/env bash
# labels: keys;cli
# timeout: 60
#
# tmkms softsign keygen / import and tmkms pubkey, end to end through the binary. Public
# keys and addresses are re-derived independently of our code: ed25519 with openssl,
# SHA-256 with sha256sum, bech32 with a small reference encoder in python3.
set -euo pipefail

TMKMS="${TMKMS_BUILD_DIR:?}/bin/tmkms"
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

contains() { # contains HAYSTACK NEEDLE WHAT
    case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac
}

hex_to_bin() { printf '%b' "$(sed 's/../\\x&/g')"; }

# The ed25519 public key of a base64 seed file, raw, via openssl (PKCS#8 wrapping of the seed).
pubkey_raw() {
    { printf '302e020100300506032b657004220420'; base64 -d <"$1" | od -An -v -tx1 | tr -d ' \n'; } |
        hex_to_bin | openssl pkey -inform DER -pubout -outform DER | tail -c 32
}
pubkey_b64() { pubkey_raw "$1" | base64 -w0; }
address_of() { pubkey_raw "$1" | sha256sum | cut -c1-40 | tr a-f A-F; }
# Reference libp2p peer ID: base58btc of the identity multihash 00 24 || PublicKey protobuf
# (08 01 12 20 || key).
peer_id_of() {
    pubkey_raw "$1" | python3 -c '
import sys
b = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + sys.stdin.buffer.read()
alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
n, s = int.from_bytes(b, "big"), ""
while n:
    n, r = divmod(n, 58)
    s = alphabet[r] + s
print("1" * (len(b) - len(b.lstrip(b"\0"))) + s)'
}

# Reference BIP-173 encoder of amino prefix 1624DE6420 || key.
bech32_of() { # bech32_of HRP KEYFILE
    pubkey_raw "$2" | python3 -c '
import sys
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
hrp = sys.argv[1]
data = bytes.fromhex("1624DE6420") + sys.stdin.buffer.read()
acc = bits = 0
words = []
for byte in data:
    acc = (acc << 8) | byte
    bits += 8
    while bits >= 5:
        bits -= 5
        words.append((acc >> bits) & 31)
if bits:
    words.append((acc << (5 - bits)) & 31)
exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
pm = polymod(exp + words + [0] * 6) ^ 1
check = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
print(hrp + "1" + "".join(CHARSET[w] for w in words + check))
' "$1"
}

# ---- keygen ----
expect 0 "$TMKMS" softsign --help
contains "$out" "softsign keygen" "softsign --help"
expect 2 "$TMKMS" softsign keygen
expect 2 "$TMKMS" softsign keygen -t account a.key
expect 2 "$TMKMS" softsign frobnicate

expect 0 "$TMKMS" softsign keygen consensus.key
[ "$(stat -c %a consensus.key)" = 600 ] || fail "key mode $(stat -c %a consensus.key), expected 600"
[ "$(stat -c %s consensus.key)" = 44 ] || fail "key file is not 44 bytes of base64"
[ "$(base64 -d <consensus.key | wc -c)" = 32 ] || fail "key file does not hold a 32-byte seed"
pub=$(pubkey_b64 consensus.key)
addr=$(address_of consensus.key)
contains "$out" "public key (base64): $pub" "keygen output"
contains "$out" "\"value\":\"$pub\"" "keygen output"
contains "$out" "validator address: $addr" "keygen output"

before=$(cat consensus.key)
expect 1 "$TMKMS" softsign keygen consensus.key
contains "$err" "already exists" "keygen over an existing key"
[ "$(cat consensus.key)" = "$before" ] || fail "keygen overwrote an existing key"

expect 0 "$TMKMS" softsign keygen -t identity identity.key
node_id=$(address_of identity.key | tr A-F a-f)
contains "$out" "node ID: $node_id" "identity keygen output"
contains "$out" "peer ID: $(peer_id_of identity.key)" "identity keygen output (libp2p peer ID)"

# ---- import ----
seed_b64_64=$({ base64 -d <consensus.key; pubkey_raw consensus.key; } | base64 -w0)
write_pv_key() { # write_pv_key FILE ADDRESS PUB PRIV MODE
    (umask 077 && cat >"$1" <<EOF
{
  "address": "$2",
  "pub_key": {
    "type": "tendermint/PubKeyEd25519",
    "value": "$3"
  },
  "priv_key": {
    "type": "tendermint/PrivKeyEd25519",
    "value": "$4"
  }
}
EOF
    )
    chmod "$5" "$1"
}
write_pv_key pvk.json "$addr" "$pub" "$seed_b64_64" 600
expect 0 "$TMKMS" softsign import pvk.json imported.key
contains "$out" "public key (base64): $pub" "import output"
[ "$(cat imported.key)" = "$(cat consensus.key)" ] || fail "imported seed differs from the original"
[ "$(stat -c %a imported.key)" = 600 ] || fail "imported key mode is not 600"
expect 1 "$TMKMS" softsign import pvk.json imported.key
contains "$err" "already exists" "import over an existing key"

write_pv_key pvk-open.json "$addr" "$pub" "$seed_b64_64" 644
expect 1 "$TMKMS" softsign import pvk-open.json other.key
contains "$err" "is readable by group/others (mode 0644); run chmod 600 pvk-open.json" "import of a 0644 file"
[ ! -e other.key ] || fail "a refused import left a key file behind"

write_pv_key pvk-addr.json "0000000000000000000000000000000000000000" "$pub" "$seed_b64_64" 600
expect 1 "$TMKMS" softsign import pvk-addr.json other.key
contains "$err" "does not match the public key" "import with a wrong address"
[ ! -e other.key ] || fail "a refused import left a key file behind"

# ---- pubkey ----
cat >tmkms.toml <<EOF
[[chain]]
id = "test-chain-1"
key_format = { type = "bech32", account_key_prefix = "cosmospub", consensus_key_prefix = "cosmosvalconspub" }

[[chain]]
id = "other-chain"
key_format = { type = "hex" }

[[providers.softsign]]
chain_ids = ["test-chain-1"]
key_type = "consensus"
path = "consensus.key"

[[providers.softsign]]
chain_ids = ["other-chain"]
key_type = "consensus"
key_format = "json"
path = "pvk.json"
EOF
expect 0 "$TMKMS" pubkey --help
expect 0 "$TMKMS" pubkey -c tmkms.toml --chain test-chain-1
bech=$(bech32_of cosmosvalconspub consensus.key)
contains "$out" "bech32:  $bech" "pubkey bech32"
contains "$out" "base64:  $pub" "pubkey base64"
contains "$out" "json:    {\"type\":\"tendermint/PubKeyEd25519\",\"value\":\"$pub\"}" "pubkey json"
contains "$out" "address: $addr" "pubkey address"
hexkey=$(pubkey_raw consensus.key | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F)
contains "$out" "hex:     $hexkey" "pubkey hex"

# Both chains: the second from the CometBFT JSON file, same key, no bech32 prefix.
expect 0 "$TMKMS" pubkey -c tmkms.toml
contains "$out" "chain other-chain" "pubkey of all chains"
[ "$(grep -c "base64:  $pub" <<<"$out")" = 2 ] || fail "pubkey of all chains: expected the key twice: $out"
[ "$(grep -c "bech32:" <<<"$out")" = 1 ] || fail "a hex-format chain printed a bech32 key: $out"

expect 2 "$TMKMS" pubkey -c tmkms.toml --chain no-such-chain
contains "$err" "no-such-chain" "pubkey of an unknown chain"
chmod 644 consensus.key
expect 1 "$TMKMS" pubkey -c tmkms.toml --chain test-chain-1
contains "$err" "readable by group/others" "pubkey with an open key file"
chmod 600 consensus.key
rm consensus.key
expect 1 "$TMKMS" pubkey -c tmkms.toml --chain test-chain-1
contains "$err" "does not exist" "pubkey with a missing key file"

echo "softsign_cli: ok"
