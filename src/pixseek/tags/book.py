"""Tags in the catalogue: examples, suggestions, applied tags, XMP sidecars (what ``Library.tag``,
``suggest_tag``, ``apply_tag`` and ``tags`` do).

A tag is its positive examples, its counter-examples and a classifier trained on the stored
vectors of those (:mod:`.classifier`). Everything is keyed by content hash: a tag belongs to the
picture, so every copy of a tagged photo carries it and a renamed photo keeps it. The classifier is
trained again when asked (a fraction of a second for hundreds of examples), so it always follows the
examples; nothing of it is stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..catalog import Catalog
from ..errors import PixseekError
from . import classifier
from .xmp import write_keywords

MAX_NAME = 64
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f,]")


@dataclass(frozen=True)
class Suggestion:
    """An untagged photo the tag's classifier finds likely: ``probability`` in [0, 1]; ``copies``
    other files with the same content (they share the tag once it is applied)."""

    path: str
    probability: float
    sha: str
    copies: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TagInfo:
    """One tag: how many pictures carry it (``count``: positive examples and applied, by content;
    ``files``: the files with those contents), its examples, and cross-validated estimates of how
    well its classifier ranks unseen photos (``precision``: R-precision, ``average_precision``;
    ``None`` below 3 positive examples; see :func:`.classifier.cross_validated`)."""

    name: str
    count: int
    files: int
    positives: int
    negatives: int
    applied: int
    examples: tuple[str, ...] = ()
    precision: float | None = None
    average_precision: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["examples"] = list(self.examples)
        return d


@dataclass(frozen=True)
class ApplyReport:
    """What ``apply_tag`` did: pictures newly tagged, sidecars written, sidecars left alone (why)."""

    tag: str
    tagged: int
    min_probability: float
    sidecars: int = 0
    problems: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = list(self.problems)
        return d


class TagBook:
    """The tags of one catalogue. Thread-safe; keeps the catalogue's vectors in memory between calls
    (until the collection changes) so that the UI's "suggest more" does not read them again."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._cache: tuple[tuple, _Vectors] | None = None

    # -- examples --------------------------------------------------------------------------------
    def add_examples(self, name: str, positives: Iterable[str | os.PathLike] = (),
                     negatives: Iterable[str | os.PathLike] = ()) -> TagInfo:
        """Make ``name`` if new, and record photos as examples (``positives``) or counter-examples
        (``negatives``); a photo given again changes sides. Raises ``PixseekError`` (one line)
        for a bad name, a photo that is not indexed, or one given on both sides."""
        name = check_name(name)
        pos = {self._sha(p): p for p in positives}
        neg = {self._sha(p): p for p in negatives}
        both = pos.keys() & neg.keys()
        if both:
            raise PixseekError(f"{pos[next(iter(both))]} is given both as an example and with --not")
        now = time.time()
        with self.catalog.transaction() as db:
            db.execute("INSERT OR IGNORE INTO tags (name, created_at) VALUES (?, ?)", (name, now))
            rows = [(name, sha, 1, now) for sha in pos] + [(name, sha, 0, now) for sha in neg]
            db.executemany("INSERT OR REPLACE INTO tag_examples (tag, sha, positive, added_at) VALUES (?, ?, ?, ?)",
                           rows)
            # an example is no longer merely applied (and a counter-example not tagged at all)
            db.executemany("DELETE FROM tag_applied WHERE tag = ? AND sha = ?", [(name, s) for s in (*pos, *neg)])
            _tag_words(db, [*pos, *neg])
        return self.info(name, estimate=False)

    def remove(self, name: str) -> None:
        """Forget a tag: its examples and every photo it was applied to."""
        self._require(name)
        with self.catalog.transaction() as db:
            carried = [r[0] for r in db.execute("SELECT sha FROM tagged WHERE tag = ?", (name,))]
            for table in ("tag_examples", "tag_applied"):
                db.execute(f"DELETE FROM {table} WHERE tag = ?", (name,))
            db.execute("DELETE FROM tags WHERE name = ?", (name,))
            _tag_words(db, carried)

    # -- the classifier --------------------------------------------------------------------------------
    def suggest(self, name: str, k: int = 20, *, uncertain: bool = False) -> list[Suggestion]:
        """Up to ``k`` photos the tag does not label yet, most likely first; ``uncertain``: those whose
        probability is nearest 0.5 first (the ones worth confirming: active learning)."""
        if k < 1:
            raise PixseekError(f"-k must be at least 1 (got {k})")
        vectors, labels, model = self._model(name)
        rows = labels.unlabelled
        probs = model.probabilities(vectors.vecs)[rows]  # scoring all beats copying most of them
        key = np.abs(probs - 0.5) if uncertain else -probs
        take = min(k, len(rows))
        top = np.argpartition(key, take - 1)[:take] if take < len(rows) else np.arange(len(rows))
        top = top[np.lexsort((vectors.ids[rows[top]], key[top]))]
        paths = vectors.paths([int(vectors.ids[rows[i]]) for i in top])
        return [Suggestion(path, round(float(probs[i]), 6), vectors.shas[rows[i]], vectors.copies(vectors.shas[rows[i]]))
                for path, i in zip(paths, top)]

    def apply(self, name: str, min_probability: float = 0.9, *, write_xmp: bool = False) -> ApplyReport:
        """Tag every unlabelled photo whose probability is at least ``min_probability``; with
        ``write_xmp``, then write the tag into the XMP sidecar of every file that carries it."""
        if not 0.0 < min_probability <= 1.0:
            raise PixseekError(f"--min-probability must be in (0, 1] (got {min_probability})")
        vectors, labels, model = self._model(name)
        rows = labels.unlabelled
        probs = model.probabilities(vectors.vecs)[rows]
        chosen = np.flatnonzero(probs >= min_probability)
        now = time.time()
        with self.catalog.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO tag_applied (tag, sha, probability, added_at) VALUES (?, ?, ?, ?)",
                           [(name, vectors.shas[rows[i]], float(probs[i]), now) for i in chosen])
            _tag_words(db, [vectors.shas[rows[i]] for i in chosen])
        sidecars, problems = self.write_xmp(name) if write_xmp else (0, ())
        return ApplyReport(name, len(chosen), min_probability, sidecars, tuple(problems))

    def write_xmp(self, name: str) -> tuple[int, list[str]]:
        """Write ``name`` into the sidecar of every file that carries it: (sidecars written, problems)."""
        self._require(name)
        written, problems = 0, []
        paths = [r[0] for r in self.catalog.db.execute(
            "SELECT f.path FROM files f JOIN tagged t ON t.sha = f.sha WHERE t.tag = ? AND f.status = 'ok' "
            "ORDER BY f.path", (name,))]
        for path in paths:
            try:
                write_keywords(path, [name])
                written += 1
            except (PixseekError, OSError) as exc:
                problems.append(f"{path}: {exc}")
        return written, problems

    # -- reports -----------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [r[0] for r in self.catalog.db.execute("SELECT name FROM tags ORDER BY name")]

    def info(self, name: str, *, estimate: bool = True) -> TagInfo:
        """Counts, a few examples and (``estimate``) the cross-validated precision of one tag."""
        self._require(name)
        db = self.catalog.db
        pos, neg = (db.execute("SELECT COUNT(*) FROM tag_examples WHERE tag = ? AND positive = ?", (name, v)
                               ).fetchone()[0] for v in (1, 0))
        applied = db.execute("SELECT COUNT(*) FROM tag_applied WHERE tag = ?", (name,)).fetchone()[0]
        count = db.execute("SELECT COUNT(*) FROM tagged WHERE tag = ?", (name,)).fetchone()[0]
        files = db.execute("SELECT COUNT(*) FROM files f WHERE f.status = 'ok' AND f.sha IN "
                           "(SELECT sha FROM tagged WHERE tag = ?)", (name,)).fetchone()[0]
        examples = tuple(r[0] for r in db.execute(
            "SELECT MIN(f.path) FROM tag_examples e JOIN files f ON f.sha = e.sha AND f.status = 'ok' "
            "WHERE e.tag = ? AND e.positive = 1 GROUP BY e.sha ORDER BY MIN(e.added_at), MIN(f.path) LIMIT 5",
            (name,)))
        precision = average_precision = None
        if estimate and pos >= 3:
            vectors, labels = self._labels(name)
            cv = classifier.cross_validated(vectors.vecs[labels.pos], vectors.vecs[labels.neg],
                                            vectors.vecs[labels.background], seed=_seed(name))
            if cv is not None:
                precision, average_precision = round(cv["precision"], 4), round(cv["average_precision"], 4)
        return TagInfo(name, count, files, pos, neg, applied, examples, precision, average_precision)

    def tags_of(self, path: str | os.PathLike) -> list[str]:
        """The tags a photo carries (by its content)."""
        return self.catalog.tags_for([self._sha(path)]).get(self._sha(path), [])

    # -- internals -----------------------------------------------------------------------------------------
    def _model(self, name: str) -> tuple["_Vectors", "_Labels", classifier.TagModel]:
        vectors, labels = self._labels(name)
        if len(labels.pos) < classifier.MIN_POSITIVES:
            have = len(labels.pos)
            raise PixseekError(f"tag {name!r} has {have} example{'' if have == 1 else 's'} among the indexed photos: "
                               f"give at least {classifier.MIN_POSITIVES} (`pixseek tag {name} PHOTO...`)")
        if not len(labels.neg) and not len(labels.background):
            raise PixseekError(f"tag {name!r}: every indexed photo is labelled as an example; nothing is left "
                               "to tell it apart from (index more photos, or give counter-examples with --not)")
        model = classifier.train(vectors.vecs[labels.pos], vectors.vecs[labels.neg],
                                 vectors.vecs[labels.background], seed=_seed(name))
        return vectors, labels, model

    def _labels(self, name: str) -> tuple["_Vectors", "_Labels"]:
        self._require(name)
        vectors = self._vectors()
        db = self.catalog.db
        examples = dict(db.execute("SELECT sha, positive FROM tag_examples WHERE tag = ?", (name,)).fetchall())
        applied = {r[0] for r in db.execute("SELECT sha FROM tag_applied WHERE tag = ?", (name,))}
        state = np.full(len(vectors.unique_shas), -1, np.int8)
        for sha, positive in examples.items():
            if sha in vectors.row_of:
                state[vectors.row_of[sha]] = positive
        for sha in applied - examples.keys():
            if sha in vectors.row_of:
                state[vectors.row_of[sha]] = 2
        rows = vectors.unique_rows
        pos, neg, unlabelled = rows[state == 1], rows[state == 0], rows[state == -1]
        background = unlabelled[classifier.background_sample(np.arange(len(unlabelled)), len(pos), _seed(name))]
        return vectors, _Labels(pos, neg, unlabelled, background)

    def _vectors(self) -> "_Vectors":
        db = self.catalog.db
        fingerprint = db.execute("SELECT COUNT(*), MAX(id), TOTAL(id) FROM files WHERE status = 'ok'").fetchone()
        with self._lock:
            if self._cache is not None and self._cache[0] == fingerprint:
                return self._cache[1]
        # One pass over the vectors with their hashes; the blobs joined once (no per-row numpy call).
        rows = db.execute("SELECT v.file_id, f.sha, v.vec FROM vectors v JOIN files f ON f.id = v.file_id "
                          "ORDER BY v.file_id").fetchall()
        if not rows:
            raise PixseekError("the index has no images yet: run `pixseek index FOLDER` first")
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vecs = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
        vectors = _Vectors(self.catalog, ids, vecs, [r[1] or f"id:{r[0]}" for r in rows])
        with self._lock:
            self._cache = (fingerprint, vectors)
        return vectors

    def _sha(self, path: str | os.PathLike) -> str:
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        row = self.catalog.row_by_path(path)
        if row is None or row.status != "ok" or not row.sha:
            if not os.path.exists(path):
                raise PixseekError(f"not found: {path}")
            why = f" (skipped: {row.reason})" if row is not None and row.reason else ""
            raise PixseekError(f"{path} is not indexed{why}: run `pixseek index` on its folder first")
        return row.sha

    def _require(self, name: str) -> None:
        if self.catalog.db.execute("SELECT 1 FROM tags WHERE name = ?", (name,)).fetchone() is None:
            known = self.names()
            hint = f"known tags: {', '.join(known[:10])}" if known else "no tags yet"
            raise PixseekError(f"unknown tag {name!r} ({hint}); make it with `pixseek tag {name} PHOTO...`")


