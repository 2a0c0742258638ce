#!/usr/bin/env bash
# labels: e2e;modules
# timeout: 120
#
# tmkms's loadable modules (src/core/include/tmkms/module.h): a tmkms without [ha] and
# [metrics] maps neither libcurl, nor libmicrohttpd, nor their modules, nor libsystemd
# unless NOTIFY_SOCKET is set
# (read from /proc/PID/maps of a running `tmkms start`); with [metrics] it maps
# tmkms-metrics.so and libmicrohttpd, with [ha] tmkms-ha.so and libcurl. A missing module
# is a startup error naming the section, the files looked for and dlerror(), before any
# key is loaded; a module of another version, of another build, without the version 1
# entry point, or with a symbol tmkms does not have, is refused naming the file and the
# version this tmkms needs. An install into a fresh prefix (cmake --install) finds its
# modules in PREFIX/lib/tmkms.
set -uo pipefail
src="$TMKMS_SOURCE_DIR"
work=$(mktemp -d)
# shellcheck source=../lib/kms.sh
source "$src/tests/lib/kms.sh"
trap kms_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
modules="$TMKMS_BUILD_DIR/tests/modules"

kms_setup "$work" mod-chain || exit 1
cp "$work/tmkms.toml" "$work/plain.toml"
mport=$(free_port)
{ cat "$work/plain.toml"; printf '\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$mport"; } >"$work/metrics.toml"
# No etcd: opening the backend makes no request, so tmkms starts (and would refuse to sign).
{ cat "$work/plain.toml"; printf '\n[ha]\nbackend = "etcd"\nendpoints = ["http://127.0.0.1:1"]\ninstance = "k0"\n'; } \
  >"$work/ha.toml"

# maps_of CONFIG: starts tmkms on CONFIG, waits for its chain to be loaded, copies the
# files it maps into $work/maps, stops it.
maps_of() {
  local log=$work/$1.log
  "$tmkms" start -c "$work/$1.toml" >"$log" 2>&1 &
  local pid=$!
  kms_pids+=("$pid")
  wait_for 100 grep -q "consensus key" "$log" || { bad "$1: tmkms did not load its chain: $(cat "$log")"; }
  sleep 0.3 # the connection thread and the status socket
  awk 'NF >= 6 { print $6 }' "/proc/$pid/maps" | sort -u >"$work/maps"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
}

maps_of plain
for lib in libcurl libmicrohttpd libsystemd tmkms-ha.so tmkms-metrics.so; do
  grep -q "$lib" "$work/maps" && bad "without [ha] and [metrics], tmkms maps $lib: $(grep "$lib" "$work/maps")"
done
grep -q "libsodium" "$work/maps" || bad "the maps were not read (no libsodium in them): $(cat "$work/maps")"
# With NOTIFY_SOCKET (nobody listening: the notifications fail, tmkms serves on).
NOTIFY_SOCKET=$work/notify.sock maps_of plain
grep -q "libsystemd" "$work/maps" || bad "NOTIFY_SOCKET set, but libsystemd is not mapped"

maps_of metrics
for lib in tmkms-metrics.so libmicrohttpd; do grep -q "$lib" "$work/maps" || bad "[metrics]: $lib not mapped"; done
grep -q "libcurl" "$work/maps" && bad "[metrics] alone maps libcurl"
maps_of ha
for lib in tmkms-ha.so libcurl; do grep -q "$lib" "$work/maps" || bad "[ha]: $lib not mapped"; done
grep -q "libmicrohttpd" "$work/maps" && bad "[ha] alone maps libmicrohttpd"

# expect_error NAME WANT... : tmkms start on ha.toml (env set by the caller) exits 1 with a
# message holding every WANT, and loads no key before it.
expect_error() {
  local name=$1 rc
  shift
  "$tmkms" start -c "$work/${config:-ha}.toml" >"$work/$name.log" 2>&1
  rc=$?
  [[ $rc -eq 1 ]] || bad "$name: exit $rc, want 1: $(cat "$work/$name.log")"
  local want
  for want in "$@"; do
    grep -qF -- "$want" "$work/$name.log" || bad "$name: no '$want' in: $(cat "$work/$name.log")"
  done
  grep -q "consensus key" "$work/$name.log" && bad "$name: a key was loaded before the module error"
}

TMKMS_MODULE_DIR=$work/none expect_error missing "$work/ha.toml: [ha] is configured but its module tmkms-ha.so is missing" \
  "looked for $work/none/tmkms-ha.so" "No such file or directory"
TMKMS_MODULE_DIR=$work/none config=metrics expect_error missing-metrics "[metrics] is configured" \
  "$work/none/tmkms-metrics.so" "No such file or directory"
TMKMS_MODULE_DIR=$modules/version expect_error version \
  "[ha]: $modules/version/tmkms-ha.so is a module of version 2, this tmkms needs version 1"
TMKMS_MODULE_DIR=$modules/build expect_error build \
  "[ha]: $modules/build/tmkms-ha.so was built for tmkms 0.0.0+other, this is tmkms"
TMKMS_MODULE_DIR=$modules/symbol expect_error symbol \
  "[ha]: $modules/symbol/tmkms-ha.so is not a tmkms module of version 1" "tmkms_module_ha_v1"
TMKMS_MODULE_DIR=$modules/unresolved expect_error unresolved \
  "[ha]: cannot load the module $modules/unresolved/tmkms-ha.so" "tm_module_test_no_such_function"

# tmkms ha status needs the module too.
TMKMS_MODULE_DIR=$work/none "$tmkms" ha status -c "$work/ha.toml" >"$work/ha-status.log" 2>&1
rc=$?
[[ $rc -eq 1 ]] || bad "ha status without its module: exit $rc, want 1"
grep -qF "[ha] is configured but its module tmkms-ha.so is missing" "$work/ha-status.log" ||
  bad "ha status without its module: $(cat "$work/ha-status.log")"

# A copy of tmkms with no lib/tmkms beside it looks there, then in the install directory.
mkdir -p "$work/copy/bin"
cp "$tmkms" "$work/copy/bin/tmkms"
"$work/copy/bin/tmkms" start -c "$work/ha.toml" >"$work/copy.log" 2>&1
grep -qF "looked for $work/copy/lib/tmkms/tmkms-ha.so, /" "$work/copy.log" ||
  bad "a copy without modules: $(cat "$work/copy.log")"

# An install into a fresh prefix finds its modules (the ../lib/tmkms beside bin/tmkms).
if cmake --install "$TMKMS_BUILD_DIR" --prefix "$work/prefix" >"$work/install.log" 2>&1; then
  ls "$work"/prefix/lib*/tmkms/tmkms-ha.so "$work"/prefix/lib*/tmkms/tmkms-metrics.so >/dev/null 2>&1 ||
    bad "cmake --install did not install the modules: $(cat "$work/install.log")"
  tmkms_saved=$tmkms
  tmkms=$work/prefix/bin/tmkms
  maps_of metrics
  grep -q "$work/prefix/lib.*/tmkms/tmkms-metrics.so" "$work/maps" || bad "the installed tmkms did not load its module"
  tmkms=$tmkms_saved
else
  bad "cmake --install: $(cat "$work/install.log")"
fi

((failed == 0)) || { echo "$failed failure(s)"; exit 1; }
echo "modules: ok"
