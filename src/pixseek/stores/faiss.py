"""FAISS vector store: one ``vectors.faiss`` file, exact while small, IVF-SQ8 once large.

- Up to ``ann_threshold`` vectors (default 100 000): ``IndexIDMap2(IndexFlatIP)``, exact.
- When an ``add`` takes the count past the threshold, the store trains an IVF index with 8-bit
  scalar quantisation (``IndexIVFScalarQuantizer``, residual encoding, 512 bytes per vector at
  d=512) on the vectors it holds, moves them over, and calibrates ``nprobe`` on a sample of them.
  The file itself records the choice (its index type, ``nlist`` and ``nprobe``), so nothing else is
  persisted. It never goes back to flat.

At 1M x 512 on 2 cores (``bench/search_latency.py``) the IVF index is a 524 MB file (545 MB
resident once opened) and answers one query in ~1.2 ms (p50; exact flat search: ~95 ms) with
recall@10 ~0.96 against exact search. That ceiling comes from the 8-bit codes, not from probing
too few lists: on that data nprobe 8 or 64 give the same recall. Range search and filtered
search on this path are approximate in the same way (they probe ``nprobe`` lists, more when a
filter leaves fewer than ``k`` results). Migration (k-means over ~131k vectors into 2048 lists)
takes ~30-60 s once, inside the ``add`` that crosses the threshold.

The id bookkeeping (sorted ids, plus the inverted list of each id on the IVF path) lives in
numpy arrays, so ``ids()``, ``len()`` and the upsert membership test cost no index scan, and the
IVF index needs no FAISS direct map (a hash table of ~40 bytes per vector) for ``get``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
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
        self._backend: _Flat | _Ivf | None
        if self.path.exists():
            self._backend = _load(self.path, self.dim)
        else:
            self._backend = _Flat.empty(self.dim)
        if nprobe is not None and isinstance(self._backend, _Ivf):
            self._backend.set_nprobe(nprobe)

    # -- introspection -------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"ivf_sq8"``."""
        return self._live().kind

    def describe(self) -> str:
        """One line naming the index and its parameters, e.g. ``IVF2048,SQ8 nprobe=16``."""
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
                self._backend = _Ivf.from_flat(backend, ids, vecs, self._nprobe_override)
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
        with self._lock:
            backend = self._live()
            if not self._dirty and self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_index(backend.index, self.path)
            self._dirty = False

    def close(self) -> None:
        with self._lock:
            self._backend = None

    def destroy(self) -> None:
        """Delete the file (and any temp file a killed save left), then close."""
        with self._lock:
            self._backend = None
            if self.path.parent.is_dir():
                for name in os.listdir(self.path.parent):
                    if name == self.path.name or (name.startswith(f".{self.path.name}.") and name.endswith(".tmp")):
                        os.remove(self.path.parent / name)

    # -- helpers -------------------------------------------------------------------------------

    def _live(self) -> _Flat | _Ivf:
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
    """Sorted unique ids, each with an int32 tag (its IVF list; unused on the flat path).

    Arrays are replaced, never written in place, so ``ids`` can be handed out without copying.
    """

    def __init__(self, ids: np.ndarray | None = None, tags: np.ndarray | None = None) -> None:
        ids = np.empty(0, np.int64) if ids is None else ids.astype(np.int64)
        tags = np.zeros(len(ids), np.int32) if tags is None else tags.astype(np.int32)
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
        tags = np.zeros(len(ids), np.int32) if tags is None else tags.astype(np.int32)
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

    @classmethod
    def from_flat(
        cls, flat: _Flat, ids: np.ndarray, vecs: np.ndarray, nprobe: int | None
    ) -> _Ivf:
        """Train on the flat index's vectors plus the new ones (which replace old copies of
        their ids), then move them all over. The flat index is left untouched."""
        old_ids, old_vecs = flat.all_vectors()
        replaced = np.isin(old_ids, ids)
        if replaced.any():
            old_ids, old_vecs = old_ids[~replaced], old_vecs[~replaced]
        n = len(old_ids) + len(ids)
        nlist = _nlist_for(n)
        spec = f"IVF{nlist},SQ8"  # residuals are encoded (by_residual)
        index = faiss.index_factory(flat.index.d, spec, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10  # the default 25 costs 2.5x the time; k-means converges by ~8 here
        all_ids = np.concatenate([old_ids, ids])
        all_vecs = np.concatenate([old_vecs, vecs])
        rng = np.random.default_rng(0)
        train = rng.choice(n, min(n, MAX_TRAIN_PER_LIST * nlist), replace=False)
        index.train(all_vecs[np.sort(train)])
        ivf = cls(index, _IdSet())
        ivf.add(all_ids, all_vecs)
        if nprobe is None:
            sample = rng.choice(n, min(n, CALIBRATION_QUERIES), replace=False)
            nprobe = ivf.calibrate_nprobe(all_vecs[sample], all_ids[sample])
        ivf.set_nprobe(nprobe)
        return ivf

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
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k, filtered inside the scan when ``allowed`` is given.

        A query that finds fewer than ``k`` (allowed) vectors in its probed lists is repeated
        with twice as many lists, up to all of them, so ``k`` come back whenever ``k`` exist.
        A selective filter starts with enough lists to expect ``4 k`` allowed candidates.
        """
        nprobe = int(self.index.nprobe)
        selector = None
        want = min(k, len(self))
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
            want = min(k, len(allowed))
            expected_per_list = len(allowed) / self.nlist
            nprobe = max(nprobe, min(self.nlist, int(np.ceil(4 * k / expected_per_list))))
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


# -- functions ---------------------------------------------------------------------------------


def _load(path: Path, dim: int) -> _Flat | _Ivf:
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as err:
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
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return _Ivf(index)
    raise StoreError(f"vector index {path} is a {type(index).__name__}, which pixseek does not use")


def _atomic_write_index(index: faiss.Index, path: Path) -> None:
    """Temp file in the same folder, fsync, rename over ``path``, fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
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
