#!/usr/bin/env bash
# Builds the Go test peers once, from the Go module proxy, at pinned versions, into
# ${TMKMS_PEERS_DIR:-<repo>/.peers}:
#   privval-harness-v038  tests/go/privval-harness on CometBFT v0.38.26 (go.mod)
#   privval-harness-v040  the same source on CometBFT v0.40.0 (go.v040.mod), with -tags noise
#                         (noise_v040.go: the -noise mode on v0.40's NoiseListener)
#   cometbft              the CometBFT node v0.38.26, for the single-validator chain tests
#   cometbft-v040         the CometBFT node v0.40.0 (tcp:// and noise:// against a real node)
# A stamp per peer (NAME.stamp) records the pinned version, a hash of the sources and the
# Go version it was built with; a peer whose stamp matches is not rebuilt. Concurrent runs
# (tests call this when a peer is missing) are serialized with a lock.
# Needs only Go (>= 1.25, for v0.40) and the Go module proxy as the machine has it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${TMKMS_PEERS_DIR:-$root/.peers}
harness=$root/tests/go/privval-harness
COMETBFT_NODES=("cometbft v0.38.26" "cometbft-v040 v0.40.0")

if ! command -v go >/dev/null 2>&1; then
  export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null 2>&1 || { echo "setup-go-peers: Go is not installed" >&2; exit 1; }
# Versions as pinned in go.mod/go.sum; at most 2 parallel compile jobs (2-core machines).
export GOFLAGS="-mod=mod -buildvcs=false -p=2"
export GOTOOLCHAIN=local
gover=$(go env GOVERSION)

mkdir -p "$peers"
exec 9>"$peers/.lock"
flock 9

# up_to_date NAME STAMP: NAME exists and was built from STAMP.
up_to_date() { [[ -x $peers/$1 && -f $peers/$1.stamp && $(cat "$peers/$1.stamp") == "$2" ]]; }

# The CometBFT version a harness go.mod pins.
# ("require github.com/cometbft/cometbft vX" or a line of a "require (" block).
pinned() {
  awk '$1 == "require" && $2 == "github.com/cometbft/cometbft" {print $3; exit}
       $1 == "github.com/cometbft/cometbft" {print $2; exit}' "$harness/$1"
}

for v in v038 v040; do
  modfile=go.mod tags=""
  [[ $v == v040 ]] && modfile=go.v040.mod tags=noise
  name=privval-harness-$v
  version=$(pinned "$modfile")
  sum=${modfile%.mod}.sum
  stamp="cometbft $version $(cat "$harness"/*.go "$harness/$modfile" "$harness/$sum" | sha256sum | cut -c1-16) $gover${tags:+ tags=$tags}"
  if up_to_date "$name" "$stamp"; then
    echo "peer $name (CometBFT $version): up to date"
    continue
  fi
  start=$SECONDS
  rm -f "$peers/$name.stamp"
  (cd "$harness" && go build -modfile="$modfile" -tags="$tags" -o "$peers/$name.tmp" .)
  mv -f "$peers/$name.tmp" "$peers/$name"
  echo "$stamp" >"$peers/$name.stamp"
  echo "peer $name (CometBFT $version): built in $((SECONDS - start)) s"
done

for node in "${COMETBFT_NODES[@]}"; do
  read -r name version <<<"$node"
  stamp="cometbft $version $gover"
  if up_to_date "$name" "$stamp"; then
    echo "peer $name (CometBFT node $version): up to date"
    continue
  fi
  start=$SECONDS
  rm -f "$peers/$name.stamp"
  tmpbin=$(mktemp -d "$peers/.gobin.XXXXXX")
  # Built as its own module (go install pkg@version), with the dependencies CometBFT pins.
  GOFLAGS="-buildvcs=false -p=2" GOBIN="$tmpbin" go install "github.com/cometbft/cometbft/cmd/cometbft@$version"
  mv -f "$tmpbin/cometbft" "$peers/$name"
  rmdir "$tmpbin"
  echo "$stamp" >"$peers/$name.stamp"
  echo "peer $name (CometBFT node $version): built in $((SECONDS - start)) s"
done
