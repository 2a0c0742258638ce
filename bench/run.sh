#!/usr/bin/env bash
# make bench: tmkms against bench_sign (the node side) over each transport (unix, tcp,
# noise) in one run, each against its own floor measured in the same run, in the same
# state directory.
# BENCH_N sets the number of signatures per transport (default 5000).
set -euo pipefail
build=${1:-build}
n=${BENCH_N:-5000}
. "$(dirname "$0")/lib.sh"
export BENCH_SIGN=$build/bin/bench_sign
work=$(mktemp -d "${TMPDIR:-/tmp}/tmkms-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# unix:// (plain privval, the node's own socket)
setup_ours "$build" "$work/unix"
echo "state directory: $work (${n} signatures per transport; $(stat -f -c %T "$work") filesystem)"
bench_against tmkms "$work/unix" "$n" "$build/bin/tmkms" start -c "$work/unix/tmkms.toml" --log-level warn | tee "$work/unix.out"

# tcp:// (Secret Connection) and noise:// (libp2p Noise), the node's ID pinned
for t in tcp noise; do
  dir=$work/$t
  setup_ours "$build" "$dir"
  id_kind="node ID"
  [[ $t == noise ]] && id_kind="peer ID"
  node_id=$("$build/bin/tmkms" softsign keygen -t identity "$dir/node-identity.key" | sed -n "s/^$id_kind: //p")
  "$build/bin/tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >/dev/null
  port=$(free_port)
  sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"$t://$node_id@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"|" "$dir/tmkms.toml"
  echo
  BENCH_NET=$t BENCH_LISTEN=127.0.0.1:$port bench_against tmkms "$dir" "$n" "$build/bin/tmkms" start -c "$dir/tmkms.toml" \
    --log-level warn | tee "$work/$t.out"
done

echo
echo "summary (p50 against each transport's own floor, one run):"
printf '  %-6s %10s %10s %10s %8s %12s %9s\n' transport p50_us p99_us floor_us ratio handshake_us rss_mib
for t in unix tcp noise; do
  line=$(grep '^result ' "$work/$t.out")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  p50=$(get p50_us) floor=$(get floor_us)
  printf '  %-6s %10s %10s %10s %8.2f %12s %9s\n' "$t" "$p50" "$(get p99_us)" "$floor" \
    "$(python3 -c "print($p50/$floor)")" "$(get handshake_us)" "$(get rss_mib)"
done
