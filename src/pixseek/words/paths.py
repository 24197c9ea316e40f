"""Words that belong to a file's path rather than its content: its name, its folders' names and
its sidecar ``.xmp``. They are brought up to date after every ``index`` run, in batches of
transactions, for the files whose path, sidecar (path, size, mtime) or words version changed: a
moved file gets its new folder's words, an edited sidecar its new keywords, and neither is decoded
or encoded again. The state is in ``path_words`` (``source``: what the words were made from).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..catalog import Catalog
from .metadata import SIDECAR_KINDS, find_sidecar, sidecar_words
from .store import NewWord, put_file_words, set_problem
from .tokens import split_name

PATH_WORDS_VERSION = "2"  # 2: folder names split like file names
NAME_KINDS = ("file", "folder")
FOLDER_DEPTH = 3  # the photo's folder and two above it: "Porto 2021" in Travel/2021/Porto 2021
_GENERIC = {"", "home", "users", "pictures", "photos", "images", "img", "dcim", "media", "mnt", "volumes", "tmp"}
BATCH = 500


def name_words(path: str, roots: Iterable[str] = ()) -> list[NewWord]:
    """``file``: the file name's words; ``folder``: each folder up to ``FOLDER_DEPTH`` levels
    (not above the indexed folder that holds it, nor generic ones like ``Pictures``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    words = [NewWord("file", split_name(stem))]
    top = max((r.rstrip(os.sep) for r in roots if path.startswith(r.rstrip(os.sep) + os.sep)), key=len, default="")
    folder = os.path.dirname(path)
    for _ in range(FOLDER_DEPTH):
        name = os.path.basename(folder)
        if not name or name.lower() in _GENERIC:
            break
        # shown as written ("Porto 2021"); found by its words too ("AnnaWedding2015": anna wedding 2015)
        words.append(NewWord("folder", name, terms=f"{name} {split_name(name)}"))
        if top and folder == top:
            break
        folder = os.path.dirname(folder)
    return words


def _xmp_listing(folder: str) -> dict[str, os.stat_result]:
    try:
        with os.scandir(folder) as it:
            return {e.name: e.stat() for e in it if e.name.lower().endswith(".xmp") and e.is_file()}
    except OSError:
        return {}


def sync_path_words(catalog: Catalog, rows: Iterable[tuple[int, str]] | None = None) -> int:
    """Bring the path words of ``rows`` (``(file id, path)``; default: every indexed file) up to
    date; returns how many files got new words. One ``scandir`` per folder finds the sidecars."""
    db = catalog.db
    if rows is None:
        rows = db.execute("SELECT id, path FROM files WHERE status = 'ok'").fetchall()
    state = dict(db.execute("SELECT file_id, source || '|' || version FROM path_words"))
    roots = catalog.roots()
    listings: dict[str, dict[str, os.stat_result]] = {}
    todo: list[tuple[int, str, str, tuple[str, os.stat_result] | None]] = []
    for fid, path in rows:
        folder = os.path.dirname(path)
        if folder not in listings:
            listings[folder] = _xmp_listing(folder)
        sidecar = find_sidecar(path, listings[folder])
        source = path + ("\0" + f"{sidecar[0]}:{sidecar[1].st_size}:{sidecar[1].st_mtime_ns}" if sidecar else "")
        if state.get(fid) != f"{source}|{PATH_WORDS_VERSION}":
            todo.append((fid, path, source, sidecar))
    for start in range(0, len(todo), BATCH):
        chunk = todo[start:start + BATCH]
        made = [(fid, path, source, sidecar, sidecar_words(sidecar[0]) if sidecar else None)
                for fid, path, source, sidecar in chunk]
        with catalog.transaction() as tx:
            for fid, path, source, sidecar, meta in made:
                if tx.execute("SELECT 1 FROM files WHERE id = ?", (fid,)).fetchone() is None:
                    continue  # left the index meanwhile
                put_file_words(tx, fid, NAME_KINDS, name_words(path, roots))
                put_file_words(tx, fid, SIDECAR_KINDS, meta.words if meta else [])
                set_problem(tx, path, meta.problem if meta else None)
                tx.execute("INSERT OR REPLACE INTO path_words (file_id, source, version) VALUES (?, ?, ?)",
                           (fid, source, PATH_WORDS_VERSION))
    return len(todo)
