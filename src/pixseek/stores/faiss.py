"""FAISS vector store: one ``vectors.faiss`` file, exact while small; once large, compressed codes
in memory whose candidates are re-ranked with the exact vectors, read from disk.

- Up to ``ann_threshold`` vectors (default 100 000): ``IndexIDMap2(IndexFlatIP)``, exact.
- When an ``add`` takes the count past the threshold, the store trains an IVF index with 4-bit
  scalar quantisation of the residuals (``IndexIVFScalarQuantizer``, 256 bytes per vector at
  d=512) on the vectors it holds, moves them over, and calibrates ``nprobe`` on a sample of them.
  The exact float32 vectors go to two append-only *row files* beside it,
  ``vectors.faiss.g<N>.vecs`` and ``.ids`` (``_RowFile``); the IVF index stores row numbers. A
  search takes the best ``max(128, 8 k)`` candidates by their codes, reads their rows with
  ``pread`` (page cache, not process memory) and returns the top ``k`` by exact score, so scores
  are exact and ``get`` returns the vectors as added. Range search does the same with candidates
  within ``RANGE_MARGIN`` of the radius. It never goes back to flat.

Crash safety: rows are appended (an upsert writes a new row, a removal leaves a dead one) and
fsynced before the index file is replaced atomically; the index file starts with a one-line header
naming the row files' generation, so rows written after the last save are simply unreferenced. A
save that finds more dead rows than live ones (and over ``COMPACT_MIN_DEAD``) first copies the live
rows into generation N+1 and re-fills the index from them (same training, no k-means); the old
generation is deleted only after the new index file is in place. An IVF-SQ8 file from before (no
row files; ``kind == "ivf_sq8"``) opens and searches as it did, and ``upgrade`` (called by the
``StoreKeeper`` on open, with the catalogue's vectors) turns it into the refined kind once.

At 1M x 512 on 2 cores (``bench/search_latency.py``; the figures are in docs/performance.md) the
refined index holds ~270 MB in memory and 2 GB of row files on disk; the IVF-SQ8 index it replaces
reached recall@10 ~0.96 (a ceiling set by its 8-bit codes) with 524 MB in memory. Migration
(k-means over up to 262k vectors into up to 4096 lists) runs once, inside the ``add`` that crosses
the threshold.

The id bookkeeping (sorted ids, plus each id's row on the refined path or its inverted list on the
IVF-SQ8 one) lives in numpy arrays, so ``ids()``, ``len()`` and the upsert membership test cost no
index scan, and no FAISS direct map (a hash table of ~40 bytes per vector) is needed for ``get``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from pixseek.stores.base import (StoreError, VectorStore, as_ids, as_vectors, empty_results, search_queries,
                                 upsert_batch)

FILE_NAME = "vectors.faiss"
ANN_THRESHOLD = 100_000
# A filter naming at most this many ids is answered by scoring their vectors directly: exact,
# complete, and cheaper than a filtered scan (flat: also at most 1/8 of the index).
FILTER_DIRECT_MAX = 1_000
# Queries per call from which searches use every core; below it one thread is faster
# (OpenMP start-up and oversubscription cost more than the work itself).
PARALLEL_MIN_QUERIES = 16
MAX_NLIST = 4096
MIN_TRAIN_PER_LIST = 39  # below this FAISS warns that k-means is under-trained
MAX_TRAIN_PER_LIST = 64  # k-means cost grows with the sample; more buys no measurable recall
MIN_NPROBE = 16
CALIBRATION_QUERIES = 128
CALIBRATION_TARGET = 0.99  # recall@10 of the probed lists against probing all of them
ADD_BATCH = 65_536
# The refined IVF (``_Refined``): codes in memory, exact vectors on disk for re-ranking.
REFINED_CODES = "SQ4"  # 4-bit residual codes: enough to put the true top 10 in the top 128
REFINE_MIN = 128  # candidates re-ranked per query, at least ...
REFINE_FACTOR = 8  # ... and this many per result asked for
RANGE_MARGIN = 0.05  # range search takes candidates this far below the radius by their codes
COMPACT_MIN_DEAD = 10_000  # a save rewrites the row files when dead rows pass this and the live ones
REFINED_MAGIC = b"PIXSEEK-REFINED\n"


class FaissStore(VectorStore):
    """A ``VectorStore`` in one FAISS file.

    ``path`` is a folder (the file is ``path / "vectors.faiss"``) or a file ending in ``.faiss``.
    Nothing is written until ``save()``.

    Example::

        store = FaissStore(tmp_path, dim=512)
        store.add(np.arange(3), vecs)
        scores, ids = store.search(vecs[:1], k=2)
        store.save()
    """

    def __init__(
        self,
        path: str | Path,
        dim: int,
        *,
        ann_threshold: int = ANN_THRESHOLD,
        nprobe: int | None = None,
        threads: int | None = None,
        id_range: tuple[int, int] | None = None,
    ) -> None:
        path = Path(path)
        self.path = path if path.suffix == ".faiss" or path.is_file() else path / FILE_NAME
        self.dim = int(dim)
        self.ann_threshold = int(ann_threshold)
        self.id_range = (int(id_range[0]), int(id_range[1])) if id_range else None
        self.threads = threads or len(os.sched_getaffinity(0))
        self._nprobe_override = nprobe
        self._lock = threading.RLock()
        self._dirty = False
        self._backend: _Flat | _Ivf | _Refined | None
        if self.path.exists():
            self._backend = _load(self.path, self.dim)
        else:
            self._backend = _Flat.empty(self.dim)
        if nprobe is not None and isinstance(self._backend, _Ivf):
            self._backend.set_nprobe(nprobe)

    # -- introspection -------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"flat"`` (exact), ``"ivf_refined"`` (IVF-SQ4 re-ranked with exact vectors), or
        ``"ivf_sq8"`` (an index from before re-ranking, until ``upgrade``)."""
        return self._live().kind

    def describe(self) -> str:
        """One line naming the index and its parameters, e.g. ``IVF2048,SQ4 nprobe=16 + exact re-rank``."""
        return self._live().describe()

    # -- VectorStore ---------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids, vecs = upsert_batch(ids, vecs, self.dim)
        self.require_scope(ids)
        if not len(ids):
            return
        with self._lock, _omp_threads(self.threads):
            backend = self._live()
            present = ids[backend.idset.contains(ids)]
            count = len(backend) - len(present) + len(ids)
            if isinstance(backend, _Flat) and count > self.ann_threshold:
                # built aside and swapped in: a failure leaves the flat index as it was
                all_ids, all_vecs = _flat_plus(backend, ids, vecs)
                self._backend = _Refined.build(self.path, self.dim, all_ids, all_vecs, self._nprobe_override)
            else:
                if len(present):
                    backend.remove(present)
                backend.add(ids, vecs)
            self._dirty = True

    def remove(self, ids: np.ndarray) -> int:
        ids = np.unique(as_ids(ids))
        ids = ids[self.in_scope(ids)]
        with self._lock, _omp_threads(self.threads):
            backend = self._live()
            present = ids[backend.idset.contains(ids)]
            if len(present):
                backend.remove(present)
                self._dirty = True
            return len(present)

    def search(
        self, queries: np.ndarray, k: int, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = search_queries(queries, k, self.dim)
        with self._lock, _omp_threads(self._threads_for(len(queries))):
            backend = self._live()
            if filter_ids is None:
                if not len(backend) or not k:
                    return empty_results(len(queries), k)
                return _pad(*backend.search(queries, k))
            allowed = np.unique(as_ids(filter_ids))
            allowed = allowed[backend.idset.contains(allowed)]
            if not len(allowed) or not k:
                return empty_results(len(queries), k)
            if len(allowed) <= max(k, FILTER_DIRECT_MAX) and (
                backend.kind != "flat" or len(allowed) <= len(backend) // 8
            ):
                return _top_k(queries, backend.get(allowed), allowed, k)
            return _pad(*backend.search(queries, k, allowed))

    def range_search(
        self, queries: np.ndarray, min_score: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        queries = as_vectors(queries, self.dim)
        with self._lock, _omp_threads(self._threads_for(len(queries))):
            backend = self._live()
            if not len(backend):
                empty = (np.empty(0, np.int64), np.empty(0, np.float32))
                return [empty for _ in range(len(queries))]
            # FAISS keeps scores strictly above the radius; we promise >= min_score.
            radius = float(np.nextafter(np.float32(min_score), np.float32(-np.inf)))
            lims, scores, ids = backend.range_search(queries, radius)
        out = []
        for i in range(len(queries)):
            s, d = scores[lims[i] : lims[i + 1]], ids[lims[i] : lims[i + 1]]
            keep = s >= min_score
            s, d = s[keep], d[keep]
            order = np.argsort(-s, kind="stable")
            out.append((d[order].astype(np.int64), s[order].astype(np.float32)))
        return out

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._live().idset.ids

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = as_ids(ids)
        with self._lock:
            backend = self._live()
            missing = ids[~backend.idset.contains(ids)]
            if len(missing):
                raise KeyError(f"{len(missing)} ids not in the store, e.g. {missing[:5].tolist()}")
            return backend.get(ids)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live())

    def save(self) -> None:
        """Write the index atomically. A refined index first fsyncs its row files (and rewrites
        them when more than half are dead); the row files of other generations go afterwards."""
        with self._lock:
            backend = self._live()
            if not self._dirty and self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header, keep_gen = b"", None
            if isinstance(backend, _Refined):
                if backend.dead_rows > max(COMPACT_MIN_DEAD, len(backend)):
                    with _omp_threads(self.threads):
                        self._backend, old = backend.compacted(), backend
                    old.close()
                    backend = self._backend
                backend.rows.sync()
                header, keep_gen = backend.header(), backend.rows.gen
            _atomic_write_index(backend.index, self.path, header)
            for stale in _RowFile.stale(self.path, keep_gen):
                stale.unlink(missing_ok=True)
            self._dirty = False

    def upgrade(self, vectors_of: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Turn an IVF-SQ8 index from before exact re-ranking into a refined one, with the exact
        vectors ``vectors_of(ids)`` gives (the catalogue's), and save it. ``False``: nothing to do."""
        with self._lock:
            backend = self._live()
            if not isinstance(backend, _Ivf) or isinstance(backend, _Refined):
                return False
            ids = backend.idset.ids
            vecs = np.empty((len(ids), self.dim), np.float32)
            for start in range(0, len(ids), ADD_BATCH):
                vecs[start : start + ADD_BATCH] = vectors_of(ids[start : start + ADD_BATCH])
            with _omp_threads(self.threads):
                self._backend = _Refined.build(self.path, self.dim, ids, vecs, self._nprobe_override)
            self._dirty = True
            self.save()
            return True

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
            self._backend = None

    def destroy(self) -> None:
        """Delete the file, its row files (and any temp file a killed save left), then close."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
            self._backend = None
            if self.path.parent.is_dir():
                for name in os.listdir(self.path.parent):
                    if name == self.path.name or (name.startswith(f".{self.path.name}.") and name.endswith(".tmp")):
                        os.remove(self.path.parent / name)
            for stale in _RowFile.stale(self.path, None):
                stale.unlink(missing_ok=True)

    # -- helpers -------------------------------------------------------------------------------

    def _live(self) -> _Flat | _Ivf | _Refined:
        if self._backend is None:
            raise StoreError(f"vector store {self.path} is closed")
        return self._backend

    def _threads_for(self, n_queries: int) -> int:
        return self.threads if n_queries >= PARALLEL_MIN_QUERIES else 1

    def __repr__(self) -> str:
        state = "closed" if self._backend is None else f"{len(self)} vectors, {self.describe()}"
        return f"FaissStore({str(self.path)!r}, dim={self.dim}, {state})"


# -- id bookkeeping ----------------------------------------------------------------------------


class _IdSet:
    """Sorted unique ids, each with a tag (its row in the refine file; unused on the flat path).

    Arrays are replaced, never written in place, so ``ids`` can be handed out without copying.
    """

    def __init__(self, ids: np.ndarray | None = None, tags: np.ndarray | None = None,
                 tag_dtype: type = np.int32) -> None:
        ids = np.empty(0, np.int64) if ids is None else ids.astype(np.int64)
        self.tag_dtype = tag_dtype
        tags = np.zeros(len(ids), tag_dtype) if tags is None else tags.astype(tag_dtype)
        order = np.argsort(ids, kind="stable")
        self.ids, self.tags = _frozen(ids[order]), _frozen(tags[order])

    def __len__(self) -> int:
        return len(self.ids)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, ids)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        pos = self._positions(ids)
        inside = pos < len(self.ids)
        found = np.zeros(len(ids), bool)
        found[inside] = self.ids[pos[inside]] == ids[inside]
        return found

    def tags_of(self, ids: np.ndarray) -> np.ndarray:
        """Tags of ids known to be present."""
        return self.tags[self._positions(ids)]

    def insert(self, ids: np.ndarray, tags: np.ndarray | None = None) -> None:
        """Insert ids known to be absent (and unique)."""
        tags = np.zeros(len(ids), self.tag_dtype) if tags is None else tags.astype(self.tag_dtype)
        order = np.argsort(ids, kind="stable")
        ids, tags = ids[order], tags[order]
        pos = self._positions(ids)
        self.ids = _frozen(np.insert(self.ids, pos, ids))
        self.tags = _frozen(np.insert(self.tags, pos, tags))

    def delete(self, ids: np.ndarray) -> None:
        """Delete ids known to be present."""
        pos = self._positions(ids)
        self.ids = _frozen(np.delete(self.ids, pos))
        self.tags = _frozen(np.delete(self.tags, pos))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# -- index back ends ---------------------------------------------------------------------------


class _Backend:
    """What the two index kinds share: a FAISS index and the set of ids in it."""

    index: faiss.Index
    idset: _IdSet

    def __len__(self) -> int:
        return len(self.idset)

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(faiss.IDSelectorBatch(ids))
        self.idset.delete(ids)

    def close(self) -> None:
        """Release what the back end holds besides memory (the refined index's open files)."""


class _Flat(_Backend):
    """Exact search: ``IndexIDMap2(IndexFlatIP)``."""

    kind = "flat"

    def __init__(self, index: faiss.IndexIDMap2) -> None:
        self.index = index
        self.flat = faiss.downcast_index(index.index)
        self.idset = _IdSet(faiss.vector_to_array(index.id_map))

    @classmethod
    def empty(cls, dim: int) -> _Flat:
        return cls(faiss.index_factory(dim, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT))

    def describe(self) -> str:
        return "Flat (exact)"

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.index.add_with_ids(vecs, ids)
        self.idset.insert(ids)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return self.index.search(queries, k)
        selector = faiss.IDSelectorBatch(allowed)
        return self.index.search(queries, k, params=faiss.SearchParameters(sel=selector))

    def range_search(
        self, queries: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.index.range_search(queries, radius)

    def get(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(ids)

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` in storage order; the vectors are a view of the index memory."""
        n, d = self.index.ntotal, self.index.d
        vecs = faiss.rev_swig_ptr(self.flat.get_xb(), n * d).reshape(n, d)
        return faiss.vector_to_array(self.index.id_map), vecs


class _Ivf(_Backend):
    """Approximate search: IVF with 8-bit scalar-quantised residuals, inner product."""

    kind = "ivf_sq8"

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, idset: _IdSet | None = None) -> None:
        self.index = index
        self.invlists = index.invlists
        self.idset = idset if idset is not None else _IdSet(*self._scan_lists())

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    def describe(self) -> str:
        return f"IVF{self.nlist},SQ8 nprobe={self.index.nprobe}"

    def set_nprobe(self, nprobe: int) -> None:
        self.index.nprobe = int(min(max(nprobe, 1), self.nlist))

    def calibrate_nprobe(self, queries: np.ndarray, query_ids: np.ndarray) -> int:
        """Smallest nprobe (power of two, at least ``MIN_NPROBE``) keeping recall@10 against
        probing every list at ``CALIBRATION_TARGET``, doubled as a margin for later drift."""
        k = 11  # each query is in the index: drop itself, keep 10
        _, ref = self._search(queries, k, self.nlist)
        nprobe = 1
        while nprobe < self.nlist:
            _, got = self._search(queries, k, nprobe)
            if _recall(got, ref, query_ids) >= CALIBRATION_TARGET:
                break
            nprobe *= 2
        return min(self.nlist, max(MIN_NPROBE, 2 * nprobe))

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            x = np.ascontiguousarray(vecs[start : start + ADD_BATCH])
            xids = np.ascontiguousarray(ids[start : start + ADD_BATCH])
            # assign ourselves so that we know each vector's list (our direct map)
            _, lists = self.index.quantizer.search(x, 1)
            lists = np.ascontiguousarray(lists.ravel())
            self.index.add_core(
                len(x), faiss.swig_ptr(x), faiss.swig_ptr(xids), faiss.swig_ptr(lists)
            )
            self.idset.insert(xids, lists)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, want: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k, filtered inside the scan when ``allowed`` is given.

        A query that finds fewer than ``want`` (default ``k``) allowed vectors in its probed lists
        is repeated with twice as many lists, up to all of them, so ``want`` come back whenever
        they exist. A selective filter starts with enough lists to expect ``4 want`` candidates.
        """
        nprobe = int(self.index.nprobe)
        selector = None
        want_k = k if want is None else want
        want = min(want_k, len(self))
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
            want = min(want_k, len(allowed))
            expected_per_list = len(allowed) / self.nlist
            nprobe = max(nprobe, min(self.nlist, int(np.ceil(4 * want_k / expected_per_list))))
        scores, ids = self._search(queries, k, nprobe, selector)
        short = np.flatnonzero((ids >= 0).sum(axis=1) < want)
        while len(short) and nprobe < self.nlist:
            nprobe = min(self.nlist, nprobe * 2)
            scores[short], ids[short] = self._search(queries[short], k, nprobe, selector)
            short = short[(ids[short] >= 0).sum(axis=1) < want]
        return scores, ids

    def range_search(
        self, queries: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.index.range_search(queries, radius)

    def get(self, ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(ids), self.index.d), np.float32)
        lists = self.idset.tags_of(ids)
        for list_no in np.unique(lists):
            rows = np.flatnonzero(lists == list_no)
            list_ids = self._list_ids(int(list_no))
            order = np.argsort(list_ids)
            offsets = order[np.searchsorted(list_ids, ids[rows], sorter=order)]
            for row, offset in zip(rows, offsets):
                self.index.reconstruct_from_offset(
                    int(list_no), int(offset), faiss.swig_ptr(out[row])
                )
        return out

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        nprobe: int,
        selector: faiss.IDSelector | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        if selector is not None:
            params.sel = selector
        return self.index.search(queries, k, params=params)

    def _list_ids(self, list_no: int) -> np.ndarray:
        n = self.invlists.list_size(list_no)
        if not n:
            return np.empty(0, np.int64)
        return faiss.rev_swig_ptr(self.invlists.get_ids(list_no), n).copy()

    def _scan_lists(self) -> tuple[np.ndarray, np.ndarray]:
        per_list = [self._list_ids(i) for i in range(self.nlist)]
        tags = np.repeat(np.arange(self.nlist, dtype=np.int32), [len(a) for a in per_list])
        return np.concatenate(per_list) if per_list else np.empty(0, np.int64), tags


# -- the refined IVF: compressed codes in memory, exact vectors on disk ------------------------


class _RowFile:
    """The exact vectors of a refined index, on disk: ``<index>.g<gen>.vecs`` (float32 rows) and
    ``<index>.g<gen>.ids`` (the store id of each row, int64). Rows are only ever appended (an
    upsert writes a new row; a removal leaves a dead one), so a save never rewrites them; the index
    file, saved atomically, names the generation and holds the live rows, so rows appended after
    the last save are simply unreferenced after a crash. ``compact`` writes a new generation.

    Rows are read with ``pread`` rather than mapped: the page cache holds them, and they do not
    count in the process's resident memory. A read first asks the kernel for all its rows
    (``POSIX_FADV_WILLNEED``), so that a cold cache costs one round of parallel disk reads, not one
    per row.
    """

    def __init__(self, index_path: Path, gen: int, dim: int, *, create: bool = False) -> None:
        self.index_path, self.gen, self.dim = index_path, int(gen), int(dim)
        self.row_bytes = 4 * self.dim
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        try:
            self.vec_fd = os.open(self.vecs_path, flags, 0o644)
            self.id_fd = os.open(self.ids_path, flags, 0o644)
        except FileNotFoundError as err:
            raise StoreError(f"the exact vectors of {index_path} are missing ({err.filename}): "
                             "the index must be rebuilt") from err
        n_ids = os.fstat(self.id_fd).st_size // 8
        n_vecs = os.fstat(self.vec_fd).st_size // self.row_bytes
        # a crash can leave a partly written tail: new rows go after the longest of the two
        self.next_row = max(n_ids, n_vecs)
        self.row_ids = np.zeros(self.next_row, np.int64)
        have = min(n_ids, n_vecs)
        if have:
            self.row_ids[:have] = np.frombuffer(os.pread(self.id_fd, 8 * have, 0), np.int64)

    @staticmethod
    def paths(index_path: Path, gen: int) -> tuple[Path, Path]:
        stem = f"{index_path.name}.g{gen}"
        return index_path.parent / f"{stem}.vecs", index_path.parent / f"{stem}.ids"

    @property
    def vecs_path(self) -> Path:
        return self.paths(self.index_path, self.gen)[0]

    @property
    def ids_path(self) -> Path:
        return self.paths(self.index_path, self.gen)[1]

    def append(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Write rows for ``ids``; return their row numbers."""
        start = self.next_row
        vecs = np.ascontiguousarray(vecs, np.float32)
        ids = np.ascontiguousarray(ids, np.int64)
        _pwrite_all(self.vec_fd, vecs.tobytes(), start * self.row_bytes)
        _pwrite_all(self.id_fd, ids.tobytes(), start * 8)
        self.next_row = start + len(ids)
        self.row_ids = np.concatenate([self.row_ids[:start], ids])
        return np.arange(start, self.next_row, dtype=np.int64)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of ``rows`` (any order, repeats allowed); adjacent rows are read together."""
        out = np.empty((len(rows), self.dim), np.float32)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        runs = np.split(np.arange(len(rows)), breaks)
        if len(runs) > 1 and _WILLNEED is not None:
            # Ask for every run first: the disk reads them in parallel (one query's 128 rows from a
            # cold cache: ~2 ms instead of ~50 ms of one-by-one reads on this machine).
            for run in runs:
                first, last = int(sorted_rows[run[0]]), int(sorted_rows[run[-1]])
                os.posix_fadvise(self.vec_fd, first * self.row_bytes, (last - first + 1) * self.row_bytes, _WILLNEED)
        for run in runs:
            first, count = int(sorted_rows[run[0]]), len(run)
            if count > 1 and sorted_rows[run[-1]] != first + count - 1:  # repeats inside a run
                for i in run:
                    out[order[i]] = self.read(sorted_rows[i : i + 1])[0]
                continue
            data = os.pread(self.vec_fd, count * self.row_bytes, first * self.row_bytes)
            if len(data) != count * self.row_bytes:
                raise StoreError(f"{self.vecs_path} is shorter than its index says: rebuild the index")
            out[order[run]] = np.frombuffer(data, np.float32).reshape(count, self.dim)
        return out

    def sync(self) -> None:
        os.fsync(self.vec_fd)
        os.fsync(self.id_fd)

    def close(self) -> None:
        for fd in (self.vec_fd, self.id_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    @classmethod
    def stale(cls, index_path: Path, keep_gen: int | None) -> list[Path]:
        """Row files of other generations (left by a compaction or a killed save)."""
        prefix = f"{index_path.name}.g"
        out = []
        if index_path.parent.is_dir():
            for name in os.listdir(index_path.parent):
                if name.startswith(prefix) and name.endswith((".vecs", ".ids")):
                    gen = name[len(prefix):].split(".", 1)[0]
                    if not gen.isdigit() or int(gen) != keep_gen:
                        out.append(index_path.parent / name)
        return out

    @classmethod
    def next_gen(cls, index_path: Path, current: int = 0) -> int:
        gens = [current]
        for p in cls.stale(index_path, None):
            gen = p.name[len(index_path.name) + 2:].split(".", 1)[0]
            if gen.isdigit():
                gens.append(int(gen))
        return max(gens) + 1


_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None) if hasattr(os, "posix_fadvise") else None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


class _Refined(_Ivf):
    """IVF with 4-bit scalar-quantised residuals in memory (256 bytes per vector at d=512) whose
    candidates are re-ranked with the exact float32 vectors read from a ``_RowFile``.

    The IVF index stores row numbers, not store ids; ``idset`` maps each store id to its live row.
    Search takes the top ``max(REFINE_MIN, REFINE_FACTOR * k)`` candidates by their codes and
    returns the top ``k`` by exact score, so scores are exact and ``get`` returns the vectors as
    added.
    """

    kind = "ivf_refined"

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, rows: _RowFile,
                 idset: _IdSet | None = None) -> None:
        self.index = index
        self.invlists = index.invlists
        self.rows = rows
        if idset is None:
            live, _ = self._scan_lists()
            live = np.sort(live)
            if len(live) and live[-1] >= rows.next_row:
                raise StoreError(f"{rows.ids_path} is shorter than its index says: rebuild the index")
            idset = _IdSet(rows.row_ids[live], live, tag_dtype=np.int64)
        self.idset = idset

    @classmethod
    def build(cls, index_path: Path, dim: int, ids: np.ndarray, vecs: np.ndarray,
              nprobe: int | None) -> _Refined:
        """Train a new index (k-means on a sample) on ``vecs`` and add them, in a new generation
        of row files (none of which the saved index references until the next save)."""
        n = len(ids)
        nlist = _nlist_for(n)
        index = faiss.index_factory(dim, f"IVF{nlist},{REFINED_CODES}", faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10  # the default 25 costs 2.5x the time; k-means converges by ~8 here
        rng = np.random.default_rng(0)
        train = rng.choice(n, min(n, MAX_TRAIN_PER_LIST * nlist), replace=False)
        index.train(vecs[np.sort(train)])
        gen = _RowFile.next_gen(index_path)
        refined = cls(index, _RowFile(index_path, gen, dim, create=True), _IdSet(tag_dtype=np.int64))
        refined.add(ids, vecs)
        if nprobe is None:
            sample = rng.choice(n, min(n, CALIBRATION_QUERIES), replace=False)
            nprobe = refined.calibrate_nprobe(vecs[sample], refined.idset.tags_of(ids[sample]))
        refined.set_nprobe(nprobe)
        return refined

    def describe(self) -> str:
        return f"IVF{self.nlist},{REFINED_CODES} nprobe={self.index.nprobe} + exact re-rank"

    @property
    def dead_rows(self) -> int:
        return self.rows.next_row - len(self)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            x = np.ascontiguousarray(vecs[start : start + ADD_BATCH], np.float32)
            xids = np.ascontiguousarray(ids[start : start + ADD_BATCH])
            rows = self.rows.append(xids, x)
            self.index.add_with_ids(x, rows)
            self.idset.insert(xids, rows)

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(faiss.IDSelectorBatch(self.idset.tags_of(ids)))
        self.idset.delete(ids)

    def get(self, ids: np.ndarray) -> np.ndarray:
        return self.rows.read(self.idset.tags_of(ids))

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        depth = max(REFINE_MIN, REFINE_FACTOR * k)
        allowed_rows = None if allowed is None else self.idset.tags_of(allowed)
        _, cand = super().search(queries, depth, allowed_rows, want=k)
        return self._rerank(queries, cand, k)

    def range_search(
        self, queries: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates within ``RANGE_MARGIN`` of the radius by their codes, kept by exact score."""
        lims, _, cand = self.index.range_search(queries, radius - RANGE_MARGIN)
        vecs = self.rows.read(cand)
        out_lims, out_scores, out_ids = [0], [], []
        for i, q in enumerate(queries):
            lo, hi = lims[i], lims[i + 1]
            scores = vecs[lo:hi] @ q
            keep = scores > radius
            out_scores.append(scores[keep])
            out_ids.append(self.rows.row_ids[cand[lo:hi][keep]])
            out_lims.append(out_lims[-1] + int(keep.sum()))
        return (np.array(out_lims), np.concatenate(out_scores) if out_scores else np.empty(0, np.float32),
                np.concatenate(out_ids) if out_ids else np.empty(0, np.int64))

    def _rerank(self, queries: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out_scores, out_ids = empty_results(len(queries), k)
        valid = cand >= 0
        unique_rows, inverse = np.unique(cand[valid], return_inverse=True)
        vecs = self.rows.read(unique_rows)
        where = np.full(cand.shape, -1, np.int64)
        where[valid] = inverse
        for i, q in enumerate(queries):
            pos = where[i][where[i] >= 0]
            if not len(pos):
                continue
            rows = unique_rows[pos]
            scores, top = _top_k(q[None, :], vecs[pos], rows, k)
            out_scores[i] = scores[0]
            found = top[0] >= 0
            out_ids[i, found] = self.rows.row_ids[top[0][found]]
        return out_scores, out_ids

    def compacted(self) -> _Refined:
        """The live rows copied in order into a new generation, with an index re-filled from them
        (same training, no k-means). Nothing the saved index references is touched."""
        gen = _RowFile.next_gen(self.index_path, self.rows.gen)
        index = faiss.clone_index(self.index)
        index.reset()
        fresh = _Refined(index, _RowFile(self.index_path, gen, self.index.d, create=True),
                         _IdSet(tag_dtype=np.int64))
        fresh.set_nprobe(int(self.index.nprobe))
        ids, rows = self.idset.ids, self.idset.tags
        order = np.argsort(rows, kind="stable")  # keep the file order: reads stay sequential
        for start in range(0, len(ids), ADD_BATCH):
            part = order[start : start + ADD_BATCH]
            fresh.add(ids[part], self.rows.read(rows[part]))
        return fresh

    @property
    def index_path(self) -> Path:
        return self.rows.index_path

    def header(self) -> bytes:
        meta = {"format": "pixseek-refined", "version": 1, "gen": self.rows.gen}
        return REFINED_MAGIC + json.dumps(meta).encode() + b"\n"

    def close(self) -> None:
        self.rows.close()


# -- functions ---------------------------------------------------------------------------------


def _load(path: Path, dim: int) -> _Flat | _Ivf | _Refined:
    meta = None
    try:
        with open(path, "rb") as f:
            if f.read(len(REFINED_MAGIC)) == REFINED_MAGIC:
                meta = json.loads(f.readline())
                index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
            else:
                index = faiss.read_index(str(path))
    except (RuntimeError, ValueError) as err:
        raise StoreError(f"cannot read vector index {path}: {str(err).splitlines()[0]}") from err
    if index.d != dim:
        raise StoreError(
            f"vector index {path} holds {index.d}-d vectors, but the encoder makes {dim}-d ones"
        )
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise StoreError(f"vector index {path} does not use inner product")
    if isinstance(index, faiss.IndexIDMap2) and isinstance(
        faiss.downcast_index(index.index), faiss.IndexFlat
    ):
        return _Flat(index)
    if isinstance(index, faiss.IndexIVFScalarQuantizer) and meta is not None:
        return _Refined(index, _RowFile(path, int(meta["gen"]), dim))
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return _Ivf(index)  # from before exact re-ranking: FaissStore.upgrade makes it refined
    raise StoreError(f"vector index {path} is a {type(index).__name__}, which pixseek does not use")


def _atomic_write_index(index: faiss.Index, path: Path, header: bytes = b"") -> None:
    """``header`` then the index into a temp file in the same folder, fsync, rename over ``path``,
    fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _flat_plus(flat: _Flat, ids: np.ndarray, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flat index's ids and vectors with ``ids, vecs`` added (replacing older copies)."""
    old_ids, old_vecs = flat.all_vectors()
    replaced = np.isin(old_ids, ids)
    if replaced.any():
        old_ids, old_vecs = old_ids[~replaced], old_vecs[~replaced]
    return np.concatenate([old_ids, ids]), np.concatenate([old_vecs, vecs])


def _nlist_for(n: int) -> int:
    """Largest power of two giving k-means ``MIN_TRAIN_PER_LIST`` points per list (2048 at 100k)."""
    nlist = 1
    while nlist * 2 * MIN_TRAIN_PER_LIST <= n and nlist * 2 <= MAX_NLIST:
        nlist *= 2
    return nlist


def _pad(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAISS pads with id -1 and score -FLT_MAX; the interface promises -inf."""
    scores = scores.astype(np.float32, copy=False)
    scores[ids < 0] = -np.inf
    return scores, ids.astype(np.int64, copy=False)


def _top_k(
    queries: np.ndarray, vecs: np.ndarray, ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``queries`` against a small candidate set."""
    scores = queries @ vecs.T
    out_scores, out_ids = empty_results(len(queries), k)
    kk = min(k, len(ids))
    if kk < len(ids):
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(len(ids)), (len(queries), len(ids)))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    out_scores[:, :kk] = np.take_along_axis(part_scores, order, axis=1)
    out_ids[:, :kk] = ids[np.take_along_axis(part, order, axis=1)]
    return out_scores, out_ids


def _recall(got: np.ndarray, ref: np.ndarray, self_ids: np.ndarray) -> float:
    hits = total = 0
    for g, r, me in zip(got, ref, self_ids):
        r = r[(r != me) & (r >= 0)][:10]
        hits += len(np.intersect1d(g, r))
        total += len(r)
    return hits / total if total else 1.0


@contextmanager
def _omp_threads(n: int) -> Iterator[None]:
    """OpenMP thread count for this call (it is per calling thread, restored afterwards)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)
