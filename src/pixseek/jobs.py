"""Indexing in the background, so a client (the web UI) keeps answering searches meanwhile.

    job = IndexJob(lib)
    job.start(["~/Pictures"])          # returns at once
    job.progress()                     # JobProgress(state='running', done=120, total=800, ...)
    job.wait().report                  # IndexReport once it has finished

One run at a time per job; the library's own lock also refuses a second writer on the same index
folder from another process. Searches on the same ``Library`` see each committed batch as it lands.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import PixseekError
from .types import CrawlProblem, IndexReport

if TYPE_CHECKING:
    from .library import Library


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of an indexing run. ``total`` is None while the folders are being scanned."""

    state: str = "idle"  # idle | running | done | failed
    paths: tuple[str, ...] = ()
    done: int = 0
    total: int | None = None
    report: IndexReport | None = None
    error: str | None = None
    problems: tuple[CrawlProblem, ...] = ()
    started: float | None = None  # time.time()
    finished: float | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        """0..1; 0 while scanning, 1 when finished."""
        if self.state == "done":
            return 1.0
        return self.done / self.total if self.total else 0.0

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


@dataclass
class _Run:
    progress: JobProgress = field(default_factory=JobProgress)
    thread: threading.Thread | None = None


class IndexJob:
    """Runs ``lib.index(paths, **index_kwargs)`` in a daemon thread and reports how far it got."""

    def __init__(self, lib: Library, **index_kwargs: Any) -> None:
        self.lib = lib
        self.index_kwargs = index_kwargs
        self._lock = threading.Lock()
        self._run = _Run()

    def start(self, paths: Iterable[str | os.PathLike] | None = None) -> JobProgress:
        """Start indexing ``paths`` (None: every folder indexed before). Raises PixseekError when a
        run is already going."""
        roots = tuple(os.path.abspath(os.path.expanduser(os.fspath(p))) for p in (paths or ()))
        self.lib.plan_index(roots or self.lib.catalog.roots())  # a typo is answered now, not from the thread
        with self._lock:
            if self._run.progress.running:
                raise PixseekError("already indexing " + ", ".join(self._run.progress.paths or ("the library",))
                                   + ": wait for it to finish")
            self._run = _Run(JobProgress(state="running", paths=roots, started=time.time()))
            thread = threading.Thread(target=self._work, args=(roots,), name="pixseek-index", daemon=True)
            self._run.thread = thread
        thread.start()
        return self.progress()

    def progress(self) -> JobProgress:
        with self._lock:
            return self._run.progress

    def wait(self, timeout: float | None = None) -> JobProgress:
        """Block until the current run ends (or ``timeout`` seconds pass); return the last snapshot."""
        thread = self._run.thread
        if thread is not None:
            thread.join(timeout)
        return self.progress()

    # -- the worker thread -------------------------------------------------------------------------
    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._run.progress = replace(self._run.progress, **changes)

    def _work(self, roots: tuple[str, ...]) -> None:
        problems: list[CrawlProblem] = []

        def on_problem(p: CrawlProblem) -> None:
            problems.append(p)
            self._update(problems=tuple(problems))

        try:
            report = self.lib.index(list(roots) or None, progress=lambda done, total: self._update(
                done=done, total=total), on_problem=on_problem, **self.index_kwargs)
        except PixseekError as exc:
            self._update(state="failed", error=str(exc), finished=time.time())
        except Exception as exc:  # a thread must not die silently: the client shows this line
            self._update(state="failed", error=f"unexpected error: {type(exc).__name__}: {exc}"[:300],
                         finished=time.time())
        else:
            total = self.progress().total
            self._update(state="done", report=report, done=total or 0, finished=time.time())
