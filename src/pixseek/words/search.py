"""The words side of a query: FTS5 (BM25) over the words in and about the photos, per file.

Each query word is one FTS5 term (``tokens.query_terms``: a prefix for Latin words and numbers,
the phrase of its bigrams for a CJK run). A file's words come from its content (OCR, embedded
metadata: shared by its copies) and from its path (names, sidecar). Files are ranked by how many of
the query's words they match, then by whether one piece of text holds them all (an OCR line that
reads "router login"), then by the sum of each word's best BM25 score; each hit says why.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .tokens import matches, query_terms, words_of

MAX_ROWS_PER_TERM = 20_000
KIND_LABELS = {"ocr": "text in photo", "file": "file name", "folder": "folder", "keyword": "keyword",
               "title": "title", "description": "description", "camera": "camera", "lens": "lens", "tag": "tag"}
QUOTED = {"ocr", "description", "title"}
SNIPPET = 48


@dataclass
class WordMatch:
    """One file's match on the words side."""

    file_id: int
    n_terms: int = 1  # how many terms the query has
    score: float = 0.0
    terms: set[int] = field(default_factory=set)
    best: dict[int, float] = field(default_factory=dict)  # term -> best BM25 (higher is better)
    rows: dict[int, tuple[str, str, set[int]]] = field(default_factory=dict)  # word id -> (kind, text, terms)

    @property
    def complete(self) -> bool:
        """The file's words hold every word of the query."""
        return len(self.terms) == self.n_terms

    @property
    def one_row(self) -> bool:
        return any(len(t) == len(self.terms) and len(self.terms) > 1 for _, _, t in self.rows.values())

    def why(self, query: str) -> tuple[str, ...]:
        """'text in photo: "…router login…"', 'folder: Porto 2021', ... best evidence first."""
        rows = sorted(self.rows.values(), key=lambda r: (-len(r[2]), r[0] != "ocr"))
        out: list[str] = []
        for kind, text, _ in rows[:4]:
            line = describe(kind, text, query)
            if line not in out:
                out.append(line)
        return tuple(out)


def describe(kind: str, text: str, query: str = "") -> str:
    label = KIND_LABELS.get(kind, kind)
    if kind in QUOTED:
        return f'{label}: "{snippet(text, query)}"'
    return f"{label}: {text}"


def snippet(text: str, query: str, width: int = SNIPPET) -> str:
    """``text`` cut to about ``width`` characters around the first query word it holds."""
    if len(text) <= width:
        return text
    lower = text.lower()
    where = min((i for i in (lower.find(w) for w in words_of(query)) if i >= 0), default=0)
    start = max(0, where - width // 3)
    end = min(len(text), start + width)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def search_words(db: sqlite3.Connection, text: str, *, allowed: np.ndarray | None = None,
                 exclude: Iterable[int] = ()) -> list[WordMatch]:
    """Indexed files whose words match ``text``, best first (see the module's docstring)."""
    terms = query_terms(text or "")
    if not terms:
        return []
    by_sha: dict[str, list[tuple[int, int, str, str, float]]] = defaultdict(list)
    by_file: dict[int, list[tuple[int, int, str, str, float]]] = defaultdict(list)
    for j, term in enumerate(terms):
        try:
            cur = db.execute(
                "SELECT w.id, w.sha, w.file_id, w.kind, w.text, bm25(words_fts) FROM words_fts "
                "JOIN words w ON w.id = words_fts.rowid WHERE words_fts MATCH ? ORDER BY rank LIMIT ?",
                (f"terms : {term}", MAX_ROWS_PER_TERM))
            found = cur.fetchall()
        except sqlite3.OperationalError:  # a term FTS5 refuses: it matches nothing
            continue
        for wid, sha, fid, kind, wtext, bm25 in found:
            hit = (j, wid, kind, wtext, -float(bm25))
            if fid is not None:
                by_file[fid].append(hit)
            elif sha is not None:
                by_sha[sha].append(hit)
    files = _ok_files(db, by_sha.keys(), by_file.keys())
    skip = set(int(i) for i in exclude)
    allowed_set = None if allowed is None else set(int(i) for i in allowed)
    matches_: dict[int, WordMatch] = {}
    for fid, sha in files:
        if fid in skip or (allowed_set is not None and fid not in allowed_set):
            continue
        m = matches_.setdefault(fid, WordMatch(fid, len(terms)))
        for j, wid, kind, wtext, score in by_file.get(fid, []) + by_sha.get(sha, []):
            m.terms.add(j)
            m.best[j] = max(m.best.get(j, 0.0), score)
            m.rows.setdefault(wid, (kind, wtext, set()))[2].add(j)
    out = [m for m in matches_.values() if m.terms]
    for m in out:
        total = sum(m.best.values())
        m.score = len(m.terms) + 0.5 * m.one_row + 0.5 * total / (1.0 + total)
    out.sort(key=lambda m: (-m.score, m.file_id))
    return out


def _ok_files(db: sqlite3.Connection, shas: Iterable[str], fids: Iterable[int]) -> list[tuple[int, str]]:
    shas, fids = list(shas), list(fids)
    out: list[tuple[int, str]] = []
    for start in range(0, len(shas), 500):
        chunk = shas[start:start + 500]
        out += db.execute(f"SELECT id, sha FROM files WHERE status = 'ok' AND sha IN ({','.join('?' * len(chunk))})",
                          chunk).fetchall()
    for start in range(0, len(fids), 500):
        chunk = fids[start:start + 500]
        out += db.execute(f"SELECT id, sha FROM files WHERE status = 'ok' AND id IN ({','.join('?' * len(chunk))})",
                          chunk).fetchall()
    return list(dict.fromkeys(out))


def highlight(words, query: str):
    """``words`` (PhotoWord) with ``matched`` set for those that hold a word of ``query``."""
    from dataclasses import replace

    qwords = words_of(query or "")
    return [replace(w, matched=any(matches(q, w.text) for q in qwords)) for w in words]
