"""Candidate pairs: the few pairs of pictures worth judging, out of N x N.

Every pair whose vectors score ``>= embed_gate`` (:mod:`.simjoin`: the store's range search, or an
IVF self-join at scale), plus pairs whose pHashes share a 16-bit band (a grey copy can score low on
the embedding, never on pHash). With ``use_embedding=False``: every pair within ``phash_only`` bits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..catalog import Catalog
from ..hashing import hamming_many
from ..stores.base import VectorStore
from ..types import StageProgressFn
from .features import Pictures
from .rules import Thresholds
from .simjoin import EXACT_MAX, similar_pairs

BAND_BUCKET_MAX = 64  # a pHash band shared by more units than this is a flat or blank picture

VectorsOf = Callable[[list[int]], np.ndarray]


def candidate_pairs(pics: Pictures, store: Callable[[], VectorStore] | None, th: Thresholds, similar: bool,
                    exact_max: int | None, progress: StageProgressFn | None) -> tuple[np.ndarray, np.ndarray]:
    """``(pairs, cos)``: index pairs ``(i, j)`` into ``pics.reps`` (an ``(n, 2)`` array) and their
    embedding cosines (nan for pHash alone)."""
    ids = np.array([r.id for r in pics.reps], dtype=np.int64)
    exact_max = EXACT_MAX if exact_max is None else exact_max
    vectors_of = _vector_source(pics.catalog, len(ids) > exact_max)
    cand: dict[tuple[int, int], float] = {}
    if th.use_embedding:
        cand.update(_embedding_pairs(ids, vectors_of, store, th, similar, exact_max, progress))
        extra = [p for p in band_pairs(pics) if p not in cand]
        for (i, j), s in zip(extra, _cosines(vectors_of, ids, extra)):
            cand[(i, j)] = s
    else:
        cand.update((p, float("nan")) for p in all_hash_pairs(pics, th.phash_only))
    pairs = np.array(list(cand.keys()), dtype=np.int64).reshape(-1, 2)
    return pairs, np.array(list(cand.values()), dtype=np.float32)


def _vector_source(catalog: Catalog, read_all: bool) -> VectorsOf:
    """Vectors by id: looked up, or (when the join reads every vector anyway) one pass over the
    table, which beats lookups."""
    if not read_all:
        return catalog.vectors
    all_ids, all_vecs = catalog.all_vectors()

    def from_memory(wanted: list[int]) -> np.ndarray:
        return all_vecs[np.searchsorted(all_ids, np.asarray(wanted, np.int64))]
    return from_memory


def _embedding_pairs(ids: np.ndarray, vectors_of: VectorsOf, store: Callable[[], VectorStore] | None,
                     th: Thresholds, similar: bool, exact_max: int,
                     progress: StageProgressFn | None) -> dict[tuple[int, int], float]:
    index_of = {int(i): k for k, i in enumerate(ids)}
    gate = min(th.embed_gate, th.similar_cos if similar else 1.0, th.crop_cos)
    vector_store = store() if store and len(ids) <= exact_max else None
    pairs = similar_pairs(ids, vectors_of, gate, store=vector_store, exact_max=exact_max,
                          progress=(lambda d, t: progress("comparing", d, t)) if progress else None)
    return {(index_of[a], index_of[b]): s
            for a, b, s in zip(pairs.a.tolist(), pairs.b.tolist(), pairs.score.tolist())}


def band_pairs(pics: Pictures) -> set[tuple[int, int]]:
    """Pairs of pictures whose pHashes agree on one of four 16-bit bands (all pairs within 3 bits,
    most within 12)."""
    reps, hashes = pics.reps, pics.hashes
    idx = [k for k, r in enumerate(reps) if r.sha in hashes]
    if len(idx) < 2:
        return set()
    ph = np.array([hashes[reps[k].sha].phash for k in idx], dtype=np.uint64)
    idx_arr = np.array(idx)
    out: set[tuple[int, int]] = set()
    for band in range(4):
        key = (ph >> np.uint64(16 * band)) & np.uint64(0xFFFF)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        sizes = np.diff(np.r_[starts, len(sk)])
        fits = (sizes >= 2) & (sizes <= BAND_BUCKET_MAX)
        for s, n in zip(starts[fits], sizes[fits]):
            members = np.sort(idx_arr[order[s:s + n]])
            for x in range(n):
                for y in range(x + 1, n):
                    out.add((int(members[x]), int(members[y])))
    return out


def all_hash_pairs(pics: Pictures, limit: int) -> set[tuple[int, int]]:
    """pHash alone: every pair within ``limit`` bits (quadratic: for the evaluation's baseline)."""
    reps, hashes = pics.reps, pics.hashes
    idx = [k for k, r in enumerate(reps) if r.sha in hashes]
    ph = np.array([hashes[reps[k].sha].phash for k in idx], dtype=np.uint64)
    out = set()
    for x in range(len(idx)):
        d = hamming_many(np.full(len(idx) - x - 1, ph[x], dtype=np.uint64), ph[x + 1:])
        for y in np.flatnonzero(d <= limit):
            out.add((idx[x], idx[x + 1 + int(y)]))
    return out


def _cosines(vectors_of: VectorsOf, ids: np.ndarray, pairs: list[tuple[int, int]]) -> list[float]:
    out = []
    for start in range(0, len(pairs), 5000):
        chunk = pairs[start:start + 5000]
        va = vectors_of([int(ids[i]) for i, _ in chunk])
        vb = vectors_of([int(ids[j]) for _, j in chunk])
        out.extend(np.einsum("ij,ij->i", va, vb).tolist())
    return out
