#!/usr/bin/env bash
# Static analysis (`make check-static`): cppcheck, then clang-tidy with the checks of
# .clang-tidy over every C file of the project. Any finding fails. Usage:
#   scripts/check-static.sh [CLANG_BUILD_DIR] [JOBS]
# CLANG_BUILD_DIR (default build-tidy) is configured with clang and the fuzz targets, so that
# its compile_commands.json names every C file; only the protobuf-c code is generated in it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build-tidy}
jobs=${2:-$(nproc)}
start=$SECONDS

echo "check-static: cppcheck $(cppcheck --version | awk '{print $2}')"
# clang-tidy needs the generated protobuf-c headers: only they are built.
CC=clang cmake -S . -B "$build" -G Ninja -DTMKMS_FUZZ=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$build" --target tmkms_proto >/dev/null
includes=()
# Not the generated protobuf-c headers: they need <protobuf-c/protobuf-c.h>, a system header
# cppcheck does not read (their version check would stop at #error); their types stay unknown.
for d in src/core/include src/aws/include src/nitro/include src/nitro-helper tools/kms-emulator \
  tools/emu-common; do
  includes+=(-I "$d")
done
cppcheck --quiet --std=c11 -D_GNU_SOURCE -D__GNUC__ -j "$jobs" \
  --enable=warning,portability,performance --inline-suppr --error-exitcode=1 \
  --suppress=missingIncludeSystem "${includes[@]}" \
  src tools tests/unit fuzz bench
echo "check-static: cppcheck clean ($((SECONDS - start)) s)"

# clang-tidy one file per process: clang-tidy 14 carries analyzer state from one file to the
# next within a process (clang-analyzer-valist.Uninitialized then reports va_lists that are
# started). The generated protobuf-c sources (in the build folder) are not ours.
t0=$SECONDS
files=$(python3 -c '
import json, sys
build = sys.argv[2] + "/"
for entry in json.load(open(build + "compile_commands.json")):
    if not entry["file"].startswith(build):
        print(entry["file"])
' "$root" "$(cd "$build" && pwd)")
n=$(wc -l <<<"$files")
echo "check-static: clang-tidy $(clang-tidy --version | awk '/version/ {print $NF}') on $n files, $jobs jobs"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! xargs -P "$jobs" -n 1 clang-tidy -p "$build" --quiet <<<"$files" >"$log" 2>&1; then
  grep -v -e '^[0-9]* warnings\? generated\.$' -e '^Suppressed [0-9]* warnings' \
    -e '^Use -header-filter' -e 'NOLINT.*to display errors' "$log" || true
  echo "check-static: clang-tidy found problems ($((SECONDS - t0)) s)" >&2
  exit 1
fi
echo "check-static: clang-tidy clean ($((SECONDS - t0)) s); total $((SECONDS - start)) s"
