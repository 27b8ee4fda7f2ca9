#!/usr/bin/env bash
# Build the pinned Dendrite homeserver (tools/dendrite/go.mod) into
# .cache/dendrite-<version>/bin for the end-to-end tests and `make demo`.
#
# Idempotent: skips the build when the binaries exist and were built from
# the same tools/dendrite/go.mod + go.sum with the same Go toolchain.
# Needs cgo (SQLite) and a C compiler. Cold on 2 busy cores it takes 3-9
# minutes (about 1 000 packages, the module download first); progress is
# printed every 10 s: packages compiled, of how many, and a rough estimate
# of the time left. With the Go build cache warm it takes seconds.
#
#   scripts/build-dendrite.sh           # build if needed
#   FORCE=1 scripts/build-dendrite.sh   # rebuild
#
# Prints the bin dir on its last line of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/dendrite"
VERSION="$(awk '$1 == "require" && $2 == "github.com/matrix-org/dendrite" {print $3} $1 == "github.com/matrix-org/dendrite" {print $2}' "$TOOLS/go.mod" | head -n1)"
if [ -z "$VERSION" ]; then
  echo "build-dendrite: cannot find the github.com/matrix-org/dendrite version in $TOOLS/go.mod" >&2
  exit 1
fi
OUT="$ROOT/.cache/dendrite-$VERSION"
BIN="$OUT/bin"
CMDS=(dendrite create-account generate-keys generate-config)

log() { echo "build-dendrite: $*" >&2; }

GO="${GO:-go}"
if ! command -v "$GO" >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else log "go not found"; exit 1; fi
fi

stamp="$( { cat "$TOOLS/go.mod" "$TOOLS/go.sum"; "$GO" version; } | sha256sum | cut -d' ' -f1)"

have_all=1
for c in "${CMDS[@]}"; do
  [ -x "$BIN/$c" ] || have_all=0
done
if [ "$have_all" = 1 ] && [ "${FORCE:-0}" != 1 ] && [ "$(cat "$OUT/stamp" 2>/dev/null || true)" = "$stamp" ]; then
  log "Dendrite $VERSION already built in $BIN (FORCE=1 to rebuild)"
  echo "$BIN"
  exit 0
fi

if ! command -v "${CC:-gcc}" >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
  log "no C compiler found; Dendrite needs cgo for SQLite (apt-get install -y gcc libc6-dev)"
  exit 1
fi

log "building Dendrite $VERSION ($("$GO" version | cut -d' ' -f3), cgo on) into $BIN ..."
start=$(date +%s)
tmp="$OUT/bin.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
pkgs=()
for c in "${CMDS[@]}"; do pkgs+=("github.com/matrix-org/dendrite/cmd/$c"); done
(
  cd "$TOOLS"
  export CGO_ENABLED=1 GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly"
  log "downloading modules ..."
  "$GO" mod download
  total="$("$GO" list -deps "${pkgs[@]}" | wc -l)"
  # `go build -v` names each package as it is compiled (cached ones are
  # not named): count them and report every 10 s.
  "$GO" build -v -trimpath -o "$tmp/" "${pkgs[@]}" 2>&1 | awk -v total="$total" -v start="$(date +%s)" '
    /^(#|go: |[a-z].*\.go:)/ { print > "/dev/stderr"; next }   # errors pass through
    {
      n++
      now = systime()
      if (now - last >= 10) {
        last = now; el = now - start
        left = (n > 20) ? int(el * (total - n) / n) : -1
        msg = sprintf("build-dendrite: compiled %d of at most %d packages, %ds so far", n, total, el)
        if (left >= 0) msg = msg sprintf(", roughly %ds left", left)
        print msg > "/dev/stderr"
      }
    }'
  [ "${PIPESTATUS[0]}" = 0 ]
)
rm -rf "$BIN"
mv "$tmp" "$BIN"
trap - EXIT
echo "$stamp" > "$OUT/stamp"
log "built ${CMDS[*]} in $(( $(date +%s) - start ))s"
echo "$BIN"