def check_name(name: str) -> str:
    """A tag name: trimmed, 1-64 characters, no commas or control characters (it becomes a keyword)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or _BAD_NAME.search(name):
        raise PixseekError(f"bad tag name {name!r}: use 1-{MAX_NAME} characters, no commas or control characters")
    return name


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


@dataclass
class _Labels:
    pos: np.ndarray         # row numbers into _Vectors, one per content
    neg: np.ndarray
    unlabelled: np.ndarray
    background: np.ndarray


class _Vectors:
    """Every indexed vector, with its file id and content hash; one row per content is used for tags."""

    def __init__(self, catalog: Catalog, ids: np.ndarray, vecs: np.ndarray, shas: Sequence[str]) -> None:
        self.catalog, self.ids, self.vecs, self.shas = catalog, ids, vecs, list(shas)
        first: dict[str, int] = {}
        counts: dict[str, int] = {}
        for row, sha in enumerate(self.shas):  # ids ascend: the oldest file stands for its content
            first.setdefault(sha, row)
            counts[sha] = counts.get(sha, 0) + 1
        self.unique_shas = list(first)
        self.row_of = {sha: i for i, sha in enumerate(self.unique_shas)}  # position among unique_rows
        self.unique_rows = np.fromiter(first.values(), np.int64, len(first))
        self._counts = counts

    def copies(self, sha: str) -> int:
        return self._counts.get(sha, 1) - 1

    def paths(self, ids: Sequence[int]) -> list[str]:
        rows = self.catalog.rows_by_ids(ids)
        return [rows[i].path if i in rows else "" for i in ids]


def _tag_words(db, shas) -> None:
    """Make the tags of these contents words of kind ``tag`` for the keyword side (in the same
    transaction as the change): ``pixseek search "receipt"`` then finds what is tagged receipt."""
    from ..words.store import put_content_words

    for sha in set(shas):
        tags = [r[0] for r in db.execute("SELECT tag FROM tagged WHERE sha = ? ORDER BY tag", (sha,))]
        put_content_words(db, sha, ["tag"], tags)
