#!/usr/bin/env bash
# make bench: tmkms against bench_sign (the node side) over each transport (unix, tcp,
# noise) in one run, each against its own floor measured in the same run, in the same
# state directory; then the Nitro path (nitro): bench_sign against the simulated enclave
# through tmkms-nitro-helper's relay (scripts/simulate), against the unix floor plus the
# path's two extra Unix round trips, with the enclave's cold start and both processes' RSS.
# Right after the unix row, the HA row (ha): the same unix:// path to a tmkms with [ha]
# pointing at a throwaway single-member etcd (data dir in this run's temp dir), against the
# unix floor plus an etcd range read and an etcd transaction sampled in the same run.
# BENCH_N sets the number of signatures per transport (default 5000); BENCH_HA_N the HA
# row's (default: BENCH_N, at most 2000: each of its signatures and floor samples waits for
# two etcd requests, one of them an etcd WAL fsync, so a full BENCH_N would dominate the run).
# Last, the one-CPU pair (unix_1cpu, nitro_1cpu): the unix and nitro rows again with every
# process of the row (bench_sign, the signer, the simulated enclave, the emulators) pinned
# to one CPU, the one where a pwrite + fdatasync in the state directory completes fastest
# (the CPU that takes the storage interrupts). The nitro path hands each signature across
# four processes more than the unix path; on a virtual machine whose idle vCPUs halt, each
# hand-over to another, halted vCPU costs a wake-up of that vCPU, which the pair shows
# apart from the software path. BENCH_ROWS (words from: unix ha tcp noise nitro unix_1cpu
# nitro_1cpu; default all) runs only those rows.
set -euo pipefail
build=${1:-build}
n=${BENCH_N:-5000}
ha_n=${BENCH_HA_N:-$((n < 2000 ? n : 2000))}
want=" ${BENCH_ROWS:-unix ha tcp noise nitro unix_1cpu nitro_1cpu} "
wanted() { [[ $want == *" $1 "* ]]; }
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../tests/lib/etcd_cluster.sh"
export BENCH_SIGN=$build/bin/bench_sign
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tmkms-bench.XXXXXX")
cleanup() {
  # The simulations run in their own sessions: stop them, and a helper bench_against left.
  local row pid
  for row in nitro nitro_1cpu; do
    if [[ -d $work/$row/sim/pids ]]; then "$here/scripts/simulate" down --dir "$work/$row/sim" >/dev/null 2>&1 || true; fi
    if pid=$(cat "$work/$row/kms.pid" 2>/dev/null); then kill "$pid" 2>/dev/null || true; fi
  done
  ec_cleanup || true # (its wait reports the kill)
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; } # A / B, two decimals

echo "state directory: $work (${n} signatures per transport; $(stat -f -c %T "$work") filesystem)"
rows=()

# unix:// (plain privval, the node's own socket). LABEL DIR
unix_row() {
  setup_ours "$build" "$2"
  bench_against "$1" "$2" "$n" "$build/bin/tmkms" start -c "$2/tmkms.toml" --log-level warn | tee "$work/$1.out"
  rows+=("$1")
}
if wanted unix; then unix_row unix "$work/unix"; fi

# ha: unix:// again, to a tmkms with [ha] on a single-member etcd started here (loopback
# only, its data dir beside the state, so its WAL fsyncs hit the same filesystem). Each
# new signature: etcd range read + etcd txn (compare-and-swap of the chain's record) + the
# local pwrite/fdatasync. bench_sign --etcd-endpoint samples the etcd read and txn on a
# key of its own between the blocks, through tmkms's etcd client, for this row's floor.
if ! wanted ha; then
  :
elif command -v etcd >/dev/null; then
  hd=$work/ha
  setup_ours "$build" "$hd"
  ec_init "$hd/etcd" 1 && ec_start_cluster || { echo "ha: etcd did not start" >&2; exit 1; }
  etcd_url=${ec_client_urls[0]}
  cat >>"$hd/tmkms.toml" <<TOML

