"""What `pixseek tune` costs: learning an adapter from 10k labelled photos (issue 15: < 2 min on
2 cores), against the plain baseline of the same run: one pass of exact kNN over the same vectors
(what measuring precision@10 costs anyway).

    python bench/tune_cost.py [--n 10000] [--dim 1280] [--labels 50] [--repeat 2]

The vectors are synthetic: ``--labels`` clusters of unit vectors in ``--dim`` dimensions (1280:
EfficientNet-Lite0's; 512: ViT-B-32's) with noise, the same shape of work as real photos (training
touches only vectors, never pixels). The whole library (``--n`` photos) is the "keep" set, as in
`pixseek tune`. Prints wall and CPU seconds, the CPU flags and the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from index_throughput import cpu_features, cpu_seconds  # noqa: E402
from pixseek.adapt.metrics import label_figures  # noqa: E402
from pixseek.adapt.train import KEEP_WEIGHT, train_labels  # noqa: E402
from pixseek.adapt.tune import _split  # noqa: E402

GOAL_S = 120.0


def clustered(n: int, dim: int, labels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels, dim))
    y = rng.integers(0, labels, n)
    x = centres[y] + rng.normal(scale=8.0, size=(n, dim))  # noisy enough that kNN is not perfect
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    x, y = clustered(args.n, args.dim, args.labels)
    train, test = _split(y, 0.3, 0)
    print(f"{args.n} labelled photos, dim {args.dim}, {args.labels} labels; CPU flags: {cpu_features()}; "
          f"cores {os.cpu_count()}; load {os.getloadavg()[0]:.1f}")
    for r in range(args.repeat):
        w0, c0 = time.perf_counter(), cpu_seconds()
        base = label_figures(x[test], y[test])
        wb, cb = time.perf_counter() - w0, cpu_seconds() - c0
        w0, c0 = time.perf_counter(), cpu_seconds()
        adapter = train_labels(x[train], y[train], keep=x, keep_weight=KEEP_WEIGHT)
        wt, ct = time.perf_counter() - w0, cpu_seconds() - c0
        after = label_figures(adapter.apply(x[test]), y[test])
        print(f"run {r + 1}: training {wt:.1f} s wall ({ct:.1f} s CPU); baseline kNN figures {wb:.2f} s wall "
              f"({cb:.2f} s CPU); ratio {wt / wb:.0f}x; goal < {GOAL_S:.0f} s: {'met' if wt < GOAL_S else 'NOT met'}; "
              f"precision@10 {base['precision@10']:.3f} -> {after['precision@10']:.3f}; "
              f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
