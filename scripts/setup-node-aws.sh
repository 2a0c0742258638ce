#!/usr/bin/env bash
# Installs the AWS SDK for JavaScript v3 (@aws-sdk/client-kms, pinned by
# tests/node-aws/package-lock.json) from the npm registry with `npm ci` into
# tests/node-aws/node_modules (git-ignored): the independent KMS client of the kms-emulator
# tests. A stamp (hash of package.json + package-lock.json, Node and npm versions) skips a
# second run; concurrent runs are serialized with a lock. Needs Node.js >= 20 and npm;
# reads nothing from standard input.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/node-aws

command -v node >/dev/null 2>&1 || { echo "setup-node-aws: node is not installed" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup-node-aws: npm is not installed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || { echo "setup-node-aws: Node.js $(node --version) is too old (need >= 20)" >&2; exit 1; }

exec 9>"$dir/.setup.lock"
flock 9
stamp="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16) node $(node --version) npm $(npm --version 2>/dev/null)"
if [[ -f $dir/node_modules/.tmkms-stamp && $(cat "$dir/node_modules/.tmkms-stamp") == "$stamp" ]]; then
  echo "AWS SDK for JavaScript (tests/node-aws): up to date"
  exit 0
fi
start=$SECONDS
(cd "$dir" && CI=true npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
echo "$stamp" >"$dir/node_modules/.tmkms-stamp"
echo "AWS SDK for JavaScript (tests/node-aws): installed in $((SECONDS - start)) s"
