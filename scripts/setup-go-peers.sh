#!/usr/bin/env bash
# Builds the Go test peers, once, into $TMKMS_PEERS_DIR (default <repo>/.peers):
#   bin/privval-harness-v038   node side of privval on CometBFT v0.38.26 (tests/go/privval-harness/v038)
#   bin/privval-harness-v040   the same source on CometBFT v0.40.0        (tests/go/privval-harness/v040)
#   bin/cometbft               the cometbft node v0.38.26, built from the v038 module (its `tool`)
# Each peer has a stamp file holding its pinned version and a hash of the sources it was
# built from; a peer whose stamp matches is not rebuilt. Concurrent calls are serialized
# with a lock, so tests may call this script too.
# Needs only a Go toolchain (>= 1.25) and the Go module proxy as the machine has it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
peers=${TMKMS_PEERS_DIR:-$root/.peers}
harness=$root/tests/go/privval-harness

if ! command -v go >/dev/null 2>&1; then
  export PATH=$PATH:/usr/local/go/bin
fi
if ! command -v go >/dev/null 2>&1; then
  echo "setup-go-peers: no Go toolchain (go) on PATH" >&2
  exit 1
fi

# Modules as pinned by go.mod/go.sum; at most 2 parallel build jobs (shared 2-core machines).
export GOFLAGS="-mod=mod -buildvcs=false -p=2"
export GOTOOLCHAIN=local

mkdir -p "$peers/bin" "$peers/stamps"
exec 9>"$peers/.lock"
flock 9

# build NAME VERSION MODULE_DIR PACKAGE
build() {
  local name=$1 version=$2 dir=$3 pkg=$4
  local out=$peers/bin/$name stamp=$peers/stamps/$name
  local want
  want="$version $(cat "$harness/main.go" "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
  if [[ -x $out && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "peer $name $version: up to date ($out)"
    return
  fi
  local t0=$SECONDS
  rm -f "$stamp"
  (cd "$dir" && go build -o "$out.tmp" "$pkg")
  mv -f "$out.tmp" "$out"
  echo "$want" >"$stamp"
  echo "peer $name $version: built in $((SECONDS - t0)) s ($out)"
}

# The pinned CometBFT version of a harness module, from its go.mod.
pinned() { (cd "$1" && go list -m -f '{{.Version}}' github.com/cometbft/cometbft); }

v038=$(pinned "$harness/v038")
v040=$(pinned "$harness/v040")
build privval-harness-v038 "$v038" "$harness/v038" .
build privval-harness-v040 "$v040" "$harness/v040" .
build cometbft "$v038" "$harness/v038" github.com/cometbft/cometbft/cmd/cometbft
