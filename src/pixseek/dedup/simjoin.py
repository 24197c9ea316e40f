"""Every pair of images whose vectors score at least ``min_score``, without an N x N matrix.

Two ways, chosen by size (measured by ``bench/dedup_scale.py``):

- up to ``EXACT_MAX`` images: the vector store's own ``range_search``, one batch of queries at a
  time: exact, and memory stays at one batch of results.
- above: an IVF self-join. k-means (trained on a sample) cuts the space into cells; each vector is
  filed under its ``PROBES`` nearest cells, and each cell multiplies the vectors whose *nearest*
  cell it is against all vectors filed under it (one BLAS product per cell). A pair is found when
  one vector's nearest cell is among the other's ``PROBES`` nearest. Work is about
  ``N * PROBES * N / cells * dim`` instead of ``N * N * dim``: at 100k x 512 on 2 cores the
  exact range search of a flat store takes minutes, the join seconds, with candidate recall
  0.99 at the scores dedup uses (``bench/dedup_scale.py``; numbers in docs/dedup.md).

>>> pairs = similar_pairs(ids, catalog.vectors, 0.9, store=store)   # doctest: +SKIP
>>> pairs.a, pairs.b, pairs.score                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..stores.base import VectorStore
from ..types import ProgressFn

EXACT_MAX = 10_000  # above this many images, the IVF self-join (faster from here on: ~N^2 vs ~N)
QUERY_BATCH = 1024
PROBES = 4  # cells each vector is filed under
CELL_SIZE = 192  # target vectors per cell
TRAIN_PER_CELL = 16  # k-means sample per cell (more costs time, not recall: bench/dedup_scale.py)
MAX_CELLS = 4096
SEED = 0



@dataclass(frozen=True)
class Pairs:
    """Pairs ``a[i] < b[i]`` (ids) with their cosine ``score[i]``."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def similar_pairs(ids: np.ndarray, vectors_of: Callable[[list[int]], np.ndarray], min_score: float, *,
                  store: VectorStore | None = None, exact_max: int = EXACT_MAX,
                  progress: ProgressFn | None = None) -> Pairs:
    """Every pair of ``ids`` scoring ``>= min_score``, each pair once (``a < b``).

    ``vectors_of(list_of_ids)`` returns their exact float32 vectors (the catalogue's). With a
    ``store`` and at most ``exact_max`` ids, the store's ``range_search`` answers (exact);
    otherwise the IVF self-join does (approximate; see the module docstring).
    """
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if len(ids) < 2:
        return _empty()
    if store is not None and len(ids) <= exact_max:
        return _by_range_search(ids, vectors_of, min_score, store, progress)
    vecs = vectors_of(ids.tolist())
    return ivf_self_join(ids, np.ascontiguousarray(vecs, dtype=np.float32), min_score, progress=progress)


def _by_range_search(ids: np.ndarray, vectors_of: Callable[[list[int]], np.ndarray], min_score: float,
                     store: VectorStore, progress: ProgressFn | None) -> Pairs:
    out_a, out_b, out_s = [], [], []
    for start in range(0, len(ids), QUERY_BATCH):
        chunk = ids[start:start + QUERY_BATCH]
        results = store.range_search(vectors_of(chunk.tolist()), min_score)
        for qid, (found, scores) in zip(chunk, results):
            keep = found > qid  # each pair once; also drops the query itself
            found, scores = found[keep], scores[keep]
            member = _isin_sorted(found, ids)  # the store may hold images outside the selection
            out_a.append(np.full(int(member.sum()), qid, dtype=np.int64))
            out_b.append(found[member])
            out_s.append(scores[member])
        if progress:
            progress(min(start + QUERY_BATCH, len(ids)), len(ids))
    return _concat(out_a, out_b, out_s)


def ivf_self_join(ids: np.ndarray, vecs: np.ndarray, min_score: float, *, probes: int = PROBES,
                  cell_size: int = CELL_SIZE, progress: ProgressFn | None = None) -> Pairs:
    """Approximate all-pairs range join of L2-normalised ``vecs`` (rows match ``ids``)."""
    import faiss

    n, dim = vecs.shape
    cells = int(min(MAX_CELLS, max(1, n // cell_size)))
    probes = min(probes, cells)
    if cells == 1:
        nearest = np.zeros((n, 1), dtype=np.int64)
    else:
        rng = np.random.default_rng(SEED)
        sample = vecs[rng.choice(n, min(n, cells * TRAIN_PER_CELL), replace=False)]
        kmeans = faiss.Kmeans(dim, cells, niter=10, spherical=True, seed=SEED, min_points_per_centroid=1,
                              max_points_per_centroid=TRAIN_PER_CELL * 4)
        kmeans.train(sample)
        _, nearest = kmeans.index.search(vecs, probes)
    primary = nearest[:, 0]
    # rows filed under each cell (any of their `probes` nearest), and rows whose nearest it is
    filed_cell = nearest.ravel()
    filed_row = np.repeat(np.arange(n), nearest.shape[1])
    order = np.argsort(filed_cell, kind="stable")
    filed_cell, filed_row = filed_cell[order], filed_row[order]
    filed_bounds = np.searchsorted(filed_cell, np.arange(cells + 1))
    p_order = np.argsort(primary, kind="stable")
    p_bounds = np.searchsorted(primary[p_order], np.arange(cells + 1))

    def one_cell(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows_q = p_order[p_bounds[c]:p_bounds[c + 1]]
        rows_f = filed_row[filed_bounds[c]:filed_bounds[c + 1]]
        if not len(rows_q) or len(rows_f) < 2:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
        scores = vecs[rows_q] @ vecs[rows_f].T
        qi, fi = np.nonzero(scores >= min_score)
        a, b = rows_q[qi], rows_f[fi]
        keep = a != b
        return a[keep], b[keep], scores[qi[keep], fi[keep]]

    out_a, out_b, out_s = [], [], []
    # Cells are small: one BLAS thread each, one cell per core. Multi-threaded BLAS on products
    # this small spends its time synchronising (20x slower measured on a busy 2-core machine).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for c, (a, b, s) in enumerate(pool.map(one_cell, range(cells))):
            out_a.append(a)
            out_b.append(b)
            out_s.append(s)
            if progress and c % 64 == 0:
                progress(c, cells)
    if progress:
        progress(cells, cells)
    if not sum(len(a) for a in out_a):
        return _empty()
    a, b, s = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s).astype(np.float32)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo * n + hi, return_index=True)  # a pair can be met in two cells
    return Pairs(ids[lo[first]], ids[hi[first]], s[first])


def _isin_sorted(values: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_ids, values)
    inside = pos < len(sorted_ids)
    found = np.zeros(len(values), dtype=bool)
    found[inside] = sorted_ids[pos[inside]] == values[inside]
    return found


def _concat(a: list, b: list, s: list) -> Pairs:
    if not a:
        return _empty()
    return Pairs(np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64),
                 np.concatenate(s).astype(np.float32))


def _empty() -> Pairs:
    return Pairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
