#!/usr/bin/env bash
# .ci/node.sh <major> <script> [args…]: runs a Node script on that major of Node, here and in CI.
# The binary comes from the npm registry (the node-<platform>-<arch> package), installed once into .ci/node<major>/,
# outside the project's dependency tree (its node_modules/ is git-ignored); delete that directory to take a newer one.
set -euo pipefail
cd "$(dirname "$0")/.."
major="$1"
shift
package="node-$(node -p 'process.platform + "-" + process.arch')"
dir=".ci/node${major}"
bin="${dir}/node_modules/${package}/bin/node"
if [ ! -x "$bin" ]; then
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock "${package}@${major}" >&2
fi
echo "Node $("$bin" -v) ($bin)" >&2
exec "$bin" "$@"
