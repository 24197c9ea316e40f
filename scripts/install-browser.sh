#!/usr/bin/env bash
# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
