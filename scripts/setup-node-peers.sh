#!/usr/bin/env bash
# Installs the Node.js test peers' packages (tests/node: the Secret Connection and libp2p
# Noise node sides) from the npm registry with `npm ci`, exactly as package-lock.json pins
# them, into tests/node/node_modules (git-ignored). A stamp (node_modules/.tmkms-stamp:
# hash of package.json + package-lock.json, Node and npm versions) skips a second run
# (~0.1 s); concurrent runs (tests call this too) are serialized with a lock. Needs Node.js
# >= 20 and npm; nothing is read from standard input.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/node
peers=${TMKMS_PEERS_DIR:-$root/.peers}

command -v node >/dev/null 2>&1 || { echo "setup-node-peers: node is not installed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup-node-peers: npm is not installed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || { echo "setup-node-peers: Node.js $(node --version) is too old (need >= 20)" >&2; exit 1; }

mkdir -p "$peers"
exec 9>"$peers/.node-peers.lock"
flock 9

stamp="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16) node $(node --version) npm $(npm --version 2>/dev/null)"
if [[ -f $dir/node_modules/.tmkms-stamp && $(cat "$dir/node_modules/.tmkms-stamp") == "$stamp" ]]; then
  echo "node peers (tests/node): up to date"
  exit 0
fi
start=$SECONDS
# No install scripts run (none of the pinned packages needs one); CI=true keeps npm quiet.
(cd "$dir" && CI=true npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
echo "$stamp" >"$dir/node_modules/.tmkms-stamp"
echo "node peers (tests/node): installed in $((SECONDS - start)) s"
