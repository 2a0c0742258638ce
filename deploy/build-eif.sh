#!/usr/bin/env bash
# Builds the enclave image file (EIF) from a tmkms-nitro-enclave binary:
#
#   deploy/build-eif.sh [--tag NAME:VERSION] PROGRAM OUTPUT.eif
#
# 1. deploy/enclave-rootfs.sh assembles PROGRAM's root file system into a fresh build
#    context (CONTEXT/rootfs, with deploy/Dockerfile beside it);
# 2. `nitro-cli build-enclave --docker-dir CONTEXT --docker-uri NAME:VERSION
#    --output-file OUTPUT.eif` builds the Docker image (FROM scratch + the tree) and the
#    EIF, and prints the measurements: PCR0 (the image), PCR1 (kernel and boot ramdisk),
#    PCR2 (the application). They are saved next to the EIF as OUTPUT.eif.json, and the
#    tree's manifest as OUTPUT.eif.manifest.
#
# Needs Docker and the AWS Nitro Enclaves CLI (on the build machine, not necessarily the
# validator's instance). The same PROGRAM, libraries, CA bundle and nitro-cli version give
# the same PCR0: see docs/OPERATIONS-NITRO.md for reproducing a build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=tmkms-nitro-enclave:latest
if [[ ${1:-} == --tag ]]; then
    tag=${2:?--tag needs NAME:VERSION}
    shift 2
fi
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "$1"
}
[[ ${1:-} == -h || ${1:-} == --help ]] && usage 0
[[ $# == 2 ]] || usage 2 >&2
program=$1
eif=$2
command -v nitro-cli >/dev/null || {
    echo "build-eif: nitro-cli is not installed (the AWS Nitro Enclaves CLI)" >&2
    exit 1
}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
"$here/enclave-rootfs.sh" "$program" "$context/rootfs" >"$eif.manifest"
cp "$here/Dockerfile" "$context/Dockerfile"
nitro-cli build-enclave --docker-dir "$context" --docker-uri "$tag" --output-file "$eif" >"$eif.json"
cat "$eif.json"
