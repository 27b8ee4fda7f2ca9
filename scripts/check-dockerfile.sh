#!/usr/bin/env bash
# Runs the Dockerfile's build stage without a container engine (none runs
# on the CI machine, and its base images cannot be pulled there), then
# checks what the final stage relies on:
#   - every RUN step of the build stage succeeds, in order, on a copy of
#     the tree (its absolute paths /src and /out mapped into a temp dir);
#   - the binary is static (it runs FROM scratch) and prints its version;
#   - as the image's non-root user 10001, in an empty /data-like
#     directory: init, serve, and the HEALTHCHECK command says healthy;
#   - the systemd unit passes `systemd-analyze verify` (when available).
# Any failure exits non-zero with the step that failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/usr/local/go/bin:$PATH"
WORK="$(mktemp -d)"
trap 'if [ -n "${SERVE_PID:-}" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
log() { echo "check-dockerfile: $*" >&2; }

# The build stage: from its FROM line to the next FROM.
stage="$(awk '/^FROM /{n++} n==1' "$ROOT/Dockerfile")"
# ARG defaults, as `docker build` without --build-arg would use them.
while read -r name value; do
  export "$name=$value"
done < <(echo "$stage" | sed -n 's/^ARG \([A-Z_]*\)=\(.*\)$/\1 \2/p')

mkdir -p "$WORK/src" "$WORK/out"
# COPY . . (what git tracks, as a build context with a .dockerignore would)
git -C "$ROOT" ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && xargs -0 cp --parents -t "$WORK/src" 2>/dev/null || true)

# RUN steps, continuation lines joined, paths mapped.
steps="$(echo "$stage" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | sed -n 's/^RUN //p')"
n=0
while IFS= read -r step; do
  n=$((n + 1))
  step="${step//\/out/$WORK/out}"
  step="${step//\/src/$WORK/src}"
  log "step $n: ${step:0:100}…"
  (cd "$WORK/src" && bash -euo pipefail -c "$step") || { log "RUN step $n failed"; exit 1; }
done <<< "$steps"

BIN="$WORK/out/bizbots"
if ldd "$BIN" >/dev/null 2>&1; then
  log "the binary is dynamically linked; it cannot run FROM scratch"; ldd "$BIN" >&2; exit 1
fi
grep -q '^bizbots:x:10001:10001:' "$WORK/out/rootfs/etc/passwd" || { log "no user 10001 in the image's /etc/passwd"; exit 1; }

# The final stage's user, workdir and healthcheck.
DATA="$WORK/data"
mkdir -p "$DATA"
chown 10001:10001 "$DATA" "$BIN" 2>/dev/null || true
chmod 0755 "$WORK" "$WORK/out"
AS_USER=(setpriv --reuid=10001 --regid=10001 --clear-groups env -i HOME="$DATA" BIZBOTS_CONFIG="$DATA/config.yaml")
as_user() { "${AS_USER[@]}" "$@"; }
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(cd "$DATA" && as_user "$BIN" init --homeserver-url http://127.0.0.1:1 --domain example.org --listen "127.0.0.1:$PORT" >/dev/null)
(cd "$DATA" && exec "${AS_USER[@]}" "$BIN" serve >"$WORK/serve.log" 2>&1) &
SERVE_PID=$!
healthy=0
for _ in $(seq 1 100); do
  if (cd "$DATA" && as_user "$BIN" healthcheck --timeout 2s >/dev/null 2>&1); then healthy=1; break; fi
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.2
done
if [ "$healthy" != 1 ]; then
  log "HEALTHCHECK never passed; serve said:"; cat "$WORK/serve.log" >&2; exit 1
fi
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || { log "serve did not stop cleanly on SIGTERM"; cat "$WORK/serve.log" >&2; exit 1; }
SERVE_PID=

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants the ExecStart binary to exist; point it at the built one.
  sed "s#/usr/local/bin/bizbots#$BIN#" "$ROOT/packaging/bizbots.service" > "$WORK/bizbots.service"
  out="$(systemd-analyze verify "$WORK/bizbots.service" 2>&1 || true)"
  if echo "$out" | grep -v -e 'Failed to resolve' -e 'Cannot add dependency' -e '^$' -e 'network-online' -e 'postgresql' | grep -q .; then
    log "systemd-analyze verify:"; echo "$out" >&2; exit 1
  fi
fi
log "ok: build stage ran, static binary, non-root serve healthy, unit verified"
