#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian machine, then builds
# the test peers (CometBFT from the Go module proxy, the Node.js peers from the npm
# registry). Idempotent: packages already present are not touched, `apt-get update` runs
# at most once per call, built peers are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

missing=()
while read -r pkg; do
  [[ -z $pkg || $pkg == \#* ]] && continue
  # golang-go is only a fallback when no Go toolchain is on the PATH already.
  if [[ $pkg == golang-go ]] && { command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]]; }; then
    continue
  fi
  # nodejs/npm likewise: a Node.js already on the PATH (e.g. NodeSource's, which bundles
  # npm and conflicts with Debian's npm package) is used as it is.
  if [[ $pkg == nodejs || $pkg == npm ]] && command -v "${pkg/nodejs/node}" >/dev/null 2>&1; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done <"$here/debian-packages.txt"

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The AWS SDK for JavaScript, an independent KMS client for the kms-emulator tests (npm,
# pinned by tests/node-aws/package-lock.json).
if [[ -x $here/setup-node-aws.sh ]]; then
  "$here/setup-node-aws.sh"
fi

# Test peers built from the Go module proxy (pinned versions), if the script exists.
if [[ -x $here/setup-go-peers.sh ]]; then
  "$here/setup-go-peers.sh"
fi

# Node.js test peers from the npm registry (pinned by tests/node/package-lock.json).
if [[ -x $here/setup-node-peers.sh ]]; then
  "$here/setup-node-peers.sh"
fi
