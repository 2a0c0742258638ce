# The body of tests/integration/cometbft_privval_v0XX.sh (sourced; needs $version = v038
# or v040). CometBFT's own privval node side (tests/go/privval-harness, built by
# scripts/setup-go-peers.sh) drives tmkms over a Unix socket:
#   1. reference run: the harness against CometBFT's own FilePV signer, so the checks
#      are known to hold for the reference implementation;
#   2. tmkms: keygen, state init, the harness listens, tmkms dials in; full session;
#   3. reconnect: the harness exits and a second one listens on the same socket at later
#      heights; tmkms must dial again and serve it;
#   4. tmkms exits with status 0 on SIGTERM.
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
harness=$peers/privval-harness-$version
chain=harness-chain-$version
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# run_harness NAME ARGS...: one harness session, its output indented in ours.
run_harness() {
  local name=$1; shift
  echo "--- $name"
  "$harness" -chain-id "$chain" "$@" >"$work/$name.out" 2>&1
  local rc=$?
  sed 's/^/    /' "$work/$name.out"
  return $rc
}

run_harness reference -socket "$work/ref.sock" -reference "$work/reference-pv" ||
  fail "the harness fails against CometBFT's own FilePV: the harness is wrong"

kms_setup "$work" "$chain" || { echo "FAIL tmkms setup"; exit 1; }
pub=$(kms_pubkey_b64 "$work")
[[ -n $pub ]] || { echo "FAIL no base64 key from tmkms pubkey"; exit 1; }

# The harness listens first (as a node does); tmkms dials it, retrying until it is there.
run_harness session -socket "$work/node.sock" -pubkey "$pub" -height 100 &
session=$!
kms_pids+=("$session")
wait_for 100 test -S "$work/node.sock" || echo "(the harness socket is slow to appear)"
kms_start "$work"
wait "$session" || fail "session against tmkms"

if kill -0 "$kms_pid" 2>/dev/null; then
  run_harness reconnect -socket "$work/node.sock" -pubkey "$pub" -height 1000 ||
    fail "second session (tmkms reconnecting to a new listener)"
else
  fail "tmkms exited during the session"
fi

if kill -0 "$kms_pid" 2>/dev/null; then
  kill -TERM "$kms_pid"
  rc=0
  wait "$kms_pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "tmkms exited with status $rc on SIGTERM (want 0)"
fi
kms_pids=()

if ((failures)); then
  echo "--- tmkms log (last 60 lines)"
  tail -60 "$work/tmkms.log"
  echo "0 passed, $failures failed"
  exit 1
fi
echo "--- tmkms log: $(grep -c ' refused ' "$work/tmkms.log") refusals logged"
echo "1 passed, 0 failed"
