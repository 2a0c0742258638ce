#!/usr/bin/env bash
# validator-sim as a network node, once per transport (tcp:// Secret Connection, noise://
# libp2p Noise): it listens with its own identity key, tmkms dials it with the node's ID
# pinned, and the simulator's basic, guard, storm and oversize scenarios run through the
# encrypted channel with every signature recorded and checked for double signs. The
# simulator serves only the KMS whose ID it was told: a second tmkms with another identity
# key is refused and logged.
# labels: e2e;secret-connection;noise
# timeout: 300
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
sim=$TMKMS_BUILD_DIR/bin/validator-sim
work=$(mktemp -d)
trap kms_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

for scheme in tcp noise; do
  id_kind="node ID"
  [[ $scheme == noise ]] && id_kind="peer ID"
  dir=$work/$scheme
  chain=$scheme-sim-chain
  max=100000000
  kms_setup "$dir" "$chain" || exit 1
  kms_id=$("$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" | sed -n "s/^$id_kind: //p")
  "$tmkms" softsign keygen -t identity "$dir/node-identity.key" >/dev/null || exit 1
  port=$(free_port)
  heights=40
  [[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=2000
  "$sim" --listen "$scheme://127.0.0.1:$port" --identity-key "$dir/node-identity.key" --expect-kms-id "$kms_id" \
    --node-id-file "$dir/node-id" --chain-id "$chain" --scenario basic,guard,storm,oversize --heights "$heights" \
    --max-height "$max" --expect-pubkey "$(kms_pubkey_b64 "$dir")" --record "$dir/record" >"$dir/sim.log" 2>&1 &
  sim_pid=$!
  kms_pids+=("$sim_pid")
  wait_for 100 test -s "$dir/node-id" || { bad "validator-sim did not listen"; cat "$dir/sim.log"; exit 1; }
  node_id=$(cat "$dir/node-id")
  sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"$scheme://$node_id@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"\nmax_height = \"$max\"|" "$dir/tmkms.toml"

  # An intruder: a second tmkms with the same consensus key but another identity. The node
  # must refuse it and keep waiting for the allowed one.
  intr=$dir-intruder
  mkdir -p "$intr"
  cp -a "$dir/secrets" "$dir/state" "$intr/"
  rm "$intr/secrets/identity.key"
  "$tmkms" softsign keygen -t identity "$intr/secrets/identity.key" >/dev/null
  sed "s|$dir|$intr|g" "$dir/tmkms.toml" >"$intr/tmkms.toml"
  "$tmkms" start -c "$intr/tmkms.toml" >"$intr/tmkms.log" 2>&1 &
  intr_pid=$!
  kms_pids+=("$intr_pid")
  if wait_for 100 grep -q "refusing KMS" "$dir/sim.log"; then
    ok "$scheme: validator-sim refuses a KMS whose $id_kind is not the expected one"
  else
    bad "$scheme: the intruder was not refused"
  fi
  kill -TERM "$intr_pid"; wait "$intr_pid" 2>/dev/null

  kms_start "$dir"
  if wait "$sim_pid"; then ok "$scheme: basic, guard, storm and oversize scenarios"; else bad "$scheme: validator-sim scenarios"; fi
  sed -n '/^validator-sim summary/,$p' "$dir/sim.log" | sed 's/^/    /' | head -20
  grep -q "KMS $kms_id authenticated" "$dir/sim.log" && ok "$scheme: the node authenticated tmkms as $kms_id" ||
    bad "$scheme: no authentication line for $kms_id"
  if "$sim" --check-record "$dir/record" >"$dir/check.out"; then
    ok "$scheme: record: $(head -1 "$dir/check.out")"
  else
    bad "$scheme: record check"; cat "$dir/check.out"
  fi
  grep -q "not pinned" "$dir/tmkms.log" && bad "$scheme: tmkms warned about a missing pin"
  kill -TERM "$kms_pid"
  if wait "$kms_pid"; then ok "$scheme: tmkms exits cleanly on SIGTERM"; else bad "$scheme: tmkms exit status on SIGTERM"; fi
done
if ((failed)); then
  for d in "$work"/tcp "$work"/noise; do
    echo "--- $d: validator-sim"; tail -30 "$d/sim.log"
    echo "--- $d: tmkms"; tail -20 "$d/tmkms.log"
  done
fi
check_summary
