#!/usr/bin/env bash
# Install the Matrix client used by e2e/client.py: Debian's python3-matrix-nio
# (for /usr/bin/python3). Idempotent, non-interactive; safe with CI=true and
# no stdin. Does nothing when /usr/bin/python3 can already import nio.
set -euo pipefail

PY="${E2E_PYTHON:-/usr/bin/python3}"
log() { echo "install-client-deps: $*" >&2; }

if "$PY" -c 'import nio' >/dev/null 2>&1; then
  log "matrix-nio already importable by $PY"
  exit 0
fi
if [ "$PY" != /usr/bin/python3 ]; then
  log "$PY cannot import nio; this script only installs Debian's python3-matrix-nio for /usr/bin/python3"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found; install matrix-nio for $PY by other means"
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else log "not root and no sudo"; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
log "apt-get install python3-matrix-nio ..."
# An update first: on a fresh machine the package lists may be missing.
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends python3-matrix-nio </dev/null >/dev/null
"$PY" -c 'import nio' || { log "installed, but $PY still cannot import nio"; exit 1; }
log "matrix-nio installed for $PY"
