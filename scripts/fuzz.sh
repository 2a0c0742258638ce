#!/usr/bin/env bash
# Runs every fuzz target built in BUILD/fuzz for SECONDS each on a copy of its committed
# corpus, and prints one line per target: name, executions, coverage, crashes.
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
# The fuzz build has ASan and UBSan (CMakeLists.txt, TMKMS_FUZZ); UBSan only prints and
# carries on by default, so make each of its findings a crash that is counted.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
printf '%-22s %12s %10s %8s\n' target executions coverage crashes
for bin in "$build"/fuzz/*_fuzz; do
  [[ -x $bin ]] || continue
  name=$(basename "$bin" _fuzz)
  corpus="$work/$name"
  mkdir -p "$corpus" "$work/$name-artifacts"
  [[ -d $root/fuzz/corpus/$name ]] && cp -r "$root/fuzz/corpus/$name/." "$corpus/"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/$name-artifacts/" \
    "$corpus" >"$work/$name.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$work/$name.log" | tail -1 | grep -o '[0-9]*')
  crashes=$(find "$work/$name-artifacts" -type f | wc -l)
  printf '%-22s %12s %10s %8s\n' "$name" "${execs:-?}" "${cov:-?}" "$crashes"
  if [[ $rc -ne 0 || $crashes -ne 0 ]]; then
    status=1
    mkdir -p "$root/build-fuzz-crashes"
    cp "$work/$name-artifacts/"* "$root/build-fuzz-crashes/" 2>/dev/null
    tail -30 "$work/$name.log"
  fi
done
exit $status
