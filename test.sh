#!/usr/bin/env bash
# Runs the whole test suite (slow and browser tests included) in .venv, installing what it needs.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
scripts/install-browser.sh || echo "test.sh: could not install chromium/tmux/tuxpaint-stamps-default/fonts; their tests will be skipped" >&2
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec .venv/bin/python -m pytest "$@"
