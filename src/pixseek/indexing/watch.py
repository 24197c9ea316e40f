"""Following folders: file-system events as a change source for the one pipeline.

``watchfiles`` (inotify, FSEvents, ReadDirectoryChangesW through Rust's notify) reports paths that
were created, changed or deleted. A :class:`Settler` holds each path until it is stable (no event
for ``settle`` seconds and the same size and mtime as at its last event), so a file still being
copied is never read half-written. The stable paths of one moment become one :class:`EventChanges`
source: created folders are crawled, a deleted path that matches a new one by name, size and mtime
is a move (its row keeps its id and vector), the rest are :class:`~.sources.PathChanges`.

:class:`Watcher` runs it: a stat-only catch-up scan of the folders first (``FolderScan``, what
changed while nobody watched), then events, batch after batch, through
:meth:`pixseek.Library.apply_changes`. It holds the index's writer lock the whole time; other
writes are handed to it (:meth:`Watcher.submit`). When the system cannot watch (the inotify watch
limit, a file system without events) it says so in one line, rescans by stat and polls instead.
A periodic stat rescan catches whatever an overflowing event queue dropped.

    >>> w = Watcher(lib, ["~/Pictures"], on_event=print)   # doctest: +SKIP
    >>> w.run(threading.Event())                             # doctest: +SKIP
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, FileRow
from ..crawl import crawl
from ..errors import PixseekError
from ..search.copies import PhotoGroups
from ..types import IndexReport
from .sources import Change, ChangeSource, FolderScan, PathChanges

EventFn = Callable[[dict[str, Any]], None]
SETTLE_S = 0.6  # a path is taken once nothing happened to it for this long
BATCH_PATHS = 2000  # stable paths per pipeline run: a 10,000-file copy is indexed in bounded chunks
MOVE_WAIT_S = 10.0  # a deleted path waits at most this long for the rest of its batch
SAVE_IDLE_S = 5.0  # the store file is written after this long without news (it is rewritten whole)
RESCAN_S = 600.0  # a stat rescan now and then: events an overflowing queue dropped are caught up


def _stat(path: str) -> tuple[int, int, bool] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, stat.S_ISDIR(st.st_mode)


class Settler:
    """Paths with recent events, until they are stable: no event for ``settle`` seconds and the
    same size and mtime as when the last event came (a writer that pauses longer than ``settle``
    changes them again: the file then comes back as an update)."""

    def __init__(self, settle: float = SETTLE_S) -> None:
        self.settle = settle
        self.pending: dict[str, tuple[float, tuple[int, int, bool] | None]] = {}

    def saw(self, path: str, now: float) -> None:
        self.pending[path] = (now, _stat(path))

    def __len__(self) -> int:
        return len(self.pending)

    def ready(self, now: float, limit: int = BATCH_PATHS) -> list[str]:
        """Stable paths, at most ``limit``. A deleted path waits while others are still settling
        (up to ``MOVE_WAIT_S``): a move's new name then comes in the same batch and the file keeps
        its row and vector. A stable folder is replaced by its files, which then settle."""
        out: list[str] = []
        gone: list[str] = []
        busy = False
        for path, (seen, before) in list(self.pending.items()):
            if now - seen < self.settle:
                busy = True
                continue
            current = _stat(path)
            if current != before:  # still being written (or an event was missed): wait again
                self.pending[path] = (now, current)
                busy = True
                continue
            if current is None:
                gone.append(path)
                continue
            del self.pending[path]
            if current[2]:  # a folder made or moved in: its files settle one by one (some are still copying)
                for info in crawl([path], include_hidden=True, on_problem=lambda p: None):
                    self.pending.setdefault(info.path, (now, (info.size, info.mtime_ns, False)))
                busy = True
                continue
            out.append(path)
            if len(out) >= limit:
                busy = True
                break
        for path in gone:
            if not busy or now - self.pending[path][0] > MOVE_WAIT_S:
                del self.pending[path]
                out.append(path)
        return out


def _hidden(path: str, roots: Sequence[str]) -> bool:
    root = next((r for r in roots if path.startswith(r.rstrip(os.sep) + os.sep)), None)
    rel = path[len(root.rstrip(os.sep)) + 1:] if root else os.path.basename(path)
    return any(part.startswith(".") for part in rel.split(os.sep))


@dataclass
class EventChanges:
    """One batch of stable event paths as changes (a :class:`~.sources.ChangeSource`).

    ``roots`` are the watched folders: a deleted path under a root that is itself gone (an
    unplugged drive) removes nothing. ``moves`` and ``gone``/``new`` are filled by :meth:`plan`,
    for the watcher's events after the run."""

    catalog: Catalog
    paths: list[str]
    roots: list[str]
    stale: dict[str, set[str]] = field(default_factory=dict)
    extensions: frozenset[str] | None = None
    include_hidden: bool = False
    moves: list[tuple[str, str]] = field(default_factory=list)
    gone: list[FileRow] = field(default_factory=list)  # rows whose files are gone
    new: list[str] = field(default_factory=list)  # files created or changed
    unchanged: int = 0
    still_skipped: int = 0

    def plan(self) -> None:
        files: list[str] = []
        gone_paths: list[str] = []
        for path in self.paths:
            if not self.include_hidden and _hidden(path, self.roots):
                continue
            st = _stat(path)
            if st is None:
                if self._root_present(path):
                    gone_paths.append(path)
            elif st[2]:  # a folder created or moved in: its files (no event for each of them)
                files.extend(info.path for info in crawl([path], include_hidden=self.include_hidden,
                                                        on_problem=lambda p: None))
            elif self.extensions is None or os.path.splitext(path)[1].lower() in self.extensions:
                files.append(path)
        gone = {row.path: row for row in self.catalog.rows_under(gone_paths)}
        # a rename keeps size and mtime: such a pair is a move (same name first when several match)
        by_key: dict[tuple[int, int], list[FileRow]] = {}
        for row in gone.values():
            by_key.setdefault((row.size, row.mtime_ns), []).append(row)
        for path in dict.fromkeys(files):
            st = _stat(path)
            match = by_key.get((st[0], st[1]), []) if st else []
            named = [r for r in match if os.path.basename(r.path) == os.path.basename(path)]
            old = named[0] if len(named) == 1 else match[0] if len(match) == 1 else None
            if old is not None:
                match.remove(old)
                self.moves.append((old.path, path))
                del gone[old.path]
            else:
                self.new.append(path)
        self.gone = list(gone.values())

    def _root_present(self, path: str) -> bool:
        roots = [r for r in self.roots if path == r or path.startswith(r.rstrip(os.sep) + os.sep)]
        return bool(roots) and all(os.path.isdir(r) for r in roots) and path not in self.roots

    def changes(self) -> Iterable[Change]:
        inner = PathChanges(self.catalog, [*self.new, *(row.path for row in self.gone)], moves=self.moves,
                            stale=self.stale, extensions=self.extensions)
        yield from inner.changes()
        self.unchanged, self.still_skipped = inner.unchanged, inner.still_skipped


