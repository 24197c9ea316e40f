"""Acting on duplicate groups without losing a file: quarantine, hard link, trash; and undo.

Safety, in the order it happens:

1. Every duplicate is re-checked just before it is touched: a regular file (not a link), the
   size and mtime the catalogue recorded, and the same content hash (the file is read again).
   Its keeper is re-checked the same way. Protected files, and members that are the keeper's own
   file (hard link or symlink), are never touched.
2. A manifest (JSON lines, :mod:`.manifest`) listing every planned step, with what undo needs (content hash, mode,
   times, the catalogue row and the vector), is written and fsync'ed before the first step.
3. Moves never overwrite (``link`` + ``unlink`` on one filesystem; copy, fsync, verify, then
   unlink across filesystems). ``hardlink`` only replaces a file whose bytes equal the keeper's,
   so the bytes it had are still there. ``delete`` goes to the freedesktop trash.
4. The index follows: moved and trashed files leave the catalogue and the vector store;
   ``undo`` puts files back bit-identical (checked by content hash) and their rows back.

Undo reads the file system, not the log: after a crash in the middle it restores what was moved
and leaves alone what never was.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..catalog import Catalog, FileRow, NewFile
from ..errors import ActionError
from ..paths import is_under
from ..stores.base import VectorStore
from ..types import ActionReport, DuplicateGroup, ProgressFn
from .files import (chown_quietly, fsync_dir, fsync_file, move_no_overwrite, same_device, sha_of, tmp_name,
                    trash_dir, unlink_quietly)
from .manifest import Step, read_manifest, step_vector, write_manifest

ACTIONS = ("move", "hardlink", "delete")


# -- apply -------------------------------------------------------------------------------------------
def apply_action(catalog: Catalog, store: Callable[[], VectorStore], groups: Sequence[DuplicateGroup],
                 action: str, *, manifest_dir: Path, move_to: str | os.PathLike | None = None,
                 progress: ProgressFn | None = None) -> ActionReport:
    """Move, hard-link or trash every duplicate (non-keeper) of ``groups``; write a manifest first."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    target = _check_target(catalog, move_to) if action == "move" else None
    report = ActionReport(action, "")
    steps = _plan(catalog, groups, action, target, report)
    manifest = write_manifest(manifest_dir, action, target, catalog, steps)
    report.manifest = str(manifest)
    done_rows: list[FileRow] = []
    linked: list[tuple[FileRow, os.stat_result]] = []
    with open(manifest, "a", encoding="utf-8") as log:
        for k, step in enumerate(steps):
            try:
                _do(step)
            except OSError as exc:
                if step.info:
                    unlink_quietly(step.info)
                report.skipped.append((step.path, f"{step.op} failed: {exc.strerror or exc}"))
                continue
            log.write(json.dumps({"done": k}) + "\n")
            log.flush()
            report.done += 1
            if step.op == "hardlink":
                linked.append((step.row, os.stat(step.path)))
            else:
                done_rows.append(step.row)
            report.bytes_freed += step.row.size
            if progress:
                progress(k + 1, len(steps))
        os.fsync(log.fileno())
    _index_follows(catalog, store, done_rows, linked)
    return report


def _check_target(catalog: Catalog, move_to: str | os.PathLike | None) -> Path:
    if not move_to:
        raise ActionError("--move-to needs a folder")
    target = Path(os.path.abspath(os.path.expanduser(os.fspath(move_to))))
    for root in catalog.roots():
        if is_under(str(target), root):
            raise ActionError(f"the quarantine folder {target} is inside the indexed folder {root}: "
                              "choose one outside, or the moved files come back as duplicates")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ActionError(f"cannot create the quarantine folder {target}: {exc.strerror}") from exc
    return target


