#!/usr/bin/env bash
# CometBFT v0.38 itself as the node: its privval SignerListenerEndpoint + SignerClient
# (tests/go/privval-harness) drive tmkms over a Unix socket: ping, pubkey, votes with and
# without extensions, proposals, repeats, timestamp-only changes and every refusal, each
# verified with CometBFT's own sign bytes and verification; first against CometBFT's own
# FilePV (reference run), then against tmkms, then again after tmkms reconnects.
# See tests/lib/cometbft_privval.sh.
# labels: cometbft
# timeout: 600
set -u
version=v038
source "$TMKMS_SOURCE_DIR/tests/lib/cometbft_privval.sh"
