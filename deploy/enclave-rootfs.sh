#!/usr/bin/env bash
# Assembles the enclave's root file system: the program, exactly the shared libraries the
# dynamic loader resolves for it (ldd; Debian's libcurl cannot be linked statically), the
# loader itself, and the CA bundle for TLS to AWS KMS. Nothing else: no shell, no
# package database, no configuration. deploy/Dockerfile only wraps this tree (FROM scratch).
#
#   deploy/enclave-rootfs.sh [--ca-bundle FILE] [--force] PROGRAM OUTDIR
#
# PROGRAM lands at OUTDIR/usr/bin/<its name>, each library at the path ldd reports (the
# file's content, symlinks resolved), the bundle at OUTDIR/etc/ssl/certs/ca-certificates.crt.
# Modes are normalised (0755 programs and libraries, 0644 the bundle, 0755 folders) and
# every time stamp set to SOURCE_DATE_EPOCH (default 0), so the same inputs give the same
# tree, and the same image layer. The tree's manifest (sha256 and path) goes to stdout.
set -euo pipefail

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "${1:-0}"
}

bundle=/etc/ssl/certs/ca-certificates.crt
force=0
while (($#)); do
    case $1 in
    --ca-bundle) bundle=${2:?--ca-bundle needs a file}; shift 2 ;;
    --force) force=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "enclave-rootfs: unknown option $1" >&2; usage 2 >&2 ;;
    *) break ;;
    esac
done
(($# == 2)) || usage 2 >&2
program=$1
out=$2

die() {
    echo "enclave-rootfs: $*" >&2
    exit 1
}

[[ -f $program && -x $program ]] || die "$program: not an executable file"
[[ -f $bundle && -r $bundle ]] || die "CA bundle $bundle: not a readable file (Debian: ca-certificates)"
if [[ -e $out ]]; then
    if [[ -n $(ls -A "$out") ]]; then
        ((force)) || die "$out exists and is not empty (--force replaces it)"
        rm -rf "$out"
    fi
fi

# The libraries: "name => /path (addr)" and the loader's "/path (addr)"; linux-vdso has no
# file. A library ldd cannot find is an error, never a silently incomplete image.
libs=()
if ldd_out=$(ldd "$program" 2>&1); then
    while read -r line; do
        case $line in
        *"not found"*) die "$program needs a library that is not installed: $line" ;;
        *"=> /"*) lib=${line#*=> }; libs+=("${lib%% (*}") ;;
        /*) libs+=("${line%% (*}") ;;
        linux-vdso* | linux-gate*) ;;
        *) die "unexpected ldd output: $line" ;;
        esac
    done <<<"$ldd_out"
elif [[ $ldd_out != *"not a dynamic executable"* && $ldd_out != *"statically linked"* ]]; then
    die "ldd $program: $ldd_out"
fi

install_file() { # SRC DEST MODE
    mkdir -p "$(dirname "$2")"
    cp -L -- "$1" "$2"
    chmod "$3" "$2"
}

mkdir -p "$out"
install_file "$program" "$out/usr/bin/$(basename "$program")" 0755
for lib in "${libs[@]}"; do
    install_file "$lib" "$out$lib" 0755
done
install_file "$bundle" "$out/etc/ssl/certs/ca-certificates.crt" 0644

find "$out" -type d -exec chmod 0755 {} +
find "$out" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
(cd "$out" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum)
