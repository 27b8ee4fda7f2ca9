#!/bin/sh
# install-browser.sh: Debian's headless-capable chromium for the console's
# browser tests (console/browsertest). Idempotent: does nothing when a
# chromium is already on PATH. Needs root (or sudo) for apt-get.
set -eu
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
