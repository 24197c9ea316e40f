"""How far can an adapter on frozen vectors go? The protocol of `bench/tune_drawings.py` (half of each
trained category labelled, a quarter of the categories unseen, kNN precision@10 on the held-out half
and on the unseen categories, 3 seeds), replayed in one process on its kept index's raw vectors with
:func:`pixseek.adapt.train.train_labels` and its options swept, plus a 2-layer residual MLP adapter
``normalize(x + W2 relu(W1 x + b1))`` (``W2`` starting at zero) trained with the same SupCon and keep
terms. Its ``default`` row reproduces `tune_drawings.py`'s (same split, same training code).

    PYTHONPATH=src python bench/tune_drawings.py --keep /tmp/tune-drawings      # builds the index once
    PYTHONPATH=src python bench/tune_sweep.py --keep /tmp/tune-drawings [--only "default,mlp keep=5"]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from index_throughput import cpu_features  # noqa: E402
from tune_drawings import knn_precision  # noqa: E402

from pixseek.adapt import train as T  # noqa: E402


def load(work: Path):
    con = sqlite3.connect(work / "db" / "catalog.sqlite")
    rows = con.execute("SELECT f.path, v.vec FROM vectors v JOIN files f ON f.id = v.file_id "
                       "WHERE f.status = 'ok' ORDER BY f.path").fetchall()
    x = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1).copy()
    gallery = str(work / "gallery") + "/"
    cats = np.array([os.path.dirname(r[0][len(gallery):]) for r in rows])
    return x, cats


def protocol(x, cats, fit, seeds=(0, 1, 2), unseen_share=0.25):
    """Per seed (trained before, after, unseen before, after), as in tune_drawings.py."""
    names, rows = sorted(set(cats)), []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        unseen = set(rng.choice(names, max(1, round(unseen_share * len(names))), replace=False).tolist())
        train, held = [], []
        for c in names:
            idx = np.flatnonzero(cats == c)
            if c in unseen:
                held.extend(idx)
                continue
            order = rng.permutation(len(idx))
            train.extend(idx[order[:len(idx) // 2]])
            held.extend(idx[order[len(idx) // 2:]])
        train, held = np.array(train), np.array(held)
        keep = np.setdiff1d(np.arange(len(x)), train)  # the library's unlabelled photos (all < KEEP_SAMPLE)
        _, y = np.unique(cats[train], return_inverse=True)
        apply = fit(x[train], y, x[keep])
        yh = cats[held]
        un = np.isin(yh, sorted(unseen))
        b, a = knn_precision(x[held], yh), knn_precision(apply(x[held]), yh)
        rows.append((b[~un].mean(), a[~un].mean(), b[un].mean(), a[un].mean()))
    return np.array(rows)


def linear(**options):
    def fit(xt, y, keep):
        return T.train_labels(xt, y, keep=keep, seed=0, **options).apply
    return fit


def mlp(hidden=256, steps=T.DEFAULT_STEPS, lr=1e-3, keep_weight=T.KEEP_WEIGHT, temperature=T.TEMPERATURE):
    def fit(xt, y, keep):
        import torch

        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        x, labels, others = torch.from_numpy(xt), torch.from_numpy(y.astype(np.int64)), torch.from_numpy(keep)
        d = x.shape[1]
        w1 = (torch.randn(hidden, d) / d ** 0.5).requires_grad_(True)
        b1 = torch.zeros(hidden, requires_grad=True)
        w2 = torch.zeros(d, hidden, requires_grad=True)

        def f(v):
            return torch.nn.functional.normalize(v + torch.relu(v @ w1.T + b1) @ w2.T, dim=1)

        opt = T._AdamW([w1, b1, w2], lr=lr, weight_decay=1e-4)
        with T._one_thread():
            for rows in T._batches(y, steps, rng):
                idx = torch.from_numpy(rows)
                loss = T._supcon(f(x[idx]), labels[idx], temperature)
                if keep_weight:
                    u = others[torch.from_numpy(rng.choice(len(others), min(T.BATCH, len(others)), replace=False))]
                    z = f(u)
                    loss = loss + keep_weight * ((z @ z.T - u @ u.T) ** 2).mean()
                loss.backward()
                opt.step()

        def apply(v):
            with torch.no_grad():
                return f(torch.from_numpy(np.ascontiguousarray(v, np.float32))).numpy()
        return apply
    return fit


CONFIGS = {
    "default": linear(),
    "steps=1000": linear(steps=1000),
    "steps=1000 lr=3e-3": linear(steps=1000, lr=3e-3),
    "temperature=0.05": linear(temperature=0.05),
    "temperature=0.2": linear(temperature=0.2),
    "rank=256": linear(rank=256),
    "steps=1000 keep=5": linear(steps=1000, keep_weight=5),
    "steps=1000 lr=3e-3 t=0.05 keep=5": linear(steps=1000, lr=3e-3, temperature=0.05, keep_weight=5),
    "mlp": mlp(),
    "mlp keep=5": mlp(keep_weight=5),
    "mlp512 keep=0": mlp(hidden=512, keep_weight=0),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, required=True, help="the --keep folder of bench/tune_drawings.py")
    ap.add_argument("--only", help="comma-separated configuration names (default: all)")
    args = ap.parse_args()
    if not (args.keep / "db" / "catalog.sqlite").exists():
        print(f"no index in {args.keep}: run bench/tune_drawings.py --keep {args.keep} first", file=sys.stderr)
        return 1
    unknown = [n for n in (args.only.split(',') if args.only else []) if n not in CONFIGS]
    if unknown:
        print(f"unknown name(s): {', '.join(unknown)} (choose among: {', '.join(CONFIGS)})", file=sys.stderr)
        return 1
    x, cats = load(args.keep)
    print(f"{len(x)} drawings in {len(set(cats))} categories; kNN precision@10, mean of 3 seeds")
    for name in (args.only.split(",") if args.only else CONFIGS):
        t = time.perf_counter()
        r = protocol(x, cats, CONFIGS[name])
        m = r.mean(0)
        print(f"{name:34s} trained {m[0]:.3f} -> {m[1]:.3f} ({m[1] / m[0] - 1:+.0%})  unseen {m[2]:.3f} -> {m[3]:.3f} "
              f"({m[3] - m[2]:+.3f}; per seed {', '.join(f'{d:+.3f}' for d in r[:, 3] - r[:, 2])})"
              f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"CPU: {os.cpu_count()} cores, {cpu_features()}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