[ha]
backend = "etcd"
endpoints = ["$etcd_url"]
instance = "kms-1"
TOML
  echo
  echo "ha: tmkms with [ha] on a single-member etcd $(etcd --version | sed -n 's/^etcd Version: //p') at $etcd_url" \
    "(${ha_n} signatures)"
  BENCH_SIGN_ARGS="--etcd-endpoint $etcd_url" bench_against ha "$hd" "$ha_n" \
    "$build/bin/tmkms" start -c "$hd/tmkms.toml" --log-level warn | tee "$work/ha.out"
  # The size of the chain's record as etcd holds it (the floor's value is ETCD_VALUE_BYTES).
  record_bytes=$(python3 - "$etcd_url" <<'PY'
import base64, json, sys, urllib.request
body = json.dumps({"key": base64.b64encode(b"/tmkms/bench-chain").decode()}).encode()
kvs = json.load(urllib.request.urlopen(sys.argv[1] + "/v3/kv/range", body, timeout=5)).get("kvs", [])
print(len(base64.b64decode(kvs[0]["value"])) if kvs else "none")
PY
  ) || record_bytes=unknown
  echo "  ha     the chain's record in etcd (/tmkms/bench-chain): $record_bytes bytes"
  ec_cleanup || true # (its wait reports the kill)
  rows+=(ha)
else
  echo
  echo "ha: skipped, etcd is not installed (Debian package etcd-server)"
fi
# tcp:// (Secret Connection) and noise:// (libp2p Noise), the node's ID pinned
for t in tcp noise; do
  wanted "$t" || continue
  dir=$work/$t
  setup_ours "$build" "$dir"
  id_kind="node ID"
  [[ $t == noise ]] && id_kind="peer ID"
  node_id=$("$build/bin/tmkms" softsign keygen -t identity "$dir/node-identity.key" | sed -n "s/^$id_kind: //p")
  "$build/bin/tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >/dev/null
  port=$(free_port)
  sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"$t://$node_id@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"|" "$dir/tmkms.toml"
  echo
  BENCH_NET=$t BENCH_LISTEN=127.0.0.1:$port bench_against "$t" "$dir" "$n" "$build/bin/tmkms" start -c "$dir/tmkms.toml" \
    --log-level warn | tee "$work/$t.out"
  rows+=("$t")
done

# nitro: the node (bench_sign, unix://) <-> tmkms-nitro-helper start (relay, state file)
# <-> simulated vsock (Unix sockets) <-> tmkms-nitro-enclave-sim. scripts/simulate brings
# up everything but the helper (the enclave waits for its config); bench_against then
# starts the helper as the signer under test, so its cold start (helper started -> first
# signature: config push, unsealing through KMS, state load, relay) is measured like any
# signer's. The floor counts three Unix round trips: the node's, the relay's extra hop
# (node <-> helper <-> enclave) and the enclave's state persist/ack to the helper.
# LABEL; sets LABEL_up_ms and LABEL_enclave_rss.
nitro_row() {
  local label=$1 nd=$work/$1
  local sim=$nd/sim # short: it holds the simulated vsock's Unix sockets
  mkdir -p "$nd"
  echo
  local t0 up_ms
  t0=$(date +%s%N)
  "$here/scripts/simulate" up --dir "$sim" --build "$build" --chain-id bench-chain --no-helper \
    --address "unix://$nd/node.sock" >"$nd/simulate-up.log" 2>&1 || {
    echo "$label: scripts/simulate up failed:" >&2
    cat "$nd/simulate-up.log" >&2
    exit 1
  }
  up_ms=$((($(date +%s%N) - t0) / 1000000))
  (
    # shellcheck source=/dev/null
    . "$sim/env"
    echo "scripts/simulate up --no-helper (IMDS, KMS, key and policy via the AWS CLI, enclave, proxy, init): $up_ms ms"
    BENCH_SIGN_ARGS="--floor-round-trips 3" bench_against "$label" "$nd" "$n" \
      env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
      AWS_EC2_METADATA_SERVICE_ENDPOINT="$SIM_IMDS_URL" AWS_REGION="$AWS_REGION" \
      "$build/bin/tmkms-nitro-helper" start -c "$SIM_KMS_HOME/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" --log-level warn |
      tee "$work/$label.out"
  )
  # The enclave outlives the helper (it waits for the next one): its peak RSS, then stop.
  local rss
  rss=$(awk '/^VmHWM:/ {printf "%.2f", $2 / 1024}' "/proc/$(cat "$sim/pids/enclave.pid")/status")
  echo "  enclave peak RSS (VmHWM)         $rss MiB"
  "$here/scripts/simulate" down --dir "$sim" >/dev/null
  eval "${label}_up_ms=$up_ms ${label}_enclave_rss=$rss"
  rows+=("$label")
}
if wanted nitro; then nitro_row nitro; fi

# The one-CPU pair. The CPU: the fastest p50 of 200 pwrite + fdatasync in the state
# directory, pinned to each CPU this script may use in turn.
storage_cpu() {
  python3 - "$1" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "cpu-probe")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
