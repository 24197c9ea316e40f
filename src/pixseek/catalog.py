"""The SQLite catalogue: every file seen, its content hash, metadata, vector, or why it was skipped.

The catalogue is the source of truth. Vectors live here too (one float32 blob per indexed file), so
the vector store is a rebuildable view: after a crash, ``Library`` reconciles the store with the
catalogue by id (see ``ids_with_vectors``). A file id is never reused (AUTOINCREMENT) and a file whose
content changes gets a new id, so "same id" always means "same vector".
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CatalogError
from .hashing import ImageHashes, to_signed, to_unsigned
from .types import SkippedFile

SCHEMA_VERSION = 4


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement: ``executescript`` would COMMIT the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'skipped')),
            reason TEXT,
            width INTEGER,
            height INTEGER,
            taken_at TEXT,
            format TEXT,
            indexed_at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS files_sha ON files(sha);
        CREATE TABLE IF NOT EXISTS vectors (
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            vec BLOB NOT NULL
        );
        """
    )


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Duplicate finding: perceptual hashes per content hash, and pairs the user said differ."""
    _run_script(
        db,
        """
        CREATE TABLE IF NOT EXISTS image_hashes (
            sha TEXT PRIMARY KEY,
            phash INTEGER NOT NULL,
            dhash INTEGER NOT NULL,
            grey BLOB NOT NULL,
            color BLOB NOT NULL,
            pixel_sha TEXT
        );
        CREATE TABLE IF NOT EXISTS not_duplicates (
            sha_a TEXT NOT NULL,
            sha_b TEXT NOT NULL,
            added_at REAL NOT NULL,
            PRIMARY KEY (sha_a, sha_b)
        );
        """
    )


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """Per-photo signals (``indexing.signals``): which version of each signal a content has.

    What earlier versions stored counts as version 1 of its signal (same code), so an existing
    index is not decoded again: sizes, dates and formats of indexed files ("facts"), the
    perceptual hashes, and pixel hashes of the current kind ("p2:")."""
    _run_script(
        db,
        """
        CREATE TABLE IF NOT EXISTS signals (
            sha TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            PRIMARY KEY (sha, name)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO signals (sha, name, version)
            SELECT DISTINCT sha, 'facts', '1' FROM files WHERE status = 'ok' AND sha IS NOT NULL;
        INSERT OR IGNORE INTO signals (sha, name, version) SELECT sha, 'perceptual', '1' FROM image_hashes;
        INSERT OR IGNORE INTO signals (sha, name, version)
            SELECT sha, 'pixels', 'p2' FROM image_hashes WHERE pixel_sha LIKE 'p2:%'
        """
    )


def _migrate_words(db: sqlite3.Connection) -> None:
    """Words in and about photos (``pixseek.words``): one row per piece of text, owned by a content
    (``sha``: OCR, embedded metadata) or by a file (``file_id``: its names, its sidecar), and an
    FTS5 index over them (rowid = ``words.id``; kept in step by a trigger, so a file row's
    deletion takes its words out of the index in the same transaction)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS words ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, sha TEXT,"
        " file_id INTEGER REFERENCES files(id) ON DELETE CASCADE,"
        " kind TEXT NOT NULL, text TEXT NOT NULL, box TEXT, confidence REAL)",
        "CREATE INDEX IF NOT EXISTS words_sha ON words(sha)",
        "CREATE INDEX IF NOT EXISTS words_file ON words(file_id)",
        # kind: ocr | file | folder | keyword | title | description | camera | lens | tag | ...
        # (queries name the terms column: "terms : ..."; "kind : tag" selects a kind)
        "CREATE VIRTUAL TABLE IF NOT EXISTS words_fts USING fts5(terms, kind, tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS words_gone AFTER DELETE ON words BEGIN "
        " DELETE FROM words_fts WHERE rowid = old.id; END",
        # what the names/sidecar words of a file were made from: redone when the path, the sidecar
        # (path, size, mtime) or the version changes
        "CREATE TABLE IF NOT EXISTS path_words ("
        " file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,"
        " source TEXT NOT NULL, version TEXT NOT NULL)",
        # metadata or OCR that could not be read, and why (owner: a content hash or a file path)
        "CREATE TABLE IF NOT EXISTS word_problems (owner TEXT PRIMARY KEY, reason TEXT NOT NULL)",
    ):
        db.execute(statement)


