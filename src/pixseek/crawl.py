"""Walk the user's folders and list the image files in them: stat only, no decoding.

    >>> for info in crawl(["~/Pictures"], on_problem=print):   # doctest: +SKIP
    ...     print(info.path, info.size)

Rules, in the order a user meets them:

- A root that does not exist, cannot be read, or is a file that is not an image raises
  :class:`~pixseek.errors.PixseekError` before anything is yielded. A root that is an image file is
  yielded as itself. A root is used even when its own name is hidden: the user named it.
- Below a root, names starting with ``.`` are skipped unless ``include_hidden``; names matching an
  ``ignore`` glob are skipped always.
- Extensions match case-insensitively (``IMG_1.JPG``); only regular files are yielded (no fifos,
  sockets or devices). Paths are absolute and normalised, but symlinks are not resolved: a file is
  listed under the path the user sees.
- Symlinked folders are followed, after every real folder of every root has been walked, and each
  real folder (device, inode) is walked once per call: a folder reachable both directly and through
  a link is listed under its direct path, and no file is listed twice through two folder paths. A
  link back to a folder above it (an ancestor) is reported as ``"symlink loop"``; any other second
  way into a folder already walked (overlapping roots, two links to one place) is skipped silently.
  A symlinked *file* is listed under the link's path, and its target may be listed too.
- Nothing below a root stops the walk: a folder that cannot be listed (``"permission denied"``), a
  dangling link (``"dangling symlink"``) or an entry that cannot be stat-ed is passed to
  ``on_problem`` and the walk goes on. Unreadable files are yielded: the stat worked, and the
  indexer records why the read failed. A reported folder was not listed, so the files the index
  holds below it must not be taken as deleted.
- Order is deterministic: image files named as roots first; then each folder root depth first,
  listing a folder's files in name order before its sub-folders in name order; then the symlinked
  folders, in the order they were met.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import re
import stat
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

from .errors import PixseekError
from .types import CrawlProblem, FileInfo

__all__ = ["crawl", "check_roots", "BASE_IMAGE_EXTENSIONS"]

log = logging.getLogger(__name__)

# What Pillow reads without plugins; imaging.image_extensions() adds HEIC/AVIF when it can.
BASE_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

ProblemHandler = Callable[[CrawlProblem], None]
_DirKey = tuple[int, int]  # (st_dev, st_ino): a real folder, whatever path led to it


def crawl(
    roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    include_hidden: bool = False,
    extensions: Collection[str] | None = None,
    ignore: Iterable[str] = (),
    on_problem: ProblemHandler | None = None,
) -> Iterator[FileInfo]:
    """Yield a :class:`FileInfo` for every image file under ``roots`` (see the module doc for rules).

    ``extensions`` defaults to :func:`pixseek.imaging.image_extensions`; entries may be given with
    or without the dot, in any case. ``ignore`` holds shell globs matched against single names
    (``"@eaDir"``, ``"*.tmp.jpg"``). ``on_problem`` receives paths that were skipped for a reason
    worth showing; without it they are logged at INFO level.
    """
    walker = _Walker(
        extensions=_normalise_extensions(extensions),
        include_hidden=include_hidden,
        ignore=_compile_ignore(ignore),
        on_problem=on_problem or _log_problem,
    )
    # Check every root before yielding anything, so a typo fails fast instead of after an hour.
    checked = [_check_root(root, walker.extensions) for root in _root_list(roots)]
    yield from walker.walk(checked)


@dataclass
class _Walker:
    extensions: frozenset[str]
    include_hidden: bool
    ignore: re.Pattern[str] | None
    on_problem: ProblemHandler
    seen_dirs: set[_DirKey] = field(default_factory=set)
    seen_files: set[str] = field(default_factory=set)  # file roots, so a walk does not repeat them
    # Symlinked folders wait until every real folder is walked, so a folder reachable both directly
    # and through a link is listed under its direct path. Each carries its ancestors' keys.
    pending_links: deque[tuple[str, _DirKey, frozenset[_DirKey]]] = field(default_factory=deque)

    def walk(self, roots: list[tuple[str, os.stat_result]]) -> Iterator[FileInfo]:
        for path, st in roots:
            if not stat.S_ISDIR(st.st_mode) and path not in self.seen_files:
                self.seen_files.add(path)
                yield FileInfo(path, st.st_size, st.st_mtime_ns)
        for path, st in roots:
            if stat.S_ISDIR(st.st_mode):
                yield from self._walk_new(path, (st.st_dev, st.st_ino), frozenset())
        while self.pending_links:
            yield from self._walk_new(*self.pending_links.popleft())

    def _walk_new(self, top: str, top_key: _DirKey, above: frozenset[_DirKey]) -> Iterator[FileInfo]:
        if top_key in self.seen_dirs:
            return  # already walked through another path
        self.seen_dirs.add(top_key)
        # Depth first with an explicit stack (no recursion limit). `ancestors` holds the keys of the
        # folders on the path from the root to the one being listed: a link to one of them is a loop.
        files, subdirs = self._scan(top)
        yield from files
        stack: list[tuple[_DirKey, Iterator[tuple[str, _DirKey, bool]]]] = [(top_key, iter(subdirs))]
        ancestors = set(above)
        ancestors.add(top_key)
        while stack:
            for path, key, is_link in stack[-1][1]:
                if key in ancestors:
                    self.on_problem(CrawlProblem(path, "symlink loop" if is_link else "folder loop"))
                elif is_link:
                    self.pending_links.append((path, key, frozenset(ancestors)))
                elif key not in self.seen_dirs:
                    self.seen_dirs.add(key)
                    files, subdirs = self._scan(path)
                    yield from files
                    stack.append((key, iter(subdirs)))
                    ancestors.add(key)
                    break
            else:
                ancestors.discard(stack.pop()[0])

    def _scan(self, folder: str) -> tuple[list[FileInfo], list[tuple[str, _DirKey, bool]]]:
        """List one folder: its image files and its sub-folders, both in name order."""
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.on_problem(CrawlProblem(folder, _reason(exc)))
            return [], []
        files: list[FileInfo] = []
        subdirs: list[tuple[str, _DirKey, bool]] = []
        for entry in entries:
            name = entry.name
            if (name[0] == "." and not self.include_hidden) or (
                self.ignore is not None and self.ignore.match(name)
            ):
                continue
            try:
                self._classify(entry, files, subdirs)
            except OSError as exc:
                self.on_problem(CrawlProblem(entry.path, _reason(exc)))
        return files, subdirs

    def _classify(
        self,
        entry: os.DirEntry[str],
        files: list[FileInfo],
        subdirs: list[tuple[str, _DirKey, bool]],
    ) -> None:
        # d_type answers is_symlink/is_dir without a syscall; plain files that are not images are
        # dropped on their name alone, so a folder of 100k sidecar files costs no stat at all.
        if entry.is_symlink():
            try:
                st = entry.stat()  # follows the link
            except FileNotFoundError:
                self.on_problem(CrawlProblem(entry.path, "dangling symlink"))
                return
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((entry.path, (st.st_dev, st.st_ino), True))
            elif stat.S_ISREG(st.st_mode) and self._wanted_file(entry):
                files.append(FileInfo(entry.path, st.st_size, st.st_mtime_ns))
        elif entry.is_dir(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            subdirs.append((entry.path, (st.st_dev, st.st_ino), False))
        elif entry.is_file(follow_symlinks=False) and self._wanted_file(entry):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                files.append(FileInfo(entry.path, st.st_size, st.st_mtime_ns))

    def _wanted_file(self, entry: os.DirEntry[str]) -> bool:
        return os.path.splitext(entry.name)[1].lower() in self.extensions and (
            not self.seen_files or entry.path not in self.seen_files
        )


def check_roots(roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> None:
    """Raise PixseekError, as :func:`crawl` would, when a root is missing, unreadable, or not an image."""
    extensions = _normalise_extensions(None)
    for root in _root_list(roots):
        _check_root(root, extensions)


def _root_list(roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[str]:
    # A bare string is one root, not an iterable of one-letter roots.
    if isinstance(roots, (str, bytes, os.PathLike)):
        roots = [roots]
    out: list[str] = []
    for root in roots:
        path = os.path.abspath(os.path.expanduser(os.fsdecode(root)))
        if path not in out:
            out.append(path)
    return out


def _check_root(path: str, extensions: frozenset[str]) -> tuple[str, os.stat_result]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise PixseekError(f"folder not found: {path} (dangling symlink)") from None
        raise PixseekError(f"folder not found: {path}") from None
    except PermissionError:
        raise PixseekError(f"permission denied: {path}") from None
    except OSError as exc:
        raise PixseekError(f"cannot open {path}: {_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        try:
            os.scandir(path).close()  # an unreadable root is the user's mistake, not a skipped folder
        except OSError as exc:
            raise PixseekError(f"cannot read folder {path}: {_reason(exc)}") from None
        return path, st
    if not stat.S_ISREG(st.st_mode):
        raise PixseekError(f"not a folder or a regular file: {path}")
    if os.path.splitext(path)[1].lower() not in extensions:
        known = " ".join(sorted(extensions))
        raise PixseekError(f"not an image file: {path} (image extensions: {known})")
    return path, st


def _normalise_extensions(extensions: Collection[str] | None) -> frozenset[str]:
    if extensions is None:
        extensions = _default_extensions()
    return frozenset("." + e.lower().lstrip(".") for e in extensions if e.strip("."))


def _default_extensions() -> frozenset[str]:
    try:
        from .imaging import image_extensions
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.imaging":
            raise
        return BASE_IMAGE_EXTENSIONS
    return frozenset(image_extensions())


def _compile_ignore(patterns: Iterable[str]) -> re.Pattern[str] | None:
    if isinstance(patterns, str):
        patterns = [patterns]
    regexes = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(regexes)) if regexes else None


def _reason(exc: OSError) -> str:
    """Short, stable reasons for status listings (the errno text varies by platform)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "vanished during crawl"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or type(exc).__name__


def _log_problem(problem: CrawlProblem) -> None:
    log.info("skipped %s: %s", problem.path, problem.reason)
