"""Retrieval figures on a held-out split, the same before and after tuning.

- ``precision@10``: for each photo, the share of its 10 nearest other held-out photos that carry
  its label (kNN precision), averaged over photos;
- ``mAP``: mean average precision of that ranking over every other held-out photo;
- ``recall@K``: the share of photos with at least one photo of their label among the K nearest.

For captions (text -> image): ``recall@K`` is the share of captions whose photo is among the K
nearest held-out photos, ``mAP`` the mean reciprocal rank of that photo.
"""

from __future__ import annotations

import numpy as np

KS = (1, 5)
MAX_QUERIES = 4000  # figures on a sample of queries beyond this (the ranking still spans all photos)


def label_figures(vecs: np.ndarray, labels: np.ndarray, k: int = 10, seed: int = 0) -> dict[str, float]:
    """precision@k, mAP and recall@1/5 of kNN among ``vecs`` (unit rows) by ``labels``."""
    n = len(vecs)
    rows = np.arange(n)
    if n > MAX_QUERIES:
        rows = np.sort(np.random.default_rng(seed).choice(n, MAX_QUERIES, replace=False))
    out = {f"precision@{k}": 0.0, "mAP": 0.0, **{f"recall@{r}": 0.0 for r in KS}}
    counted = 0
    for start in range(0, len(rows), 512):
        q = rows[start:start + 512]
        sims = vecs[q] @ vecs.T
        sims[np.arange(len(q)), q] = -np.inf  # not its own neighbour
        order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
        same = labels[order] == labels[q][:, None]
        has = same.sum(axis=1)
        keep = has > 0
        if not keep.any():
            continue
        same, has = same[keep], has[keep]
        counted += len(same)
        kk = min(k, same.shape[1])
        out[f"precision@{k}"] += float((same[:, :kk].sum(axis=1) / kk).sum())
        hits = np.cumsum(same, axis=1)
        ranks = np.arange(1, same.shape[1] + 1)
        out["mAP"] += float(((hits / ranks) * same).sum(axis=1).__truediv__(has).sum())
        for r in KS:
            out[f"recall@{r}"] += float(same[:, :r].any(axis=1).sum())
    return {key: round(v / max(counted, 1), 4) for key, v in out.items()}


def caption_figures(image_vecs: np.ndarray, text_vecs: np.ndarray, image_of: np.ndarray,
                    ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """text -> image recall@K and mAP (mean reciprocal rank of the caption's photo)."""
    sims = text_vecs @ image_vecs.T
    target = sims[np.arange(len(sims)), image_of]
    rank = (sims > target[:, None]).sum(axis=1) + 1
    out = {"mAP": round(float((1.0 / rank).mean()), 4)}
    for k in ks:
        out[f"recall@{k}"] = round(float((rank <= k).mean()), 4)
    return out
