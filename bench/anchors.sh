#!/usr/bin/env bash
# make bench-anchors: our tmkms, iqlusion's tmkms and Strangelove's Horcrux against the same
# node (bench_sign), one after the other, in one run, each with its own state directory on
# the same filesystem. Not run in CI: installing the anchors builds them from the registries.
#
#   ANCHORS_DIR   where the anchors are installed (default <repo>/.anchors); reused if there
#   BENCH_N       signatures per signer (default 5000)
#   TMKMS_VERSION, HORCRUX_MODULE, HORCRUX_VERSION   override the pinned anchors
#   HORCRUX_SRC, COMETBFT_SRC   read Horcrux's (and its CometBFT's) source for the evidence
#                 from these trees instead of the Go module cache
#
# An anchor that does not build, install or run is reported with the reason, and the others
# go on. The "fsyncs state before answering" column is read from each signer's source, and
# the evidence (file:function) is printed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$(cd "${1:-build}" && pwd)
. "$here/lib.sh"
export BENCH_SIGN=$build/bin/bench_sign

anchors=${ANCHORS_DIR:-$repo/.anchors}
n=${BENCH_N:-5000}
# 0.15.0: rust-version 1.85, protocol_version "v0.38" (CometBFT v0.38 privval).
tmkms_version=${TMKMS_VERSION:-0.15.0}
horcrux_module=${HORCRUX_MODULE:-github.com/strangelove-ventures/horcrux/v3}
horcrux_version=${HORCRUX_VERSION:-v3.3.2}
go=$(command -v go || echo /usr/local/go/bin/go)
mkdir -p "$anchors"

work=$(mktemp -d "${TMPDIR:-/tmp}/tmkms-anchors.XXXXXX")
trap 'rm -rf "$work"' EXIT
rows=()     # "signer|version|p50|p99|sig/s|rss|fsync"
notes=()    # evidence and reasons, printed under the table

note() { notes+=("$*"); echo "$*"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
add_row() { # signer version fsync result-line
    local r=$4
    rows+=("$1|$2|$(field p50_us "$r")|$(field p99_us "$r")|$(field sig_per_s "$r")|$(field rss_mib "$r")|$3")
}
# body_of FILE START_REGEX: the lines from START_REGEX up to the next line with its indentation
# (or less) that closes a brace: one function's body in Rust, Go or C source.
body_of() {
    awk -v re="$2" '
        !on && $0 ~ re { on = 1; match($0, /^[ \t]*/); ind = RLENGTH; print; next }
        on { print; match($0, /^[ \t]*/); if (RLENGTH <= ind && $0 ~ /^[ \t]*}/) exit }' "$1"
}

# ---------------------------------------------------------------- ours
echo "== tmkms (ours): $build/bin/tmkms"
ours=$work/ours
if setup_ours "$build" "$ours" && out=$(bench_against tmkms "$ours" "$n" \
        "$build/bin/tmkms" start -c "$ours/tmkms.toml" --log-level warn); then
    echo "$out"
    f=src/core/state_file.c
    if body_of "$repo/$f" '^static tm_status file_persist\(' | grep -q fdatasync; then
        fs=yes
        note "evidence tmkms (ours): $f:file_persist does pwrite + fdatasync before the signature is returned"
    else
        fs="no?"
        note "evidence tmkms (ours): no fdatasync found in $f:file_persist"
    fi
    add_row "tmkms (ours, C)" "$(git -C "$repo" describe --always --dirty 2>/dev/null || echo worktree)" "$fs" \
        "$(grep '^result ' <<<"$out")"
else
    echo "$out"
    note "tmkms (ours): not measured: the run failed (above)"
fi

# ---------------------------------------------------------------- iqlusion tmkms
echo
echo "== iqlusion tmkms $tmkms_version (crates.io)"
iq_root=$anchors/tmkms-$tmkms_version
iq_bin=$iq_root/bin/tmkms
if [[ ! -x $iq_bin ]]; then
    echo "installing: cargo install tmkms --features softsign --version $tmkms_version --locked (log: $iq_root.log)"
    echo "  (builds ~300 crates: tens of minutes on 2 cores)"
    if ! CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} cargo install tmkms --features softsign \
            --version "$tmkms_version" --root "$iq_root" --locked >"$iq_root.log" 2>&1; then
        note "iqlusion tmkms: not measured: cargo install failed ($(cargo --version 2>&1)); last lines of $iq_root.log:"
        tail -n 15 "$iq_root.log" | sed 's/^/    /'
    fi
