#!/usr/bin/env bash
# `make demo`: bizbots behind a throw-away Dendrite homeserver on 127.0.0.1.
#
# Builds what it needs (Dendrite via scripts/build-dendrite.sh, cached in
# .cache/; bizbots into .cache/bin/bizbots), runs `bizbots init` into the demo
# dir, starts Dendrite and `bizbots serve`, creates a customer account and a
# staff account (already in the pizza bot's kitchen room and the support
# bot's help-desk room) and prints how to log in as either with any Matrix
# client. Ctrl-C stops everything.
#
# Environment:
#   DEMO_SMOKE=1     instead of waiting, run e2e/client.py once against
#                    @echo:localhost and exit 0 (ok) or 1 (failed)
#   DEMO_DIR=...     demo dir (default .cache/demo; emptied at each start)
#   DEMO_HS_PORT=N   homeserver port (default 8008 if free, else a free one)
#   DEMO_AS_PORT=N   bizbots appservice port (default a free one)
#   DEMO_USER=demo DEMO_PASSWORD=bizbots-demo   the customer account
#   DEMO_STAFF_USER=staff DEMO_STAFF_PASSWORD=bizbots-staff   the staff account
#   DEMO_VERBOSE=1   copy bizbots' and Dendrite's logs to the terminal
#   BIZBOTS_BIN=...  use this bizbots binary instead of building ./cmd/bizbots
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "demo: $*" >&2; }

GO="${GO:-go}"
command -v "$GO" >/dev/null 2>&1 || GO=/usr/local/go/bin/go

"$ROOT/scripts/build-dendrite.sh" >/dev/null

mkdir -p "$ROOT/.cache/bin"
if [ -n "${BIZBOTS_BIN:-}" ]; then
  BIN="$BIZBOTS_BIN"
  log "using bizbots binary $BIN"
else
  BIN="$ROOT/.cache/bin/bizbots"
  log "building bizbots -> $BIN"
  "$GO" build -tags goolm -o "$BIN" ./cmd/bizbots
fi
log "building the demo runner -> .cache/bin/bizbots-demo"
"$GO" build -o "$ROOT/.cache/bin/bizbots-demo" ./e2e/cmd/bizbots-demo

args=(-bizbots "$BIN")
if [ "${DEMO_SMOKE:-0}" = 1 ]; then
  "$ROOT/scripts/install-client-deps.sh"
  args+=(-smoke)
fi

DIR="${DEMO_DIR:-$ROOT/.cache/demo}"
case "$DIR" in
  ""|"/"|"$HOME"|"$ROOT") log "refusing to use DEMO_DIR=$DIR"; exit 2 ;;
esac
if [ -e "$DIR" ]; then
  log "emptying $DIR (a fresh homeserver each run)"
  rm -rf "$DIR"
fi
mkdir -p "$DIR"
args+=(-dir "$DIR")
[ -n "${DEMO_HS_PORT:-}" ] && args+=(-hs-port "$DEMO_HS_PORT")
[ -n "${DEMO_AS_PORT:-}" ] && args+=(-as-port "$DEMO_AS_PORT")
[ -n "${DEMO_USER:-}" ] && args+=(-user "$DEMO_USER")
[ -n "${DEMO_PASSWORD:-}" ] && args+=(-password "$DEMO_PASSWORD")
[ -n "${DEMO_STAFF_USER:-}" ] && args+=(-staff-user "$DEMO_STAFF_USER")
[ -n "${DEMO_STAFF_PASSWORD:-}" ] && args+=(-staff-password "$DEMO_STAFF_PASSWORD")
[ "${DEMO_VERBOSE:-0}" = 1 ] && args+=(-v)

# exec: the runner gets Ctrl-C itself and stops bizbots, then Dendrite
# (they run in their own process groups, so the terminal's SIGINT reaches
# only the runner and shutdown happens in order).
exec "$ROOT/.cache/bin/bizbots-demo" "${args[@]}"
