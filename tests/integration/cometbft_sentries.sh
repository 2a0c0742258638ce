#!/usr/bin/env bash
# Sentries: one tmkms chain served to two nodes at once (two [[validator]] entries, two
# sockets). Each node is CometBFT's own privval client (tests/go/privval-harness in sentry
# mode) asking, concurrently, for prevotes and precommits of one of two blocks chosen at
# random per height, as sentries that saw different proposals would. Every signature
# either received is recorded; across both records no height/round/type may carry two
# different blocks or two different signatures, and both sentries must get signatures.
# labels: cometbft;sentry
# timeout: 300
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
heights=150
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=2000
chain=sentry-chain
kms_setup "$work" "$chain" || exit 1
# A second [[validator]] of the same chain: the second sentry's socket.
cat >>"$work/tmkms.toml" <<TOML

[[validator]]
chain_id = "$chain"
addr = "unix://$work/node2.sock"
TOML
pub=$(kms_pubkey_b64 "$work")
harness=$peers/privval-harness-v038
for i in 1 2; do
  sock=$work/node.sock
  [[ $i == 2 ]] && sock=$work/node2.sock
  "$harness" -socket "$sock" -chain-id "$chain" -pubkey "$pub" -height 1 -sentry-heights "$heights" \
    -sentry-seed "$i$i$i" -sentry-record "$work/record$i" >"$work/sentry$i.out" 2>&1 &
  eval "sentry$i=$!"
  kms_pids+=("$!")
done
wait_for 100 test -S "$work/node2.sock" || echo "(sentry sockets slow to appear)"
kms_start "$work"
failed=0
wait "$sentry1" || failed=1
wait "$sentry2" || failed=1
cat "$work/sentry1.out" "$work/sentry2.out"
python3 "$TMKMS_SOURCE_DIR/tests/lib/check_sentry_records.py" "$work/record1" "$work/record2" || failed=1
if ((failed)); then
  echo "--- tmkms log (tail)"; tail -30 "$work/tmkms.log"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