def _plan(catalog: Catalog, groups: Sequence[DuplicateGroup], action: str, target: Path | None,
          report: ActionReport) -> list[Step]:
    steps: list[Step] = []
    roots = sorted(catalog.roots(), key=len, reverse=True)
    taken: set[str] = set()
    for group in groups:
        keeper = next(m for m in group.members if m.path == group.keep)
        keeper_problem = _check_file(catalog, keeper.path, keeper.sha)
        first_step, first_skip = len(steps), len(report.skipped)
        for m in group.members:
            if m.path in group.kept:  # the keeper, and the other half of its RAW+JPEG pair
                continue
            reason = None
            if m.protected:
                reason = "protected"
            elif m.link == "symlink-target":
                reason = "a symlink in the group points to it: trashing it would break the link"
            elif m.link:
                reason = f"the same file as the keeper ({m.link}): nothing to free"
            elif keeper_problem:
                reason = f"keeper {keeper.path}: {keeper_problem}"
            elif action == "hardlink" and m.sha != keeper.sha:
                reason = "not byte-identical to the keeper: a hard link would change it (use --move-to or --delete)"
            else:
                reason = _check_file(catalog, m.path, m.sha)
            if action == "hardlink" and reason is None and not same_device(m.path, keeper.path):
                reason = "on another file system than the keeper: no hard link possible"
            if reason:
                report.skipped.append((m.path, reason))
                continue
            row = catalog.row_by_path(m.path)
            assert row is not None  # _check_file found it
            if action == "move":
                dest = _unique(target / _relative(m.path, roots), taken)
                steps.append(Step("move", m.path, keeper.path, m.sha, row, dest=str(dest)))
            elif action == "hardlink":
                steps.append(Step("hardlink", m.path, keeper.path, m.sha, row))
            else:
                steps.append(_trash_step(m.path, keeper.path, m.sha, row, taken))
        _pairs_together(group, steps, first_step, report, first_skip)
    return steps


def _pairs_together(group: DuplicateGroup, steps: list[Step], first_step: int, report: ActionReport,
                    first_skip: int) -> None:
    """The two halves of a RAW+JPEG pair share one fate: when one is skipped, so is the other."""
    partner = {m.path: m.pair for m in group.members if m.pair}
    while True:
        skipped = {p for p, _ in report.skipped[first_skip:]}
        drop = [k for k in range(first_step, len(steps)) if partner.get(steps[k].path) in skipped]
        if not drop:
            return
        for k in reversed(drop):
            step = steps.pop(k)
            if step.info:  # a trash step's .trashinfo, written at plan time
                unlink_quietly(step.info)
            path = step.path
            report.skipped.append((path, f"its RAW+JPEG partner {partner[path]} is skipped: the pair stays together"))


def _check_file(catalog: Catalog, path: str, sha: str) -> str | None:
    """None when ``path`` is what the index says it is; else why not."""
    row = catalog.row_by_path(path)
    if row is None or row.sha != sha:
        return "no longer indexed as this picture: run `pixseek index` and dedup again"
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
        return "changed since indexing: run `pixseek index` and dedup again"
    try:
        if sha_of(path) != sha:
            return "content changed since indexing: run `pixseek index` and dedup again"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None


def _do(step: Step) -> None:
    if step.op == "move":
        move_no_overwrite(step.path, step.dest)
    elif step.op == "trash":
        move_no_overwrite(step.path, step.dest)
    elif step.op == "hardlink":
        tmp = tmp_name(step.path)
        os.link(step.keeper, tmp)
        try:
            os.replace(tmp, step.path)
        except OSError:
            os.unlink(tmp)
            raise


def _index_follows(catalog: Catalog, store: Callable[[], VectorStore], removed: list[FileRow],
                   linked: list[tuple[FileRow, os.stat_result]]) -> None:
    if not removed and not linked:
        return
    with catalog.transaction() as db:
        catalog.delete(db, [r.id for r in removed])
        for row, st in linked:  # same bytes, new inode: record its stat so indexing stays a no-op
            catalog.touch(db, row.id, st.st_size, st.st_mtime_ns)
    if removed:
        s = store()
        s.remove(np.asarray([r.id for r in removed], dtype=np.int64))
        s.save()


# -- undo --------------------------------------------------------------------------------------------
def undo_manifest(catalog: Catalog, store: Callable[[], VectorStore], manifest: str | os.PathLike,
                  progress: ProgressFn | None = None) -> ActionReport:
    """Put every file of ``manifest`` back, bit-identical, and its row back in the index."""
    header, steps = read_manifest(manifest)
    report = ActionReport("undo", str(manifest))
    restored: list[tuple[dict, np.ndarray | None]] = []
    for k, step in enumerate(steps):
        try:
            problem = _undo_step(step)
        except OSError as exc:
            problem = f"could not be restored: {exc.strerror or exc}"
        if problem is None:
            report.done += 1
            restored.append((step, step_vector(step)))
        elif problem != "in place":
            report.skipped.append((step["path"], problem))
        if progress:
            progress(k + 1, len(steps))
    _index_returns(catalog, store, restored)
    with open(manifest, "a", encoding="utf-8") as log:
        log.write(json.dumps({"undone_at": time.time(), "restored": report.done}) + "\n")
        log.flush()
        os.fsync(log.fileno())
    return report