fi
if [[ -x $iq_bin ]]; then
    iq=$work/iqlusion
    mkdir -p "$iq/secrets" "$iq/state"
    chmod 700 "$iq/secrets"
    # Same key format as ours: base64 of the 32-byte ed25519 seed.
    "$build/bin/tmkms" softsign keygen "$iq/secrets/k.key" >/dev/null
    # Fields from src/config/{chain,validator}.rs and provider/softsign.rs of tmkms 0.15:
    # key_format is required on [[chain]]; protocol_version is "v0.38" (or legacy "v0.34").
    cat >"$iq/tmkms.toml" <<TOML
[[chain]]
id = "bench-chain"
key_format = { type = "hex" }
state_file = "$iq/state/bench-chain-consensus.json"

[[validator]]
chain_id = "bench-chain"
addr = "unix://$iq/node.sock"
reconnect = false
protocol_version = "v0.38"

[[providers.softsign]]
chain_ids = ["bench-chain"]
key_type = "consensus"
path = "$iq/secrets/k.key"
TOML
    if out=$(bench_against iqlusion "$iq" "$n" "$iq_bin" start -c "$iq/tmkms.toml"); then
        echo "$out"
        result=$(grep '^result ' <<<"$out")
    else
        echo "$out"
        note "iqlusion tmkms: not measured: the run failed (above; signer log tail printed)"
        result=
    fi
    # fsync evidence from the crate source cargo unpacked for the build.
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tmkms-$tmkms_version" 2>/dev/null | head -n 1)
    fs="?"
    if [[ -n $src && -f $src/src/chain/state.rs ]]; then
        body=$(body_of "$src/src/chain/state.rs" 'fn sync_to_disk\(')
        if grep -qE 'sync_all|sync_data|fsync' <<<"$body"; then
            fs=yes
            note "evidence iqlusion tmkms: src/chain/state.rs:sync_to_disk calls $(grep -oE 'sync_all|sync_data|fsync' <<<"$body" | head -n 1)"
        else
            fs=no
            note "evidence iqlusion tmkms: src/chain/state.rs:sync_to_disk (called by State::update_consensus_state before the signature is returned) does"
            note "    $(grep -E 'NamedTempFile|write_all|persist' <<<"$body" | sed 's/^ *//' | paste -sd ' ' -)"
            note "    and no sync_all/sync_data/fsync"
            tver=$(awk '/^name = "tempfile"/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$src/Cargo.lock")
            tsrc=$(ls -d "$(dirname "$src")/tempfile-$tver" 2>/dev/null | head -n 1)
            if [[ -n $tsrc ]]; then
                tbody=$(body_of "$tsrc/src/file/imp/unix.rs" '^pub fn persist\(')
                if grep -qE 'sync_all|sync_data|fsync' <<<"$tbody"; then
                    fs="yes (in tempfile)"
                    note "    but tempfile-$tver src/file/imp/unix.rs:persist syncs"
                else
                    note "    tempfile-$tver (Cargo.lock) src/file/imp/unix.rs:persist is a rename/link, no sync either"
                fi
            fi
        fi
    else
        note "evidence iqlusion tmkms: crate source not found under the cargo registry"
    fi
    [[ -n $result ]] && add_row "iqlusion tmkms (Rust)" "$tmkms_version" "$fs" "$result"
fi

# ---------------------------------------------------------------- Horcrux
echo
echo "== Horcrux $horcrux_module $horcrux_version (Go module proxy)"
hx_dir=$anchors/horcrux-$horcrux_version
hx_bin=$hx_dir/horcrux
if [[ ! -x $hx_bin ]]; then
    echo "installing: GOBIN=$hx_dir go install $horcrux_module/cmd/horcrux@$horcrux_version"
    mkdir -p "$hx_dir"
    if ! GOBIN=$hx_dir "$go" install "$horcrux_module/cmd/horcrux@$horcrux_version" >"$hx_dir.log" 2>&1; then
        note "horcrux: not installed: go install failed ($("$go" version 2>&1)):"
        tail -n 5 "$hx_dir.log" | sed 's/^/    /'
        notes+=("$(tail -n 5 "$hx_dir.log" | sed 's/^/    /')")
    fi
fi
modcache=$("$go" env GOMODCACHE 2>/dev/null)
hx_src=${HORCRUX_SRC:-$modcache/$horcrux_module@$horcrux_version}
hx_fs="?"
if [[ -f $hx_src/signer/remote_signer.go ]]; then
    # Does it speak plain privval on unix://, as CometBFT's node does? bench_sign is that node.
    body=$(body_of "$hx_src/signer/remote_signer.go" '^func \(rs \*ReconnRemoteSigner\) establishConnection\(')
    if grep -q 'MakeSecretConnection' <<<"$body" && ! grep -qi 'unix' <<<"$body"; then
        note "horcrux: not measured: signer/remote_signer.go:establishConnection dials the node address (tcp:// or unix://)"
        note "    and then always wraps it in MakeSecretConnection, unix:// included; CometBFT's node and bench_sign speak"
        note "    plain privval on unix:// (no Secret Connection), so the handshake cannot complete"
        hx_measurable=no
    else
        hx_measurable=yes
        note "horcrux: establishConnection does not force Secret Connection; running it is not implemented in this script yet"
    fi
    if [[ -f $hx_src/cmd/horcrux/cmd/config.go ]]; then
        help=$(grep -oE '`sign mode, [^`]*`|chain nodes in format [^ ]*' "$hx_src/cmd/horcrux/cmd/config.go" | tr -d '`' | paste -sd ';' -)
        note "    cmd/horcrux/cmd/config.go (config init flags): $help"
    fi
    # Single-signer mode signs through signer/file.go: FilePV.Sign -> saveSigned -> FilePVLastSignState.Save.
    save=$(body_of "$hx_src/signer/file.go" '^func \(lss \*FilePVLastSignState\) Save\(')
    if grep -q 'WriteFileAtomic' <<<"$save"; then
        cv=$(awk '$1 == "github.com/cometbft/cometbft" { print $2; exit }' "$hx_src/go.mod")
        cb_src=${COMETBFT_SRC:-$modcache/github.com/cometbft/cometbft@$cv}
        if [[ -f $cb_src/libs/tempfile/tempfile.go ]]; then
            if grep -q 'os.O_SYNC' "$cb_src/libs/tempfile/tempfile.go"; then
                hx_fs="yes (O_SYNC)"
                note "evidence horcrux: signer/file.go:FilePVLastSignState.Save (single mode, before answering) -> cometbft $cv"
                note "    libs/tempfile/tempfile.go:WriteFileAtomic opens the temp file with os.O_SYNC, then renames it"
                note "    (no fsync of the directory after the rename)"
            else
                hx_fs=no
                note "evidence horcrux: cometbft $cv libs/tempfile/tempfile.go:WriteFileAtomic has no O_SYNC"
            fi
        else
            note "evidence horcrux: cometbft $cv source not found ($cb_src)"
        fi
    fi
else
    note "horcrux: not measured: no source or binary ($hx_src missing): the install above failed"
fi

# ---------------------------------------------------------------- table
echo
echo "== anchors: $n sequential durable signatures each over unix://, $(nproc) cores, state on $(stat -f -c %T "$work") ($(uname -r))"
printf '%-24s %-10s %10s %10s %12s %14s  %s\n' signer version "p50 us" "p99 us" "signatures/s" "peak RSS MiB" \
    "fsyncs state before answering"
for r in "${rows[@]}"; do
    IFS='|' read -r s v a b c d e <<<"$r"
    printf '%-24s %-10s %10s %10s %12s %14s  %s\n' "$s" "$v" "$a" "$b" "$c" "$d" "$e"
done
[[ ${hx_measurable:-no} == no ]] && printf '%-24s %-10s %10s %10s %12s %14s  %s\n' "horcrux (Go)" "$horcrux_version" \
    - - - - "$hx_fs"
echo
printf '%s\n' "${notes[@]}"
