"""The ``VectorStore`` interface: int64 ids -> L2-normalised float32 vectors, searched by cosine.

Every store (FAISS file, Milvus) behaves the same way:

- ``add`` is an upsert: an id already present is replaced.
- scores are inner products, which equal cosine similarities for normalised vectors.
- ``search`` pads with id ``-1`` and score ``-inf`` when fewer than ``k`` results exist.
- ``filter_ids`` restricts the search itself, so ``k`` results come back whenever ``k`` of the
  filtered ids are present, however selective the filter.
- ``id_range=(lo, hi)`` scopes a store to ids in ``[lo, hi)`` (several indexes can share one Milvus
  collection): ``add`` refuses other ids and ``remove`` leaves them alone; a Milvus store also lists,
  counts, gets and searches only these (a FAISS file belongs to one index, whose ``add`` refused
  the others). ``count_all`` counts the whole store. ``None`` means every id.

``tests/test_store_contract.py`` runs the same cases against every back end.

Example::

    store = open_store(tmp_path, dim=512)
    store.add(np.array([7, 9]), vecs)
    scores, ids = store.search(query[None, :], k=5)
    store.save()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

import numpy as np

from pixseek.errors import PixseekError


class StoreError(PixseekError):
    """The vector store is unreadable, built for another dimension, closed, or unusable."""


class VectorStore(ABC):
    """A persistent id -> vector map with top-k, filtered and range search by inner product."""

    dim: int
    id_range: tuple[int, int] | None = None

    @abstractmethod
    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Insert or replace ``vecs[i]`` under ``ids[i]``; in one call the last duplicate wins."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids; return how many of them were present."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by score: ``(scores (q, k) float32, ids (q, k) int64)``, best first."""

    @abstractmethod
    def range_search(
        self, queries: np.ndarray, min_score: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query, ``(ids, scores)`` of every vector scoring ``>= min_score``, best first."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """All ids present, int64, sorted ascending (treat as read-only)."""

    @abstractmethod
    def get(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors for ``ids`` as ``(n, dim)`` float32; raises ``KeyError`` for an absent id.

        An approximate index returns its decoded (approximate) vectors.
        """

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def save(self) -> None:
        """Persist atomically: a crash at any instant leaves either the old or the new state."""

    @abstractmethod
    def close(self) -> None:
        """Release memory. Does not save: call ``save()`` first to keep changes."""

    @abstractmethod
    def describe(self) -> str:
        """One line for people: the kind of index, its parameters, and where it lives."""

    @abstractmethod
    def destroy(self) -> None:
        """Delete the store itself (FAISS: its file; Milvus: the whole collection, whoever shares
        it), then close."""

    def clear(self) -> int:
        """Remove every vector in this store's id range; return how many there were."""
        ids = self.ids()
        return self.remove(ids) if len(ids) else 0

    def to_space(self, vecs: np.ndarray) -> np.ndarray:
        """``vecs`` as this store compares them: as they are, unless the store holds adapted
        vectors (``pixseek.adapt``), whose queries pass the adapter."""
        return vecs

    def count_all(self) -> int:
        """Vectors in the whole store, other id ranges included."""
        return len(self)

    def in_scope(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` lie in this store's id range."""
        if self.id_range is None:
            return np.ones(len(ids), bool)
        return (ids >= self.id_range[0]) & (ids < self.id_range[1])

    def require_scope(self, ids: np.ndarray) -> None:
        """``ValueError`` when an id lies outside this store's id range (``add`` calls it)."""
        outside = ids[~self.in_scope(ids)]
        if len(outside):
            raise ValueError(f"ids {outside[:5].tolist()} lie outside this store's id range {self.id_range}")

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def empty_results(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``search`` padding: scores ``-inf``, ids ``-1``."""
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def as_ids(ids: np.ndarray | list[int] | int) -> np.ndarray:
    """Validate and convert to a 1-D int64 array."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be integers, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def as_vectors(vecs: np.ndarray, dim: int) -> np.ndarray:
    """Validate and convert to a C-contiguous ``(n, dim)`` float32 array (1-D: one row)."""
    arr = np.asarray(vecs, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {np.shape(vecs)}")
    return np.ascontiguousarray(arr)


def search_queries(queries: np.ndarray, k: int, dim: int) -> np.ndarray:
    """Validate one ``search`` call's input: the queries as ``(n, dim)`` float32, ``k >= 0``."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return as_vectors(queries, dim)


def upsert_batch(ids, vecs, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one ``add`` call's input; keep the last occurrence of each id (an upsert within one
    batch), in input order. Every store's ``add`` starts here."""
    ids = as_ids(ids)
    vecs = as_vectors(vecs, dim)
    if len(ids) != len(vecs):
        raise ValueError(f"{len(ids)} ids for {len(vecs)} vectors")
    if not np.isfinite(vecs).all():
        raise ValueError("vectors contain NaN or infinity")
    if len(np.unique(ids)) == len(ids):
        return ids, vecs
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - first_from_end)
    return ids[keep], vecs[keep]