page = b"\0" * 4096
best = None
for cpu in sorted(os.sched_getaffinity(0)):
    os.sched_setaffinity(0, {cpu})
    t = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        os.pwrite(fd, page, 0)
        os.fdatasync(fd)
        t.append(time.perf_counter_ns() - t0)
    p50 = sorted(t)[len(t) // 2] / 1000
    print(f"  cpu {cpu}: pwrite + fdatasync p50 {p50:.1f} us", file=sys.stderr)
    if best is None or p50 < best[1]:
        best = (cpu, p50)
os.close(fd)
os.unlink(path)
print(best[0])
PY
}
if wanted unix_1cpu || wanted nitro_1cpu; then
  echo
  echo "one CPU: the CPU where a durable write in $work completes fastest:"
  cpu=$(storage_cpu "$work")
  echo "unix_1cpu and nitro_1cpu: every process pinned to cpu $cpu"
  taskset -p -c "$cpu" $$ >/dev/null # inherited by everything this script starts from here
  if wanted unix_1cpu; then
    echo
    unix_row unix_1cpu "$work/unix_1cpu"
  fi
  if wanted nitro_1cpu; then nitro_row nitro_1cpu; fi
fi

echo
echo "summary (p50 against each transport's own floor, one run):"
printf '  %-10s %10s %10s %10s %10s %8s %12s %9s %13s\n' row p50_us p99_us sig_per_s floor_us ratio handshake_us \
  rss_mib cold_start_ms
for t in "${rows[@]}"; do
  line=$(grep '^result ' "$work/$t.out")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  p50=$(get p50_us) floor=$(get floor_us)
  printf '  %-10s %10s %10s %10s %10s %8.2f %12s %9s %13s\n' "$t" "$p50" "$(get p99_us)" "$(get sig_per_s)" "$floor" \
    "$(ratio "$p50" "$floor")" "$(get handshake_us)" "$(get rss_mib)" "$(get cold_start_ms)"
  eval "${t}_p50=$p50 ${t}_rt=$(get rt_us) ${t}_floor=$floor ${t}_cold=$(get cold_start_ms) ${t}_rss=$(get rss_mib)"
done
# NITRO_LABEL UNIX_LABEL: the nitro row's lines, against the unix row of the same placement.
nitro_summary() {
  local nl=$1 ul=$2 p50 floor rt
  eval "p50=\$${nl}_p50 floor=\$${nl}_floor rt=\$${nl}_rt"
  echo "$nl (rss_mib is the helper's; the enclave's is below):"
  printf '  floor %s us = unix floor of this row %.1f us + 2 extra Unix round trips of %s us\n' "$floor" \
    "$(python3 -c "print($floor - 2 * $rt)")" "$rt"
  printf '  p50 / own floor          %s\n' "$(ratio "$p50" "$floor")"
  if [[ " ${rows[*]} " == *" $ul "* ]]; then
    printf '  p50 / %-18s %s   (the issue'"'"'s target: <= 1.50; printed, not asserted)\n' \
      "$ul row p50" "$(ratio "$p50" "$(eval "echo \$${ul}_p50")")"
  fi
  printf '  peak RSS                 enclave %s MiB, helper %s MiB\n' "$(eval "echo \$${nl}_enclave_rss")" \
    "$(eval "echo \$${nl}_rss")"
  printf '  cold start               scripts/simulate up --no-helper %s ms; helper start -> first signature %s ms\n' \
    "$(eval "echo \$${nl}_up_ms")" "$(eval "echo \$${nl}_cold")"
}
# shellcheck disable=SC2154 # set by the eval above
{
  if [[ -s $work/ha.out ]]; then
    line=$(grep '^result ' "$work/ha.out")
    echo "ha (unix:// to tmkms with [ha], single-member etcd on loopback):"
    printf '  floor %s us = local floor %s us + etcd range p50 %s us + etcd txn p50 %s us\n' "$ha_floor" \
      "$(get local_floor_us)" "$(get etcd_range_us)" "$(get etcd_txn_us)"
    printf '  p50 / own floor          %s\n' "$(ratio "$ha_p50" "$ha_floor")"
    [[ -n ${unix_p50:-} ]] && printf '  p50 / unix row p50       %s   (printed, not asserted)\n' "$(ratio "$ha_p50" "$unix_p50")"
    printf '  record size              %s bytes in etcd (the floor'"'"'s txn writes 500)\n' "$record_bytes"
  fi
  for nl in nitro nitro_1cpu; do
    if [[ " ${rows[*]} " == *" $nl "* ]]; then nitro_summary "$nl" "${nl/nitro/unix}"; fi
  done
}
