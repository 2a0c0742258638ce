#!/usr/bin/env bash
# Builds the Go test peers once, from the Go module proxy, at pinned versions:
#   privval-harness-v038 / -v040: tests/go/privval-harness against CometBFT v0.38 / v0.40
#   cometbft: the CometBFT node, for the single-validator chain test
# into ${TMKMS_PEERS_DIR:-<repo>/.peers}. A stamp per peer records what it was built from,
# so a second run does nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${TMKMS_PEERS_DIR:-$root/.peers}
COMETBFT_NODE_VERSION=v0.38.26
mkdir -p "$peers"
if ! command -v go >/dev/null 2>&1; then
  export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null || { echo "setup-go-peers: Go is not installed" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:--mod=mod} -p=2"

# stamp NAME CONTENT: true when NAME was already built from CONTENT.
fresh() { [[ -x $peers/$1 && -f $peers/$1.stamp && $(cat "$peers/$1.stamp") == "$2" ]]; }

harness=$root/tests/go/privval-harness
for v in v038 v040; do
  modfile=go.mod
  [[ $v == v040 ]] && modfile=go.v040.mod
  key=$(cat "$harness/main.go" "$harness/$modfile" | sha256sum | cut -c1-16)
  if fresh "privval-harness-$v" "$key"; then
    echo "setup-go-peers: privval-harness-$v up to date"
    continue
  fi
  start=$SECONDS
  (cd "$harness" && go build -modfile="$modfile" -o "$peers/privval-harness-$v" .)
  echo "$key" >"$peers/privval-harness-$v.stamp"
  echo "setup-go-peers: built privval-harness-$v ($((SECONDS - start)) s)"
done

if fresh cometbft "$COMETBFT_NODE_VERSION"; then
  echo "setup-go-peers: cometbft $COMETBFT_NODE_VERSION up to date"
else
  start=$SECONDS
  GOBIN="$peers" go install "github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_NODE_VERSION"
  echo "$COMETBFT_NODE_VERSION" >"$peers/cometbft.stamp"
  echo "setup-go-peers: built cometbft $COMETBFT_NODE_VERSION ($((SECONDS - start)) s)"
fi
