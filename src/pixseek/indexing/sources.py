"""Change sources: what to index, as a stream of :class:`Change` items for the pipeline.

- :class:`FolderScan`: crawl folders (stat only) and diff them against the catalogue: new and
  changed files, files gone from disk (except below a folder the crawl could not read: an
  unplugged drive does not empty the index), and unchanged photos that lack a current signal.
- :class:`PathChanges`: an explicit list of created, changed or deleted paths and of moves, e.g.
  from file-system events or a user naming files. A deleted path removes what is indexed at or
  under it; a moved file keeps its id and vector.

A source yields the additions and updates first and the removals last, so that a renamed file is
matched by content before its old row goes (its vector is reused, never re-encoded). It counts what
it found unchanged; the pipeline adds those counts to the run's report.

A new source (file-system events, a remote listing...) is a class with ``changes()``, ``unchanged``
and ``still_skipped``; nothing else changes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..catalog import Catalog, FileRow
from ..crawl import check_roots, crawl
from ..types import CrawlProblem, FileInfo

ChangeKind = Literal["add", "update", "move", "refresh", "remove"]


@dataclass(frozen=True)
class Change:
    """One thing to do to the index.

    - ``add``: ``info`` is a file the catalogue does not have;
    - ``update``: ``info`` replaces ``old`` (same path, another size or mtime);
    - ``move``: the file ``old`` now lives at ``info.path`` (re-read and matched by content);
    - ``refresh``: ``old`` is unchanged but lacks a current signal: run the missing ones;
    - ``remove``: ``old`` is gone from disk.
    """

    kind: ChangeKind
    info: FileInfo | None = None
    old: FileRow | None = None

    @property
    def path(self) -> str:
        return self.info.path if self.info is not None else self.old.path  # type: ignore[union-attr]


class ChangeSource(Protocol):
    unchanged: int  # files found unchanged and indexed
    still_skipped: int  # files found unchanged that were skipped before (retried only when they change)

    def changes(self) -> Iterator[Change]: ...


def _is_same(old: FileRow | None, info: FileInfo) -> bool:
    return old is not None and old.size == info.size and old.mtime_ns == info.mtime_ns


def _refresh_once(old: FileRow, stale: dict[str, set[str]], refreshing: set[str]) -> bool:
    """Whether an unchanged row needs its missing signals filled in (once per content)."""
    if old.status != "ok" or old.sha not in stale or old.sha in refreshing:
        return False
    refreshing.add(old.sha)
    return True


class FolderScan:
    """Crawl ``roots`` and diff against the catalogue (today's ``pixseek index FOLDER``)."""

    def __init__(self, catalog: Catalog, roots: Sequence[str], *, stale: dict[str, set[str]] | None = None,
                 include_hidden: bool = False, file_filter: Callable[[str], bool] | None = None,
                 on_problem: Callable[[CrawlProblem], None] | None = None) -> None:
        self.catalog = catalog
        self.roots = list(roots)
        self.stale = stale or {}
        self.include_hidden = include_hidden
        self.file_filter = file_filter  # e.g. one shard's files (pixseek.shard)
        self.on_problem = on_problem
        self.problems: list[CrawlProblem] = []
        self.unchanged = 0
        self.still_skipped = 0

    def _problem(self, p: CrawlProblem) -> None:
        self.problems.append(p)
        if self.on_problem:
            self.on_problem(p)

    def changes(self) -> Iterator[Change]:
        files = list(crawl(self.roots, include_hidden=self.include_hidden, on_problem=self._problem))
        if self.file_filter is not None:
            files = [f for f in files if self.file_filter(f.path)]
        known = {row.path: row for row in self.catalog.rows_under(self.roots)}
        refreshing: set[str] = set()
        work: list[Change] = []
        for info in files:
            old = known.pop(info.path, None)
            if not _is_same(old, info):
                work.append(Change("update" if old is not None else "add", info, old))
            elif old.status != "ok":  # type: ignore[union-attr]
                self.still_skipped += 1
            else:
                self.unchanged += 1
                if _refresh_once(old, self.stale, refreshing):  # type: ignore[arg-type]
                    work.append(Change("refresh", info, old))
        yield from work
        # Rows left in `known` are gone from disk, unless the crawl could not look where they are.
        blocked = tuple(p.path.rstrip(os.sep) + os.sep for p in self.problems)
        for row in known.values():
            if not row.path.startswith(blocked):
                yield Change("remove", old=row)


class PathChanges:
    """Explicit changes: ``paths`` that were created, changed or deleted (files, or folders that
    were deleted), and ``moves`` as ``(old path, new path)`` of files or whole folders.

    Paths are absolute. A path that exists is stat-ed and diffed like a crawled file; one that
    does not exist removes every row at or under it. Only files with an image extension are
    taken (``extensions``); a folder that exists is not walked here (use :class:`FolderScan`).
    """

    def __init__(self, catalog: Catalog, paths: Iterable[str] = (), *,
                 moves: Iterable[tuple[str, str]] = (), stale: dict[str, set[str]] | None = None,
                 extensions: frozenset[str] | None = None,
                 file_filter: Callable[[str], bool] | None = None) -> None:
        self.catalog = catalog
        self.paths = list(dict.fromkeys(paths))
        self.moves = list(moves)
        self.stale = stale or {}
        self.extensions = extensions
        self.file_filter = file_filter
        self.unchanged = 0
        self.still_skipped = 0

    def changes(self) -> Iterator[Change]:
        refreshing: set[str] = set()
        removals: list[Change] = []
        for src, dst in self.moves:
            yield from self._move(src, dst, removals)
        for path in self.paths:
            info = self._stat(path)
            if info is None:
                if not os.path.lexists(path):
                    removals.extend(Change("remove", old=row) for row in self.catalog.rows_under([path]))
                continue
            old = self.catalog.row_by_path(path)
            if not _is_same(old, info):
                yield Change("update" if old is not None else "add", info, old)
            elif old.status != "ok":  # type: ignore[union-attr]
                self.still_skipped += 1
            else:
                self.unchanged += 1
                if _refresh_once(old, self.stale, refreshing):  # type: ignore[arg-type]
                    yield Change("refresh", info, old)
        yield from removals

    def _move(self, src: str, dst: str, removals: list[Change]) -> Iterator[Change]:
        """Each row at or under ``src`` moves to the same place under ``dst``."""
        for old in self.catalog.rows_under([src]):
            new_path = dst + old.path[len(src):]
            info = self._stat(new_path)
            if info is None:  # moved on again, or out of sight: gone from here
                removals.append(Change("remove", old=old))
            else:
                yield Change("move", info, old)

    def _stat(self, path: str) -> FileInfo | None:
        """A wanted image file at ``path`` as a FileInfo, else None."""
        if self.file_filter is not None and not self.file_filter(path):
            return None
        if self.extensions is not None and os.path.splitext(path)[1].lower() not in self.extensions:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return FileInfo(path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class IndexPlan:
    """How ``Library.index(paths)`` splits what it was given."""

    folders: list[str]  # crawled; recorded as indexed folders (an image file outside them counts too)
    files: list[str]  # image files inside indexed folders, and paths gone from disk: diffed one by one
    new_roots: list[str]  # what to record as indexed folders
    gone_roots: list[str] = field(default_factory=list)  # indexed folders deleted inside another one

    def sources(self, catalog: Catalog, *, moves: Sequence[tuple[str, str]] = (),
                stale: dict[str, set[str]] | None = None, include_hidden: bool = False,
                file_filter: Callable[[str], bool] | None = None,
                on_problem: Callable[[CrawlProblem], None] | None = None) -> list[ChangeSource]:
        out: list[ChangeSource] = []
        if self.folders:
            out.append(FolderScan(catalog, self.folders, stale=stale, include_hidden=include_hidden,
                                  file_filter=file_filter, on_problem=on_problem))
        if self.files or moves:
            out.append(PathChanges(catalog, self.files, moves=moves, stale=stale, file_filter=file_filter))
        return out


def plan_index(catalog: Catalog, paths: Sequence[str]) -> IndexPlan:
    """Split absolute ``paths`` into folders to crawl and single paths to diff; raise
    :class:`~pixseek.errors.PixseekError` as the crawl would for a typo (a missing path with nothing
    indexed at or under it), a non-image file or an unreadable folder. A missing indexed folder is
    refused too (an unplugged drive must not empty the index), unless it lay inside another indexed
    folder that is still there."""
    roots = catalog.roots()
    present = [r for r in roots if os.path.isdir(r)]
    folders: list[str] = []
    files: list[str] = []
    gone_roots: list[str] = []
    for path in dict.fromkeys(paths):
        if not os.path.lexists(path):
            nested = [r for r in roots if _inside(r, [path])]
            if any(_inside(path, [r]) and path != r for r in present) and (
                    nested or next(catalog.rows_under([path]), None)):
                files.append(path)  # gone: what was indexed there leaves the index
                gone_roots += nested
                continue
        check_roots([path])  # raises for a typo ("folder not found: ..."), a non-image, an unreadable folder
        if os.path.isdir(path) or not _inside(path, roots):
            folders.append(path)
        else:
            files.append(path)
    new_roots = [p for p in folders if p not in roots]
    return IndexPlan(folders, files, new_roots, gone_roots)


def _inside(path: str, roots: Sequence[str]) -> bool:
    """``path`` is an indexed folder or lies below one."""
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


