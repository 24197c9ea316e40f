#!/usr/bin/env bash
# Index folders and open the web UI:  ./run.sh ~/Pictures [more folders...]
# No folder: the demo (a sample gallery of real photos):  ./run.sh          Both work offline.
# Creates .venv and installs what it needs on the first run (scripts/bootstrap.sh).
set -euo pipefail
folders=()
for arg in "$@"; do  # absolute paths: the script moves to the repository
  if [ -e "$arg" ]; then folders+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"); else folders+=("$arg"); fi
done
cd "$(dirname "$0")"
scripts/bootstrap.sh
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1
# With folders: the same steps as the demo on them, into the default library (the one `pixseek serve`
# opens). Offline, one line says so and EfficientNet-Lite0 (search by example) stands in for CLIP.
exec .venv/bin/python demo.py ${folders[@]+"${folders[@]}"}
