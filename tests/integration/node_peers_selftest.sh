#!/usr/bin/env bash
# The Node.js peers checked without tmkms (tests/node/selftest.mjs): Merlin against the
# merlin crate's vector, the Secret Connection key schedule against CometBFT's golden HKDF
# vectors, sc-node.mjs against a Secret Connection dialer, noise-node.mjs against
# @chainsafe/libp2p-noise's own initiator, and every hostile mode refused for its reason.
# labels: node;secret-connection;noise
# timeout: 120
set -u
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
work=$(mktemp -d)
trap kms_cleanup EXIT
ensure_node_peers || exit 1
node "$node_dir/selftest.mjs" --shared "$TMKMS_SHARED_DIR"
