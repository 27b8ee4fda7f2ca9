#!/usr/bin/env bash
# Install the second end-to-end Matrix client, e2e/jsclient (matrix-js-sdk
# with its Rust crypto, matrix-sdk-crypto-wasm), from the npm registry:
# `npm ci` from the committed package-lock.json (exact pinned versions).
# Idempotent, non-interactive: does nothing when node_modules was installed
# from the same package-lock.json and loads.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/e2e/jsclient"
NODE="${E2E_NODE:-node}"
log() { echo "install-js-client: $*" >&2; }

if ! command -v "$NODE" >/dev/null 2>&1; then
  log "$NODE not found: install Node.js 20 or newer (Debian 13: apt-get install nodejs npm; Debian 12 ships 18, too old: use the Node.js packages of nodesource.com), or set E2E_NODE"
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  log "npm not found: install npm (Debian: apt-get install npm; it comes with the Node.js tarballs and nodesource packages)"
  exit 1
fi
major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  log "Node.js $("$NODE" --version) is too old: matrix-js-sdk 36 needs Node.js 20 or newer"
  exit 1
fi

stamp="$DIR/node_modules/.bizbots-lock.sha256"
want="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
loads() {
  (cd "$DIR" && "$NODE" --input-type=module -e \
    'await import("matrix-js-sdk"); const w = await import("@matrix-org/matrix-sdk-crypto-wasm"); await w.initAsync();') >/dev/null 2>&1
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && loads; then
  log "e2e/jsclient already installed from this package-lock.json"
  exit 0
fi
log "npm ci in e2e/jsclient ..."
(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
loads || { log "installed, but node cannot load matrix-js-sdk and matrix-sdk-crypto-wasm from $DIR"; exit 1; }
echo "$want" >"$stamp"
log "matrix-js-sdk and matrix-sdk-crypto-wasm installed in e2e/jsclient/node_modules"
