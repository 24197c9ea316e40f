"""The indexing pipeline: changes in; each file read once, hashed, decoded, its signals run (threads);
vectors encoded in batches; catalogue rows, signals and vectors committed per batch; store updated.

Order of writes per batch: the catalogue commits first (it is the source of truth and holds the
vectors), then the store is updated in memory and saved now and then. A kill at any instant leaves
a catalogue that is a consistent prefix of the run; the store keeper reconciles the store with it
on open.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog import Catalog, FileRow, NewFile
from ..encoders.base import Encoder
from ..errors import ImageDecodeError
from ..hashing import content_hash
from ..imaging import decode_image
from ..stores.base import VectorStore
from ..types import IndexReport, ProgressFn
from .signals import ImageFacts, Photo, Signal, VectorSignal, eager_signals, versions
from .sources import Change, ChangeSource


@dataclass
class _Prepared:
    """What a worker made of one change: signal values (the vector's is a tensor to encode), a
    content already indexed whose vector to reuse, or why the file cannot be used."""

    change: Change
    sha: str | None = None
    reuse: bool = False
    reason: str | None = None
    ran: list[Signal] = field(default_factory=list)  # the content signals extracted (values may be None)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def tensor(self):
        return self.values.get(VectorSignal.name)

    @property
    def refresh_only(self) -> bool:
        """An unchanged photo whose missing signals were filled in: its row stays as it is."""
        old = self.change.old
        return self.change.kind == "refresh" and old is not None and self.sha == old.sha

    def facts(self) -> ImageFacts | None:
        return self.values.get("facts")


class Preparer:
    """What the decode workers share in one run: the signals, the contents already indexed
    (``known``), which of them lack a signal (``stale``), and the encoder (loaded on first need)."""

    def __init__(self, encoder: Callable[[], Encoder], signals: list[Signal], *, known: frozenset[str] = frozenset(),
                 stale: dict[str, set[str]] | None = None, max_pixels: int | None = None,
                 exact_decode: bool = False) -> None:
        self.signals = signals
        self.stale = stale or {}
        self.known = known
        self.max_pixels = max_pixels
        self.exact_decode = exact_decode
        self._encoder = encoder
        self._vector: VectorSignal | None = None
        self._lock = threading.Lock()

    @property
    def vector(self) -> VectorSignal:
        """The vector signal; loads the encoder the first time (never, for a run with no new content)."""
        with self._lock:
            if self._vector is None:
                self._vector = VectorSignal(self._encoder(), self.exact_decode)
            return self._vector

    @property
    def encoder_loaded(self) -> bool:
        return self._vector is not None

    def needs(self, change: Change, sha: str) -> tuple[bool, list[Signal]]:
        """``(reuse the stored vector, the content signals to run)`` for a file with content ``sha``."""
        unchanged = change.kind == "refresh" and change.old is not None and change.old.sha == sha
        if unchanged or sha in self.known:
            missing = self.stale.get(sha, set())
            return True, [s for s in self.signals if s.name in missing]
        return False, list(self.signals)

    def prepare(self, change: Change) -> _Prepared:
        """In a decode worker: read once, hash, decode if anything needs pixels, run the signals."""
        item = _Prepared(change)
        try:
            with open(change.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            item.reason = f"unreadable: {exc.strerror or exc}"
            return item
        if not data:
            item.reason = "empty file"
            return item
        item.sha = content_hash(data)
        item.reuse, todo = self.needs(change, item.sha)
        if not item.reuse:
            todo = [self.vector, *todo]
        if not todo:
            return item
        sides = [s.min_side for s in todo]
        kwargs: dict[str, Any] = {"min_side": None if self.exact_decode else max(sides)}
        if self.max_pixels is not None:
            kwargs["max_pixels"] = self.max_pixels
        content_signals = [s for s in todo if not isinstance(s, VectorSignal)]
        try:
            photo = Photo(change.path, item.sha, decode_image(data, **kwargs), data)
            if not item.reuse:
                item.values[VectorSignal.name] = self.vector.extract(photo)
        except Exception as exc:  # a broken file must never stop the run
            if not item.reuse:
                item.reason = (str(exc) if isinstance(exc, ImageDecodeError)
                               else f"corrupt: {type(exc).__name__}: {exc}"[:300])
            item.ran = content_signals  # done: these bytes cannot give them
            return item
        for signal in content_signals:
            try:  # from the image already decoded: no second read or decode
                item.values[signal.name] = signal.extract(photo)
            except Exception:  # a signal never fails a file; whoever needs it can compute it
                item.values[signal.name] = None
            item.ran.append(signal)
        return item


class Pipeline:
    """Runs changes into one catalogue and store. ``encoder`` is a zero-argument callable so that a
    run with nothing new to encode never loads a model."""

    def __init__(self, catalog: Catalog, store: VectorStore, encoder: Callable[[], Encoder], *,
                 batch_size: int = 32, workers: int | None = None, max_pixels: int | None = None,
                 exact_decode: bool = False, save_every_s: float = 60.0,
                 progress: ProgressFn | None = None, signals: list[Signal] | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self._encoder_factory = encoder
        self.batch_size = max(1, batch_size)
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.max_pixels = max_pixels
        self.exact_decode = exact_decode  # False: JPEG draft scaling down to what the signals need
        self.save_every_s = save_every_s
        self.progress = progress
        self.signals = eager_signals() if signals is None else signals  # the content signals to run

    def stale_signals(self) -> dict[str, set[str]]:
        """Indexed contents lacking a current signal (empty, without a query, once all have them)."""
        wanted = versions(self.signals)
        if self.catalog.get_meta(_SIGNALS_META) == _fingerprint(wanted):
            return {}
        return self.catalog.stale_signals(wanted)

    def run(self, sources: Iterable[ChangeSource], stale: dict[str, set[str]] | None = None) -> IndexReport:
        """Apply every change of ``sources``; ``stale`` is :meth:`stale_signals`, as given to them."""
        started = time.perf_counter()
        report = IndexReport()
        work: list[Change] = []
        gone: dict[int, FileRow] = {}
        for source in sources:
            for change in source.changes():
                if change.kind == "remove":
                    gone[change.old.id] = change.old  # type: ignore[union-attr]
                else:
                    work.append(change)
            report.unchanged += source.unchanged
            report.skipped += source.still_skipped
        run = Preparer(self._encoder_factory, self.signals, known=frozenset(self.catalog.known_shas()),
                       stale=stale, max_pixels=self.max_pixels, exact_decode=self.exact_decode)
        if work:
            self._prepare_all(run, work, report)
            if run.encoder_loaded:
                drain = getattr(run.vector.encoder, "drain_notes", None)
                if drain is not None:
                    report.notes.extend(drain())
        if gone:
            self._remove(list(gone.values()), report)
        if gone or any(c.kind != "refresh" for c in work):  # filling in signals leaves the store as it is
            self.store.save()
        if stale is not None:
            self._mark_signals_complete(stale, report)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _remove(self, rows: list[FileRow], report: IndexReport) -> None:
        ids = [row.id for row in rows]
        with self.catalog.transaction() as db:
            self.catalog.delete(db, ids)
        self.store.remove(np.asarray(ids, dtype=np.int64))
        report.removed += len(ids)

    def _mark_signals_complete(self, stale: dict[str, set[str]], report: IndexReport) -> None:
        """Once no indexed content lacks a current signal, later runs skip the check's query."""
        wanted = versions(self.signals)
        if not stale and self.catalog.get_meta(_SIGNALS_META) == _fingerprint(wanted):
            return
        left = self.catalog.stale_signals(wanted) if stale else {}
        filled = len(stale) - len(left)
        if filled > 0:
            names = ", ".join(sorted({n for names in stale.values() for n in names}))
            report.notes.append(f"filled in {names} for {filled} photos indexed before")
        if not left:
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, _SIGNALS_META, _fingerprint(wanted))

    # -- the pipeline ------------------------------------------------------------------------------
    def _prepare_all(self, run: Preparer, work: list[Change], report: IndexReport) -> None:
        if any(c.kind != "refresh" for c in work):
            encoder = run.vector.encoder
            # a lazily loading back end (ONNX Runtime sessions) loads while the first photos decode;
            # a failure here is raised again, with its message, by the first encode
            threading.Thread(target=_quietly, args=(encoder.warm_up,), name="pixseek-warm-up",
                             daemon=True).start()
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
                        pending.append(pool.submit(run.prepare, nxt))
                    if not pending:
                        break
                    batch.append(pending.popleft().result())
                    if sum(1 for b in batch if b.tensor is not None) >= self.batch_size or len(batch) >= 4 * self.batch_size:
                        done += self._flush(run, batch, report)
                        batch = []
                        if self.progress:
                            self.progress(done, total)
                        if time.monotonic() - last_save > self.save_every_s:
                            self.store.save()
                            last_save = time.monotonic()
                if batch:
                    done += self._flush(run, batch, report)
                    if self.progress:
                        self.progress(done, total)
            finally:
                for fut in pending:
                    fut.cancel()

    def _flush(self, run: Preparer, batch: list[_Prepared], report: IndexReport) -> int:
        to_encode = [b for b in batch if b.tensor is not None]
        vecs: dict[int, np.ndarray] = {}
        if to_encode:
            out = run.vector.finish([b.tensor for b in to_encode])
            vecs = {id(b): v for b, v in zip(to_encode, out)}
        # Copies and renames: take the vector (and facts) of a file already indexed, or of one
        # encoded earlier in this batch.
        reuse = self.catalog.vectors_by_sha(b.sha for b in batch if b.reuse and not b.refresh_only)
        in_batch = {b.sha: (vecs[id(b)], b.facts()) for b in to_encode}

        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        removed_ids: list[int] = []
        with self.catalog.transaction() as db:
            for b in batch:
                self._write_signals(db, b)
                if b.refresh_only:
                    continue
                info, old = b.change.info, b.change.old
                assert info is not None
                if b.change.kind == "move":
                    removed_ids.extend(self._clear_destination(db, info.path, old))
                if old is not None and b.sha is not None and old.sha == b.sha and old.status == "ok":
                    # same content: touched, or moved (a new path for the same id and vector)
                    self.catalog.touch(db, old.id, info.size, info.mtime_ns,
                                       path=info.path if info.path != old.path else None)
                    report.unchanged += 1
                    continue
                if b.change.kind == "refresh":  # same stat, other bytes: counted as unchanged by its source
                    report.unchanged -= 1
                vec: np.ndarray | None = None
                facts = b.facts()
                if b.tensor is not None:
                    vec = vecs[id(b)]
                elif b.reuse and b.sha in reuse:
                    vec, row = reuse[b.sha]
                    facts = ImageFacts(row.width, row.height, row.taken_at, row.format)  # type: ignore[arg-type]
                elif b.reuse and b.sha in in_batch:
                    vec, facts = in_batch[b.sha]
                elif b.reuse:  # hash vanished between snapshot and now: encode it next run
                    b.reason = "changed while indexing"
                if old is not None:
                    self.catalog.delete(db, [old.id])
                    removed_ids.append(old.id)
                fid = self.catalog.insert(db, NewFile(
                    info.path, info.size, info.mtime_ns, b.sha, vec=vec,
                    reason=None if vec is not None else (b.reason or "unknown"),
                    width=facts.width if facts else None, height=facts.height if facts else None,
                    taken_at=facts.taken_at if facts else None, format=facts.format if facts else None))
                if vec is None:
                    report.skipped += 1
                    continue
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

    def _write_signals(self, db, b: _Prepared) -> None:
        """The content signals a worker ran, with their versions (None values count as done).
        Only for contents that end up indexed: a skipped file's content has no signals."""
        if not b.ran or b.sha is None or (b.tensor is None and not b.reuse):
            return
        for signal in b.ran:
            signal.write(self.catalog, db, b.sha, b.values.get(signal.name))
        self.catalog.mark_signals(db, b.sha, versions(b.ran))

    def _clear_destination(self, db, path: str, moving: FileRow | None) -> list[int]:
        """A file moved onto an indexed path replaces it: that row leaves the index."""
        there = self.catalog.row_by_path(path)
        if there is None or (moving is not None and there.id == moving.id):
            return []
        self.catalog.delete(db, [there.id])
        return [there.id]


_SIGNALS_META = "signals_complete"


def _fingerprint(wanted: dict[str, str]) -> str:
    return ",".join(f"{name}={version}" for name, version in sorted(wanted.items()))


def _quietly(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # noqa: S110 (the caller meets the same error where it can report it)
        pass
