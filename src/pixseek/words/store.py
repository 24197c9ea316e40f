"""The words in the catalogue: writing a photo's words (inside the caller's transaction) and
reading them back. Tables: ``words``, ``words_fts`` (FTS5), ``path_words``, ``word_problems``
(see ``catalog._migrate_words``).

Adding words of a new kind (e.g. the tags a user applies) is one call::

    with catalog.transaction() as db:
        put_file_words(db, file_id, "tag", ["beach", "family"])   # or put_content_words(db, sha, ...)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..types import PhotoWord
from .tokens import index_text

MAX_WORD_CHARS = 2000  # one piece of text; longer is cut (a description pasted from a book)


@dataclass(frozen=True)
class NewWord:
    kind: str
    text: str
    box: tuple[tuple[float, float], ...] | None = None
    confidence: float | None = None
    terms: str | None = None  # what to index instead of ``text`` (names: also their split words)


def _insert(db: sqlite3.Connection, sha: str | None, file_id: int | None, words: Iterable[NewWord]) -> None:
    for w in words:
        text = " ".join(w.text.split())[:MAX_WORD_CHARS]
        terms = index_text(w.terms[:2 * MAX_WORD_CHARS] if w.terms else text)
        if not terms:
            continue
        cur = db.execute(
            "INSERT INTO words (sha, file_id, kind, text, box, confidence) VALUES (?, ?, ?, ?, ?, ?)",
            (sha, file_id, w.kind, text, json.dumps(w.box) if w.box else None, w.confidence))
        db.execute("INSERT INTO words_fts (rowid, terms, kind) VALUES (?, ?, ?)", (cur.lastrowid, terms, w.kind))


def _as_words(kind: str, words: Iterable[NewWord | str]) -> list[NewWord]:
    return [w if isinstance(w, NewWord) else NewWord(kind, w) for w in words]


def put_content_words(db: sqlite3.Connection, sha: str, kinds: Sequence[str], words: Iterable[NewWord | str],
                      kind: str | None = None) -> None:
    """Replace the words of ``kinds`` that the content ``sha`` has (every copy and rename of it
    shares them). Plain strings are words of ``kind``."""
    marks = ",".join("?" * len(kinds))
    db.execute(f"DELETE FROM words WHERE sha = ? AND kind IN ({marks})", (sha, *kinds))
    _insert(db, sha, None, _as_words(kind or kinds[0], words))


def put_file_words(db: sqlite3.Connection, file_id: int, kinds: Sequence[str], words: Iterable[NewWord | str],
                   kind: str | None = None) -> None:
    """Replace the words of ``kinds`` that belong to one file (its path: names, sidecar, tags)."""
    marks = ",".join("?" * len(kinds))
    db.execute(f"DELETE FROM words WHERE file_id = ? AND kind IN ({marks})", (file_id, *kinds))
    _insert(db, None, file_id, _as_words(kind or kinds[0], words))


def set_problem(db: sqlite3.Connection, owner: str, reason: str | None) -> None:
    """Record (or clear, with None) why the words of ``owner`` (a content hash or a path) could not
    all be read."""
    if reason:
        db.execute("INSERT OR REPLACE INTO word_problems (owner, reason) VALUES (?, ?)", (owner, reason[:300]))
    else:
        db.execute("DELETE FROM word_problems WHERE owner = ?", (owner,))


def problems(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return list(db.execute("SELECT owner, reason FROM word_problems ORDER BY owner"))


def has_words(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM words LIMIT 1").fetchone() is not None


def words_of_file(db: sqlite3.Connection, file_id: int, sha: str | None) -> list[PhotoWord]:
    """Every word of one indexed file: its content's (OCR, embedded metadata) and its own."""
    out = []
    for kind, text, box, conf in db.execute(
        "SELECT kind, text, box, confidence FROM words WHERE sha = ? OR file_id = ? ORDER BY id", (sha, file_id)
    ):
        corners = tuple(tuple(p) for p in json.loads(box)) if box else None
        out.append(PhotoWord(kind, text, corners, conf))  # type: ignore[arg-type]
    return out


def count_words(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT kind, COUNT(*) FROM words GROUP BY kind"))
