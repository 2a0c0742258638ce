#!/usr/bin/env bash
# CometBFT v0.40 itself as the node: its privval SignerListenerEndpoint + SignerClient
# (tests/go/privval-harness) drive tmkms over a Unix socket: ping, pubkey, votes with and
# without extensions, proposals, repeats, timestamp-only changes and every refusal, each
# verified with CometBFT's own sign bytes and verification.
# labels: cometbft
# timeout: 600
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_peers || exit 1
kms_setup "$work" harness-chain-v040 || exit 1
"$peers/privval-harness-v040" -socket "$work/node.sock" -chain-id harness-chain-v040 \
  -pubkey "$(kms_pubkey_b64 "$work")" >"$work/harness.out" 2>&1 &
harness=$!
wait_for 100 test -S "$work/node.sock" || { echo "harness did not listen"; cat "$work/harness.out"; exit 1; }
kms_start "$work"
wait "$harness"
rc=$?
cat "$work/harness.out"
if [[ $rc -ne 0 ]]; then
  echo "--- tmkms log"; tail -50 "$work/tmkms.log"
fi
exit $rc