# Numbered forward migrations, applied in order on open: MIGRATIONS[i] takes version i to i + 1.
MIGRATIONS = [_migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3, _migrate_words]


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha: str | None
    status: str
    reason: str | None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class NewFile:
    """One file to write: either ``vec`` (indexed) or ``reason`` (skipped)."""

    path: str
    size: int
    mtime_ns: int
    sha: str | None
    vec: np.ndarray | None = None
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    format: str | None = None


_ROW_COLUMNS = "id, path, size, mtime_ns, sha, status, reason, width, height, taken_at, format"


class Catalog:
    """One SQLite file in WAL mode. Each thread gets its own connection (the UI indexes in the
    background while searches read)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._migrate()

    # -- connections -------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise CatalogError(f"cannot open the catalogue {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path} is not a pixseek catalogue: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalogue {self.path} was written by a newer pixseek (schema {version}, "
                f"this one knows {SCHEMA_VERSION}): upgrade pixseek"
            )
        for step in range(version, SCHEMA_VERSION):
            with self.transaction() as db:
                MIGRATIONS[step](db)
                db.execute(f"PRAGMA user_version = {step + 1}")

    def transaction(self) -> "_Transaction":
        return _Transaction(self)

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- roots -----------------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    def add_roots(self, paths: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, ?)",
                [(p, time.time()) for p in paths],
            )

    def remove_roots(self, paths: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM roots WHERE path = ?", [(p,) for p in paths])

    # -- files -----------------------------------------------------------------------------------
    def rows_under(self, roots: Sequence[str]) -> Iterator[FileRow]:
        """Every file row whose path lies in one of ``roots`` (or is one of them)."""
        for root in roots:
            prefix = root.rstrip(os.sep) + os.sep
            # Range scan on the UNIQUE index: paths in [prefix, prefix + U+10FFFF).
            cur = self.db.execute(
                f"SELECT {_ROW_COLUMNS} FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                (root, prefix, prefix + "\U0010ffff"),
            )
            for row in cur:
                yield FileRow(*row)

    def rows_by_ids(self, ids: Iterable[int]) -> dict[int, FileRow]:
        ids = [int(i) for i in ids]
        out: dict[int, FileRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT {_ROW_COLUMNS} FROM files WHERE id IN ({marks})", chunk):
                out[row[0]] = FileRow(*row)
        return out

    def row_by_path(self, path: str) -> FileRow | None:
        row = self.db.execute(f"SELECT {_ROW_COLUMNS} FROM files WHERE path = ?", (path,)).fetchone()
        return FileRow(*row) if row else None

    def vectors_by_sha(self, shas: Iterable[str]) -> dict[str, tuple[np.ndarray, FileRow]]:
        """For content hashes already indexed: a vector and the row it came from (for reuse)."""
        shas = list(set(shas))
        out: dict[str, tuple[np.ndarray, FileRow]] = {}
        cols = ", ".join("f." + c.strip() for c in _ROW_COLUMNS.split(","))
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            marks = ",".join("?" * len(chunk))
            cur = self.db.execute(
                f"SELECT v.vec, {cols} FROM files f JOIN vectors v ON v.file_id = f.id "
                f"WHERE f.sha IN ({marks}) AND f.status = 'ok'",
                chunk,
            )
            for blob, *row in cur:
                out[row[4]] = (np.frombuffer(blob, dtype=np.float32), FileRow(*row))
        return out

    def known_shas(self) -> set[str]:
        """Hashes with a vector: lets decode workers skip files whose content is already indexed."""
        return {r[0] for r in self.db.execute(
            "SELECT f.sha FROM files f JOIN vectors v ON v.file_id = f.id WHERE f.sha IS NOT NULL")}

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Vectors for ``ids``, in that order (rows without a vector raise KeyError)."""
        ids = [int(i) for i in ids]
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for fid, blob in self.db.execute(
                f"SELECT file_id, vec FROM vectors WHERE file_id IN ({marks})", chunk
            ):
                found[fid] = np.frombuffer(blob, dtype=np.float32)
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[i] for i in ids])

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids ascending, vectors)`` of every indexed file, read in one pass (dedup at scale)
        into one preallocated array: memory is the vectors, once."""
        n = self.count_images()
        dim = int(self.get_meta("dim") or 0)
        ids, vecs = np.zeros(n, np.int64), np.zeros((n, dim), np.float32)
        k = 0
        for fid, blob in self.db.execute("SELECT file_id, vec FROM vectors ORDER BY file_id"):
            if k == n:  # a writer added rows since the count: they wait for the next run
                break
            ids[k], vecs[k] = fid, np.frombuffer(blob, np.float32)
            k += 1
        return ids[:k], vecs[:k]

    def ids_with_vectors(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self.db.execute("SELECT file_id FROM vectors")), dtype=np.int64)

    def count_images(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def skipped(self) -> list[SkippedFile]:
        return [SkippedFile(p, r or "unknown") for p, r in self.db.execute(
            "SELECT path, reason FROM files WHERE status = 'skipped' ORDER BY path")]

    # -- writes (inside a transaction) -------------------------------------------------------------
    def insert(self, db: sqlite3.Connection, f: NewFile) -> int:
        """Insert a new row (the path must not exist: delete the old row first). Returns its id."""
        cur = db.execute(
            "INSERT INTO files (path, size, mtime_ns, sha, status, reason, width, height, taken_at, "
            "format, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.path, f.size, f.mtime_ns, f.sha, "ok" if f.vec is not None else "skipped", f.reason,
             f.width, f.height, f.taken_at, f.format, time.time()),
        )
        fid = int(cur.lastrowid)
        if f.vec is not None:
            db.execute("INSERT INTO vectors (file_id, vec) VALUES (?, ?)",
                       (fid, np.ascontiguousarray(f.vec, dtype=np.float32).tobytes()))
        return fid

    def touch(self, db: sqlite3.Connection, file_id: int, size: int, mtime_ns: int,
              path: str | None = None) -> None:
        """Same content, new stat (and a new ``path`` when the file moved): id and vector stay."""
        if path is None:
            db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id))
        else:  # the caller deleted any other row at ``path`` first
            db.execute("UPDATE files SET size = ?, mtime_ns = ?, path = ? WHERE id = ?",
                       (size, mtime_ns, path, file_id))

    def delete(self, db: sqlite3.Connection, ids: Sequence[int]) -> None:
        db.executemany("DELETE FROM files WHERE id = ?", [(int(i),) for i in ids])

    def drop_vectors(self, db: sqlite3.Connection) -> None:
        """For --reindex with another model: every row goes back to 'needs encoding'."""
        db.execute("DELETE FROM vectors")
        db.execute("DELETE FROM files")

    # -- duplicate finding (see dedup/) -----------------------------------------------------------
    def set_hashes(self, db: sqlite3.Connection, sha: str, hashes: "ImageHashes") -> None:
        """Record the perceptual hashes of the content ``sha`` (kept across renames and copies)."""
        db.execute(
            "INSERT OR REPLACE INTO image_hashes (sha, phash, dhash, grey, color, pixel_sha) VALUES "
            "(?, ?, ?, ?, ?, (SELECT pixel_sha FROM image_hashes WHERE sha = ?))",
            (sha, to_signed(hashes.phash), to_signed(hashes.dhash), hashes.grey, hashes.color, sha),
        )

    def hashes_for(self, shas: Iterable[str], thumbnails: bool = True) -> dict[str, "ImageHashes"]:
        """Stored hashes by content hash; ``thumbnails=False`` leaves ``grey``/``color`` empty (fast)."""
        shas = list(set(shas))
        out: dict[str, ImageHashes] = {}
        cols = "sha, phash, dhash, grey, color" if thumbnails else "sha, phash, dhash"
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for sha, ph, dh, *thumbs in self.db.execute(
                f"SELECT {cols} FROM image_hashes WHERE sha IN ({marks})", chunk
            ):
                grey, color = (bytes(thumbs[0]), bytes(thumbs[1])) if thumbs else (b"", b"")
                out[sha] = ImageHashes(to_unsigned(ph), to_unsigned(dh), grey, color)
        return out

    def pixel_hashes(self, shas: Iterable[str]) -> dict[str, str]:
        shas = list(set(shas))
        out: dict[str, str] = {}
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(
                f"SELECT sha, pixel_sha FROM image_hashes WHERE pixel_sha IS NOT NULL AND sha IN ({marks})",
                chunk))
        return out

    def set_pixel_hash(self, db: sqlite3.Connection, sha: str, pixel_sha: str) -> None:
        db.execute("UPDATE image_hashes SET pixel_sha = ? WHERE sha = ?", (pixel_sha, sha))
        version = pixel_sha.partition(":")[0] if ":" in pixel_sha else "p1"
        self.mark_signals(db, sha, {"pixels": version})

    # -- per-photo signals (see indexing/signals.py) -----------------------------------------------
    def set_facts(self, db: sqlite3.Connection, sha: str, width: int, height: int, taken_at: str | None,
                  format: str | None) -> None:
        """Size, capture date and format of the content ``sha``, on every file row that holds it."""
        db.execute("UPDATE files SET width = ?, height = ?, taken_at = ?, format = ? WHERE sha = ?",
                   (width, height, taken_at, format, sha))

    def mark_signals(self, db: sqlite3.Connection, sha: str, versions: dict[str, str]) -> None:
        """Record that the content ``sha`` has these signals at these versions."""
        db.executemany("INSERT OR REPLACE INTO signals (sha, name, version) VALUES (?, ?, ?)",
                       [(sha, name, version) for name, version in versions.items()])

    def stale_signals(self, wanted: dict[str, str]) -> dict[str, set[str]]:
        """Indexed contents that lack a signal of ``wanted`` (name -> version), and which ones."""
        out: dict[str, set[str]] = {}
        for name, version in wanted.items():
            for (sha,) in self.db.execute(
                "SELECT DISTINCT f.sha FROM files f WHERE f.status = 'ok' AND NOT EXISTS "
                "(SELECT 1 FROM signals s WHERE s.sha = f.sha AND s.name = ? AND s.version = ?)",
                (name, version),
            ):
                out.setdefault(sha, set()).add(name)
        return out

    def count_contents(self) -> int:
        """Distinct contents indexed (copies of one file count once)."""
        return self.db.execute("SELECT COUNT(DISTINCT sha) FROM files WHERE status = 'ok'").fetchone()[0]

    def signal_coverage(self, wanted: dict[str, str]) -> dict[str, tuple[int, int]]:
        """Per signal, ``(contents that have it at this version, indexed contents)``."""
        total = self.count_contents()
        out: dict[str, tuple[int, int]] = {}
        for name, version in wanted.items():
            have = self.db.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT sha FROM files WHERE status = 'ok') f "
                "JOIN signals s ON s.sha = f.sha AND s.name = ? AND s.version = ?", (name, version),
            ).fetchone()[0]
            out[name] = (have, total)
        return out

    def add_not_duplicate(self, sha_a: str, sha_b: str) -> None:
        """Remember that the user says these two contents are not duplicates."""
        a, b = sorted((sha_a, sha_b))
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO not_duplicates (sha_a, sha_b, added_at) VALUES (?, ?, ?)",
                       (a, b, time.time()))

    def not_duplicates(self) -> set[tuple[str, str]]:
        """Pairs of content hashes (sorted) the user keeps apart."""
        return {(a, b) for a, b in self.db.execute("SELECT sha_a, sha_b FROM not_duplicates")}

    def ok_rows(self) -> Iterator[FileRow]:
        """Every indexed (not skipped) file."""
        for row in self.db.execute(f"SELECT {_ROW_COLUMNS} FROM files WHERE status = 'ok' ORDER BY id"):
            yield FileRow(*row)


class _Transaction:
    """``with catalog.transaction() as db:`` — BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __enter__(self) -> sqlite3.Connection:
        self.catalog._write_lock.acquire()
        db = self.catalog.db
        db.execute("BEGIN IMMEDIATE")
        return db

    def __exit__(self, exc_type, exc, tb) -> None:
        db = self.catalog.db
        try:
            db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.catalog._write_lock.release()
