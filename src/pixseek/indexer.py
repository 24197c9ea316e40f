"""The indexing pipeline: crawl -> diff against the catalogue -> read+hash+decode (threads) -> encode
-> catalogue (committed per batch) + vector store.

Order of writes per batch: the catalogue commits first (it is the source of truth and holds the
vectors), then the store is updated in memory and saved now and then. A kill at any instant leaves
a catalogue that is a consistent prefix of the run; ``Library`` reconciles the store with it on open.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog, FileRow, NewFile
from .crawl import crawl
from .encoders.base import Encoder
from .errors import ImageDecodeError
from .hashing import ImageHashes, perceptual_hashes
from .imaging import decode_image
from .stores.base import VectorStore
from .types import CrawlProblem, FileInfo, IndexReport, ProgressFn



@dataclass
class _Prepared:
    """What a worker made of one file: a tensor to encode, a known hash to reuse, or a reason."""

    info: FileInfo
    old: FileRow | None
    sha: str | None = None
    tensor: object | None = None
    reuse: bool = False
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    format: str | None = None
    hashes: ImageHashes | None = None  # perceptual hashes, for dedup


def _quietly(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # noqa: S110 (the caller meets the same error where it can report it)
        pass


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _prepare(info: FileInfo, old: FileRow | None, encoder: Encoder, known: frozenset[str],
             max_pixels: int | None, min_side: int | None) -> _Prepared:
    item = _Prepared(info, old)
    try:
        with open(info.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        item.reason = f"unreadable: {exc.strerror or exc}"
        return item
    if not data:
        item.reason = "empty file"
        return item
    item.sha = content_hash(data)
    if item.sha in known:
        item.reuse = True
        return item
    try:
        kwargs = {"min_side": min_side}
        if max_pixels is not None:
            kwargs["max_pixels"] = max_pixels
        decoded = decode_image(data, **kwargs)
        item.tensor = encoder.preprocess(decoded.image)
    except ImageDecodeError as exc:
        item.reason = str(exc)
        return item
    except Exception as exc:  # a broken file must never stop the run
        item.reason = f"corrupt: {type(exc).__name__}: {exc}"[:300]
        return item
    item.width, item.height = decoded.width, decoded.height
    item.taken_at, item.format = decoded.taken_at, decoded.format
    try:  # from the image already decoded: hashing here saves dedup a second decode
        item.hashes = perceptual_hashes(decoded.image)
    except Exception:  # dedup computes missing hashes itself; never fail a file for them
        item.hashes = None
    return item


class Indexer:
    """One run over ``roots``. ``encoder`` is a zero-argument callable so that a run with nothing
    new to encode never loads a model."""

    def __init__(self, catalog: Catalog, store: VectorStore, encoder: Callable[[], Encoder], *,
                 batch_size: int = 32, workers: int | None = None, include_hidden: bool = False,
                 max_pixels: int | None = None, exact_decode: bool = False, save_every_s: float = 60.0,
                 progress: ProgressFn | None = None,
                 on_problem: Callable[[CrawlProblem], None] | None = None,
                 file_filter: Callable[[str], bool] | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self._encoder_factory = encoder
        self.batch_size = max(1, batch_size)
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.include_hidden = include_hidden
        self.max_pixels = max_pixels
        self.exact_decode = exact_decode  # False: JPEG draft scaling down to the model's input size
        self.save_every_s = save_every_s
        self.progress = progress
        self.on_problem = on_problem
        self.file_filter = file_filter  # e.g. one shard's files (pixseek.shard)
        self.problems: list[CrawlProblem] = []

    def run(self, roots: Sequence[str]) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()

        def problem(p: CrawlProblem) -> None:
            self.problems.append(p)
            if self.on_problem:
                self.on_problem(p)

        files = list(crawl(roots, include_hidden=self.include_hidden, on_problem=problem))
        if self.file_filter is not None:
            files = [f for f in files if self.file_filter(f.path)]
        known = {row.path: row for row in self.catalog.rows_under(roots)}
        work: list[tuple[FileInfo, FileRow | None]] = []
        for info in files:
            old = known.pop(info.path, None)
            if old is not None and old.size == info.size and old.mtime_ns == info.mtime_ns:
                if old.status == "ok":
                    report.unchanged += 1
                else:
                    report.skipped += 1
                continue
            work.append((info, old))
        # Rows left in `known` are gone from disk, unless the crawl could not look where they are.
        blocked = tuple(p.path.rstrip(os.sep) + os.sep for p in self.problems)
        gone = [row for row in known.values() if not row.path.startswith(blocked)]

        if work:
            self._encode_all(work, report)
            drain = getattr(self._encoder_factory(), "drain_notes", None)
            if drain is not None:
                report.notes.extend(drain())
        if gone:
            ids = [row.id for row in gone]
            with self.catalog.transaction() as db:
                self.catalog.delete(db, ids)
            self.store.remove(np.asarray(ids, dtype=np.int64))
            report.removed = len(gone)
        if work or gone:
            self.store.save()
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    # -- the pipeline ------------------------------------------------------------------------------
    def _encode_all(self, work: list[tuple[FileInfo, FileRow | None]], report: IndexReport) -> None:
        encoder = self._encoder_factory()
        # a lazily loading back end (ONNX Runtime sessions) loads while the first photos decode;
        # a failure here is raised again, with its message, by the first encode
        threading.Thread(target=_quietly, args=(encoder.warm_up,), name="pixseek-warm-up", daemon=True).start()
        known = frozenset(self.catalog.known_shas())
        min_side = None if self.exact_decode else encoder.input_size
        total, done = len(work), 0
        if self.progress:
            self.progress(0, total)
        last_save = time.monotonic()
        batch: list[_Prepared] = []
        window = max(2 * self.batch_size, 4 * self.workers)  # bounded: memory stays flat
        with ThreadPoolExecutor(self.workers, thread_name_prefix="pixseek-decode") as pool:
            pending: collections.deque[Future[_Prepared]] = collections.deque()
            items = iter(work)
            try:
                while True:
                    while len(pending) < window:
                        nxt = next(items, None)
                        if nxt is None:
                            break
                        pending.append(pool.submit(_prepare, nxt[0], nxt[1], encoder, known,
                                                    self.max_pixels, min_side))
                    if not pending:
                        break
                    batch.append(pending.popleft().result())
                    if sum(1 for b in batch if b.tensor is not None) >= self.batch_size or len(batch) >= 4 * self.batch_size:
                        done += self._flush(batch, encoder, report)
                        batch = []
                        if self.progress:
                            self.progress(done, total)
                        if time.monotonic() - last_save > self.save_every_s:
                            self.store.save()
                            last_save = time.monotonic()
                if batch:
                    done += self._flush(batch, encoder, report)
                    if self.progress:
                        self.progress(done, total)
            finally:
                for fut in pending:
                    fut.cancel()

    def _flush(self, batch: list[_Prepared], encoder: Encoder, report: IndexReport) -> int:
        import torch

        to_encode = [b for b in batch if b.tensor is not None]
        vecs: dict[int, np.ndarray] = {}
        if to_encode:
            out = encoder.encode_pixels(torch.stack([b.tensor for b in to_encode]))
            vecs = {id(b): v for b, v in zip(to_encode, out)}
        # Copies and renames: take the vector (and metadata) of a file already indexed, or of one
        # encoded earlier in this batch.
        reuse = self.catalog.vectors_by_sha(b.sha for b in batch if b.reuse)
        in_batch = {b.sha: (vecs[id(b)], b) for b in to_encode}

        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        removed_ids: list[int] = []
        with self.catalog.transaction() as db:
            for b in batch:
                info, old = b.info, b.old
                if old is not None and b.sha is not None and old.sha == b.sha and old.status == "ok":
                    self.catalog.touch(db, old.id, info.size, info.mtime_ns)  # touched, same content
                    report.unchanged += 1
                    continue
                vec, meta = None, b
                if b.tensor is not None:
                    vec = vecs[id(b)]
                elif b.reuse and b.sha in reuse:
                    vec, row = reuse[b.sha]
                    meta = _Prepared(info, old, width=row.width, height=row.height,
                                     taken_at=row.taken_at, format=row.format)
                elif b.reuse and b.sha in in_batch:
                    vec, meta = in_batch[b.sha]
                elif b.reuse:  # hash vanished between snapshot and now: encode it next run
                    b.reason = "changed while indexing"
                if old is not None:
                    self.catalog.delete(db, [old.id])
                    removed_ids.append(old.id)
                fid = self.catalog.insert(db, NewFile(
                    info.path, info.size, info.mtime_ns, b.sha, vec=vec,
                    reason=None if vec is not None else (b.reason or "unknown"),
                    width=meta.width, height=meta.height, taken_at=meta.taken_at, format=meta.format))
                if vec is None:
                    report.skipped += 1
                    continue
                if b.hashes is not None:
                    self.catalog.set_hashes(db, b.sha, b.hashes)
                added_ids.append(fid)
                added_vecs.append(vec)
                if old is not None and old.status == "ok":
                    report.updated += 1
                else:
                    report.added += 1
        if removed_ids:
            self.store.remove(np.asarray(removed_ids, dtype=np.int64))
        if added_ids:
            self.store.add(np.asarray(added_ids, dtype=np.int64), np.stack(added_vecs).astype(np.float32))
        return len(batch)