class _Request:
    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: Future = Future()


class Watcher:
    """Follows ``roots`` for ``lib`` (a :class:`pixseek.Library`) until ``stop`` is set (see the
    module doc).

    ``on_event`` gets one dict per thing that happened: ``added``/``updated`` (with
    ``duplicate_of``: paths of the same picture already indexed, exact or copy), ``moved``
    (``from``), ``removed``, ``skipped`` (``reason``), ``scanned`` (a catch-up scan's counts),
    ``note`` (a message for people: polling instead of events, a drive gone). ``progress`` gets
    ``(done, total)`` of the photos of a burst."""

    def __init__(self, lib: Any, roots: Sequence[str], *, poll: bool = False, settle: float = SETTLE_S,
                 include_hidden: bool = False, rescan_every: float = RESCAN_S, on_event: EventFn | None = None,
                 progress: Callable[[int, int], None] | None = None, live_copies: bool = True) -> None:
        self.lib = lib
        self.roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]
        self.poll = poll
        self.settler = Settler(settle)
        self.include_hidden = include_hidden
        self.rescan_every = rescan_every
        self.on_event = on_event or (lambda e: None)
        self.progress = progress
        self.live_copies = live_copies
        if live_copies:  # search results collapse the copies found as they arrive
            lib.copy_groups = PhotoGroups(lib.catalog, base=lib.live_copies)  # + pairs, bursts
        self.requests: queue.Queue[_Request] = queue.Queue()
        self.counts = {"added": 0, "duplicates": 0, "removed": 0, "moved": 0, "skipped": 0}
        self.ready = threading.Event()  # set once the catch-up scan is done and events are followed
        self.running = False  # between the start and the end of run(): submit() is served
        self.tick_ms = 200
        self._extensions: frozenset[str] | None = None
        self._last_scan = 0.0
        self._unsaved_since: float | None = None  # vectors added since the store file was written
        self._last_apply = 0.0

    # -- for other threads ---------------------------------------------------------------------------
    def submit(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn()`` in the watcher's thread, the index's one writer (an `index` handed over)."""
        if not self.running:
            raise PixseekError("the watcher is not running")
        req = _Request(fn)
        self.requests.put(req)
        return req.future

    def add_roots(self, roots: Iterable[str]) -> None:
        """Follow these folders too (from the watcher's thread: an `index` handed over)."""
        for root in roots:
            if root not in self.roots:
                self.roots.append(root)

    def summary(self) -> str:
        """"12 new photos, 3 already in your library" (since the watcher started)."""
        n, d = self.counts["added"], self.counts["duplicates"]
        return (f"{n} new photo{'' if n == 1 else 's'}, {d} already in your library" if n
                else "no new photos yet")

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        import watchfiles

        from ..imaging import image_extensions

        self._extensions = frozenset(image_extensions())
        with self.lib.writing(hold=True):
            self.running = True
            try:
                self._follow(stop, watchfiles)
            finally:
                self.running = False
                self._serve_requests()
                self._save()

    def _follow(self, stop: threading.Event, watchfiles: Any) -> None:
        while not stop.is_set():
            watched = [r for r in self.roots if os.path.isdir(r)]
            if not watched:
                self._note("no watched folder is there (unplugged?): checking again in 10 s")
                stop.wait(10)
                continue
            try:
                self._watch(watched, stop, watchfiles)
            except (OSError, RuntimeError) as exc:
                if self.poll:
                    raise PixseekError(f"cannot watch {', '.join(watched)}: {exc}") from exc
                self._note(f"cannot follow events ({str(exc).strip() or type(exc).__name__}): rescanning, "
                           "then polling every 0.5 s (raise fs.inotify.max_user_watches to get events back)")
                self.poll = True

    def _watch(self, watched: list[str], stop: threading.Event, watchfiles: Any) -> None:
        """Until ``stop``, or until a watched folder comes or goes (a drive): scan once the watch is
        in place (nothing created meanwhile is missed), then settle events, index the stable paths,
        serve handed-over requests, rescan now and then."""
        scanned = False
        for batch in watchfiles.watch(*watched, watch_filter=None, debounce=400, step=50, stop_event=stop,
                                      rust_timeout=self.tick_ms, yield_on_timeout=True, raise_interrupt=True,
                                      force_polling=self.poll, poll_delay_ms=500, ignore_permission_denied=True):
            if not scanned:  # the watch is in place: what changed before it is found by a stat scan
                self.catch_up()
                self._last_scan, scanned = time.monotonic(), True
                self.ready.set()
            now = time.monotonic()
            for _kind, path in batch:
                self.settler.saw(path, now)
            self._serve_requests()
            while (paths := self.settler.ready(time.monotonic())):
                self.apply(paths)
            if self._unsaved_since is not None and (now - self._last_apply > SAVE_IDLE_S
                                                     or now - self._unsaved_since > 10 * SAVE_IDLE_S):
                self._save()
            if now - self._last_scan > self.rescan_every:
                self.catch_up()
                self._last_scan = time.monotonic()
            if set(watched) != {r for r in self.roots if os.path.isdir(r)}:
                return

    def catch_up(self) -> IndexReport:
        """The stat-only scan: what changed while nobody watched (or what events were lost)."""
        roots = [r for r in self.roots if os.path.isdir(r)]
        if not roots:
            report = IndexReport()
        else:
            report = self.lib.index(roots, include_hidden=self.include_hidden, progress=self.progress)
        self.on_event({"event": "scanned", **report.to_dict()})
        return report

    def _serve_requests(self) -> None:
        while True:
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                return
            if not req.future.set_running_or_notify_cancel():
                continue
            try:
                req.future.set_result(req.fn())
            except BaseException as exc:  # handed back to the caller, who reports it
                req.future.set_exception(exc)

    def apply(self, paths: list[str]) -> IndexReport:
        """Index one batch of stable paths and report what happened to each."""
        source: EventChanges | None = None

        def make(catalog: Catalog, stale: dict[str, set[str]]) -> list[ChangeSource]:
            nonlocal source
            source = EventChanges(catalog, paths, self.roots, stale, self._extensions, self.include_hidden)
            source.plan()
            return [source]

        before = {p: self.lib.catalog.row_by_path(p) for p in paths}
        report = self.lib.apply_changes(make, progress=self.progress, save=False)
        self._last_apply = time.monotonic()
        if self._unsaved_since is None:
            self._unsaved_since = self._last_apply
        assert source is not None
        self._report(source, before)
        return report

    def _report(self, source: EventChanges, before: dict[str, FileRow | None]) -> None:
        catalog = self.lib.catalog
        for old, new in source.moves:
            self.counts["moved"] += 1
            self.on_event({"event": "moved", "path": new, "from": old})
        added: list[FileRow] = []
        for path in source.new:
            row = catalog.row_by_path(path)
            if row is None:
                continue
            if row.status != "ok":
                self.counts["skipped"] += 1
                self.on_event({"event": "skipped", "path": path, "reason": row.reason})
                continue
            was = before.get(path)
            if was is not None and was.id == row.id:
                continue  # touched: same content
            added.append(row)
        gone_ids = []
        for row in source.gone:
            if catalog.row_by_path(row.path) is None:
                gone_ids.append(row.id)
                self.counts["removed"] += 1
                self.on_event({"event": "removed", "path": row.path})
        copies = self.lib.live_copies.check(added, forget=gone_ids) if self.live_copies else {}
        for row in added:
            dups = copies.get(row.id, [])
            was = before.get(row.path)
            event = "updated" if was is not None and was.status == "ok" else "added"
            self.counts["added"] += event == "added"
            self.counts["duplicates"] += bool(dups) and event == "added"
            self.on_event({"event": event, "path": row.path, "duplicate_of": [p for p, _ in dups],
                           "kinds": sorted({k for _, k in dups})})

    def _save(self) -> None:
        if self._unsaved_since is not None:
            self.lib.store.save()
            self._unsaved_since = None

    def _note(self, message: str) -> None:
        self.on_event({"event": "note", "message": message})
