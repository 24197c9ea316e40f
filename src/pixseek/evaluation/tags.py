"""How well tags learn from a few examples, on labelled photos, through the public API only
(``Library.tag`` and ``Library.suggest_tag``; the labels play the user who confirms suggestions).
``pixseek eval tags`` runs it on Debian's drawings (:mod:`.drawings`); ``bench/tag_eval.py`` too.

For each category with enough photos, and each seed:

1. ``examples`` photos of the category, chosen at random, become the tag's examples;
2. round 0: precision@k of ``suggest_tag(k)`` (the share of the k suggestions in the category);
3. each of ``rounds`` rounds: the top ``confirm`` suggestions are confirmed, the ones in the category
   as examples and the others as counter-examples (``tag(name, accepted, not_photos=rejected)``),
   then precision@k of the new suggestions (which leave every labelled photo out).

Precision@k is also given *capped* (hits / min(k, positives left unlabelled)), since a small category
may have fewer than k photos left to find. The baseline is the centroid of the same examples as one
query (``Library.query`` with the examples as images): nearest neighbours, no classifier.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TagEvalReport:
    """Precision@k per category (mean over seeds): ``centroid``, then one value per round."""

    k: int
    examples: int
    confirm: int
    seeds: int
    categories: dict[str, dict] = field(default_factory=dict)

    def mean(self, key: str) -> list[float]:
        rows = [c[key] for c in self.categories.values()]
        return [float(np.mean([r[i] for r in rows])) for i in range(len(rows[0]))] if rows else []

    def to_dict(self) -> dict:
        return {"k": self.k, "examples": self.examples, "confirm": self.confirm, "seeds": self.seeds,
                "categories": self.categories,
                "mean": {key: self.mean(key) for key in ("precision", "capped", "centroid")}}

    def lines(self) -> list[str]:
        rounds = len(next(iter(self.categories.values()))["precision"]) if self.categories else 0
        head = f"{'category':<22} {'n':>4}  {'centroid':>8}  " + "  ".join(
            f"{'round ' + str(r):>13}" for r in range(rounds))
        out = [f"precision@{self.k} of suggestions: {self.examples} examples, then rounds of confirming "
               f"{self.confirm} suggestions (mean of {self.seeds} seeds; capped in brackets)", head]
        for name, c in self.categories.items():
            cells = "  ".join(f"{p:>6.3f} ({q:.3f})" for p, q in zip(c["precision"], c["capped"]))
            out.append(f"{name:<22} {c['size']:>4}  {c['centroid'][0]:>8.3f}  {cells}")
        p, q, cen = self.mean("precision"), self.mean("capped"), self.mean("centroid")
        if p:
            cells = "  ".join(f"{a:>6.3f} ({b:.3f})" for a, b in zip(p, q))
            out.append(f"{'mean':<22} {'':>4}  {cen[0]:>8.3f}  {cells}")
        return out


def evaluate_tags(lib, labels: Mapping[str, str], *, min_count: int = 25, examples: int = 5, rounds: int = 2,
                  confirm: int = 10, k: int = 20, seeds: int = 3, progress=None) -> TagEvalReport:
    """Run the protocol of the module doc on an indexed library whose photos ``labels`` maps
    (path -> category)."""
    from ..search import Query

    by_category: dict[str, list[str]] = {}
    for path, category in sorted(labels.items()):
        by_category.setdefault(category, []).append(str(path))
    chosen = {c: paths for c, paths in by_category.items() if len(paths) >= min_count}
    report = TagEvalReport(k, examples, confirm, seeds)
    total, done = len(chosen) * seeds, 0
    for category, paths in chosen.items():
        members = set(paths)
        runs, capped, centroid = [], [], []
        for seed in range(seeds):
            name = f"eval {category} {seed}"
            picked = random.Random(f"{category}/{seed}").sample(paths, examples)
            labelled = set(picked)
            hits = lib.query(Query(images=tuple(picked), k=k, collapse=False), exclude_examples=True).hits
            centroid.append(sum(h.path in members for h in hits) / k)
            lib.tag(name, picked)
            p, q = [], []
            for r in range(rounds + 1):
                suggestions = lib.suggest_tag(name, k)
                good = sum(s.path in members for s in suggestions)
                p.append(good / k)
                q.append(good / max(1, min(k, len(members - labelled))))
                if r == rounds:
                    break
                top = [s.path for s in suggestions[:confirm]]
                lib.tag(name, [t for t in top if t in members], not_photos=[t for t in top if t not in members])
                labelled |= set(top)
            lib.remove_tag(name)
            runs.append(p)
            capped.append(q)
            done += 1
            if progress:
                progress(done, total)
        report.categories[category] = {"size": len(paths), "precision": np.mean(runs, axis=0).round(4).tolist(),
                                       "capped": np.mean(capped, axis=0).round(4).tolist(),
                                       "centroid": [round(float(np.mean(centroid)), 4)]}
    return report
