"""Other ways to rank tag suggestions, measured with the protocol of `bench/tag_eval.py` on its kept
index (the raw EfficientNet-Lite0 vectors of Debian's tuxpaint drawings): an offline replica of
:func:`pixseek.evaluation.tags.evaluate_tags` in numpy that swaps the ranker, so that ideas are
compared without changing the product. The labels play the user exactly as there (5 random examples,
two rounds of confirming the top 10). The replica picks its examples in catalogue order, not path
order, so its "current" row differs from `tag_eval.py`'s by seed noise (compare rows with each other).

    PYTHONPATH=src python bench/tag_eval.py --keep /tmp/tag-eval        # builds the index once
    PYTHONPATH=src python bench/tag_rankers.py --keep /tmp/tag-eval [--only current,drop=0.1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from index_throughput import cpu_features  # noqa: E402

from pixseek.tags import classifier as C  # noqa: E402


def load(db: Path):
    con = sqlite3.connect(db / "catalog.sqlite")
    rows = con.execute("SELECT f.path, v.vec FROM vectors v JOIN files f ON f.id = v.file_id "
                       "WHERE f.status = 'ok' ORDER BY v.file_id").fetchall()
    x = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
    # flat gallery: animals--birds--robin.png
    cats = [r[0].rsplit("/", 1)[1].rsplit("--", 1)[0].replace("--", "/") for r in rows]
    return x, cats


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def evaluate(x, cats, ranker, *, level, min_count=25, examples=5, rounds=2, confirm=10, k=20, seeds=3):
    labels = np.array([c if level == 2 else c.split("/")[0] for c in cats])
    means = []
    for c in sorted(set(labels)):
        members = np.flatnonzero(labels == c).tolist()
        if len(members) < min_count:
            continue
        inside, runs = set(members), []
        for s in range(seeds):
            pos, neg, p = random.Random(f"{c}/{s}").sample(members, examples), [], []
            for r in range(rounds + 1):
                labelled = np.zeros(len(x), bool)
                labelled[pos + neg] = True
                unl = np.flatnonzero(~labelled)
                scores = ranker(x, np.array(pos), np.array(neg, int), unl, _seed(f"eval {c} {s}"))
                top = unl[np.argsort(-scores, kind="stable")[:k]].tolist()
                p.append(sum(t in inside for t in top) / k)
                pos += [t for t in top[:confirm] if t in inside]
                neg += [t for t in top[:confirm] if t not in inside]
            runs.append(p)
        means.append(np.mean(runs, axis=0))
    return np.mean(means, axis=0)


def _rank01(v):
    from scipy.stats import rankdata
    return rankdata(v) / len(v)


def classifier_ranker(drop=0.0, mix=0.0, knn=1, negative_weight=None):
    """The product's classifier; ``drop``: leave the share of unlabelled photos most like a positive
    out of the background pool (PU-style); ``mix``: blend its rank with the rank of the mean of the
    ``knn`` highest similarities to the positives; ``negative_weight``: a counter-example's weight."""
    def rank(x, pos, neg, unl, seed):
        pool = unl
        if drop:
            near = (x[unl] @ x[pos].T).max(1)
            pool = unl[near < np.quantile(near, 1 - drop)]
        bg = pool[C.background_sample(np.arange(len(pool)), len(pos), seed)]
        before = C.NEGATIVE_WEIGHT
        C.NEGATIVE_WEIGHT = negative_weight or before
        try:
            p = C.train(x[pos], x[neg], x[bg], seed=seed).probabilities(x[unl])
        finally:
            C.NEGATIVE_WEIGHT = before
        if not mix:
            return p
        sim = np.sort(x[unl] @ x[pos].T, 1)[:, -knn:].mean(1)
        return (1 - mix) * _rank01(p) + mix * _rank01(sim)
    return rank


def spreading_ranker(alpha, neighbours=10, mix=0.0):
    """Label spreading over the kNN graph of every photo (scikit-learn), background as negatives."""
    from sklearn.semi_supervised import LabelSpreading

    def rank(x, pos, neg, unl, seed):
        y = np.full(len(x), -1)
        y[unl[C.background_sample(np.arange(len(unl)), len(pos), seed)]] = 0
        y[pos], y[neg] = 1, 0
        s = LabelSpreading(kernel="knn", n_neighbors=neighbours, alpha=alpha, max_iter=50).fit(x, y)
        s = s.label_distributions_[unl, 1]
        return s if not mix else (1 - mix) * _rank01(classifier_ranker()(x, pos, neg, unl, seed)) + mix * _rank01(s)
    return rank


RANKERS = {
    "current": classifier_ranker(),
    **{f"drop={d}": classifier_ranker(drop=d) for d in (0.05, 0.1, 0.2)},
    **{f"mix={m} knn={k}": classifier_ranker(mix=m, knn=k) for m in (0.3, 0.5) for k in (1, 3)},
    "drop=0.1 mix=0.5": classifier_ranker(drop=0.1, mix=0.5),
    **{f"negative_weight={w}": classifier_ranker(negative_weight=w) for w in (1.0, 10.0, 30.0)},
    "spreading alpha=0.5": spreading_ranker(0.5),
    "spreading alpha=0.8": spreading_ranker(0.8),
    "spreading+classifier": spreading_ranker(0.5, mix=0.5),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, required=True, help="the --keep folder of bench/tag_eval.py")
    ap.add_argument("--only", help="comma-separated ranker names (default: all)")
    args = ap.parse_args()
    if not (args.keep / "db" / "catalog.sqlite").exists():
        print(f"no index in {args.keep}: run bench/tag_eval.py --keep {args.keep} first", file=sys.stderr)
        return 1
    unknown = [n for n in (args.only.split(',') if args.only else []) if n not in RANKERS]
    if unknown:
        print(f"unknown name(s): {', '.join(unknown)} (choose among: {', '.join(RANKERS)})", file=sys.stderr)
        return 1
    x, cats = load(args.keep / "db")
    names = args.only.split(",") if args.only else list(RANKERS)
    print("mean precision@20 of suggestions, rounds 0 1 2 (two-level folders | top folders; >= 25 drawings)")
    for name in names:
        t = time.perf_counter()
        two, top = (evaluate(x, cats, RANKERS[name], level=lv) for lv in (2, 1))
        print(f"{name:24s} {' '.join(f'{v:.3f}' for v in two)} | {' '.join(f'{v:.3f}' for v in top)}"
              f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"CPU: {os.cpu_count()} cores, {cpu_features()}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