def _undo_step(step: dict) -> str | None:
    """None: restored now; "in place": nothing to do; else why it could not be restored."""
    path, sha = step["path"], step["sha"]
    if step["op"] == "hardlink":
        return _undo_hardlink(step)
    if os.path.lexists(path):
        try:
            same = sha_of(path) == sha
        except OSError:
            same = False
        return "in place" if same else f"another file is at {path} now: left it, and the copy at {step['dest']}"
    dest = step["dest"]
    try:
        if sha_of(dest) != sha:
            return f"the copy at {dest} has changed: left it there"
    except OSError:
        return f"the copy at {dest} is gone"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    move_no_overwrite(dest, path)
    if step.get("info"):
        unlink_quietly(step["info"])
    return None if sha_of(path) == sha else f"restored {path} does not match its content hash"


def _undo_hardlink(step: dict) -> str | None:
    path, sha = step["path"], step["sha"]
    try:
        st, kst = os.stat(path), os.stat(step["keeper"])
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if (st.st_dev, st.st_ino) != (kst.st_dev, kst.st_ino):
        return "in place"  # already its own file again
    if sha_of(path) != sha:
        return "the linked file has changed since: cannot restore the old bytes"
    tmp = tmp_name(path)
    shutil.copyfile(step["keeper"], tmp)
    chown_quietly(tmp, step.get("uid"), step.get("gid"))
    os.chmod(tmp, step["mode"] & 0o7777)
    os.utime(tmp, ns=(step.get("atime_ns", step["mtime_ns"]), step["mtime_ns"]))
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))
    return None if sha_of(path) == sha else f"restored {path} does not match its content hash"


def _index_returns(catalog: Catalog, store: Callable[[], VectorStore],
                   restored: list[tuple[dict, np.ndarray | None]]) -> None:
    added_ids, added_vecs = [], []
    with catalog.transaction() as db:
        for step, vec in restored:
            path = step["path"]
            st = os.stat(path)
            old = catalog.row_by_path(path)
            if step["op"] == "hardlink":
                if old is not None:
                    catalog.touch(db, old.id, st.st_size, st.st_mtime_ns)
                continue
            if old is not None or vec is None:
                continue
            row = step["row"]
            fid = catalog.insert(db, NewFile(path, st.st_size, st.st_mtime_ns, step["sha"], vec=vec,
                                             width=row.get("width"), height=row.get("height"),
                                             taken_at=row.get("taken_at"), format=row.get("format")))
            added_ids.append(fid)
            added_vecs.append(vec)
    if added_ids:
        s = store()
        s.add(np.asarray(added_ids, dtype=np.int64), np.stack(added_vecs).astype(np.float32))
        s.save()


def _trash_step(path: str, keeper: str, sha: str, row: FileRow, taken: set[str]) -> Step:
    """Plan a move into the trash of ``path``'s file system: its ``files/`` entry and the
    ``info/*.trashinfo`` that file managers read to restore it (written at plan time)."""
    trash = trash_dir(path)
    files, info = trash / "files", trash / "info"
    for d in (files, info):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    for n in range(10_000):
        candidate = name if n == 0 else f"{stem}.{n}{ext}"
        dest, info_file = files / candidate, info / f"{candidate}.trashinfo"
        if str(dest) in taken or os.path.lexists(dest):
            continue
        try:  # O_EXCL reserves the name, as the spec asks
            fd = os.open(info_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("[Trash Info]\nPath=" + urllib.parse.quote(path) + "\nDeletionDate="
                     + datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S") + "\n")
        taken.add(str(dest))
        return Step("trash", path, keeper, sha, row, dest=str(dest), info=str(info_file))
    raise ActionError(f"the trash {trash} has no free name for {name}")


def _relative(path: str, roots: list[str]) -> str:
    """``path`` below the quarantine folder: relative to its indexed root, under the root's name."""
    for root in roots:
        if is_under(path, root):
            return os.path.join(os.path.basename(root.rstrip(os.sep)) or "root", os.path.relpath(path, root))
    return path.lstrip(os.sep)


def _unique(dest: Path, taken: set[str]) -> Path:
    candidate, n = dest, 1
    while str(candidate) in taken or os.path.lexists(candidate):
        candidate = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        n += 1
    taken.add(str(candidate))
    return candidate
