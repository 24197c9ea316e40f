"""The relevance cut-off behind ``--strong``: keep the results that stand out *for this query*.

A flat score threshold fails because every query has its own score scale: with CLIP, "a dog" may
score 0.30 on dog photos and 0.18 on the rest, while a long, specific caption scores 0.22 on its
best match and 0.12 on the rest; an image query's scores sit higher still. So the cut-off is
relative to how this query scores the collection as a whole:

1. score a fixed random sample of the collection (up to ``BACKGROUND_SAMPLE`` vectors; all of them
   in a smaller collection) against the query: that is the query's background;
2. take its median (the typical score) and its spread as 1.4826 x the median absolute deviation
   (the standard deviation of a normal distribution, but barely moved by the matches themselves,
   as long as they are well under half of the collection);
3. a result is strong when ``score >= median + STRONG_Z x spread``.

``docs/search.md`` explains the choice of ``STRONG_Z`` and what it was measured on.

    >>> cut = strong_cutoff(query_vec, background_sample(store))           # doctest: +SKIP
    >>> cut.threshold, cut.z(0.31)                                         # doctest: +SKIP
    (0.262, 5.1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import STRONG_Z
from ..stores.base import VectorStore

BACKGROUND_SAMPLE = 4096
SAMPLE_SEED = 0
# Below this spread the collection looks the same to the query (e.g. every image identical): no
# result can stand out, and dividing by ~0 would call everything strong.
MIN_SPREAD = 0.005
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Cutoff:
    """The strong-match threshold for one query, with the background it was derived from."""

    threshold: float
    typical: float  # median score over the collection
    spread: float  # robust standard deviation of those scores
    z_min: float = STRONG_Z

    def z(self, score: float) -> float:
        """How many spreads ``score`` lies above the typical score."""
        return (float(score) - self.typical) / self.spread


def background_sample(store: VectorStore, size: int = BACKGROUND_SAMPLE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Up to ``size`` stored vectors, chosen at random with a fixed seed (the same collection gives
    the same sample, so a query's threshold is stable from page to page)."""
    ids = store.ids()
    if len(ids) > size:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
    return store.get(ids) if len(ids) else np.zeros((0, store.dim), np.float32)


def strong_cutoff(query: np.ndarray, background: np.ndarray, z: float = STRONG_Z) -> Cutoff:
    """The cut-off for ``query`` (one vector) given ``background`` vectors ``(n, dim)``."""
    scores = np.asarray(background, np.float32) @ np.asarray(query, np.float32).reshape(-1)
    if not len(scores):
        return Cutoff(threshold=float("inf"), typical=0.0, spread=MIN_SPREAD, z_min=z)
    typical = float(np.median(scores))
    spread = max(MAD_TO_SD * float(np.median(np.abs(scores - typical))), MIN_SPREAD)
    return Cutoff(threshold=typical + z * spread, typical=typical, spread=spread, z_min=z)
