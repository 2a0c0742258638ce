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
run_privval_harness v040
