"""Plain data passed between the layers and returned to clients."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: how far a long call is (index, apply, undo, migrate, ...)."""

StageProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: a call in named stages (finding duplicates)."""


@dataclass(frozen=True)
class FileInfo:
    """One file seen by the crawler: what a stat gives, no decoding."""

    path: str  # absolute
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class CrawlProblem:
    """A path the crawler could not use (unreadable folder, dangling link, loop...)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is a cosine similarity."""

    path: str
    score: float
    id: int
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None  # ISO 8601, EXIF capture date when known
    copies: tuple[str, ...] = ()  # other paths of the same picture, when results are collapsed
    # why it was found, in words: 'text in photo: "…router login…"', 'folder: Porto 2021',
    # 'keyword: glacier', 'looks like the query (0.31)' (see pixseek.words)
    why: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PhotoWord:
    """One piece of text in or about a photo (``Library.words_for``).

    ``kind``: ``ocr`` (text in the photo; ``box`` holds its four corners in full-size upright
    pixels and ``confidence`` the recogniser's, 0..1), ``file``, ``folder`` (names),
    ``keyword``, ``title``, ``description`` (XMP/IPTC), ``camera``, ``lens`` (EXIF), ``tag``, ...
    ``matched``: the word matches the query it was asked for with."""

    kind: str
    text: str
    box: tuple[tuple[float, float], ...] | None = None
    confidence: float | None = None
    matched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IndexReport:
    """What one ``index()`` run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. the int8 check's verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SignalCoverage:
    """How many indexed pictures (distinct contents) have one per-photo signal at its current version."""

    name: str  # "vector", "facts", "perceptual", "pixels", ...
    version: str
    have: int
    total: int
    on_demand: bool = False  # computed when needed (dedup), not by indexing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        when = ", on demand" if self.on_demand else ""
        return f"{self.name} ({self.version}{when}): {self.have} of {self.total}"


@dataclass(frozen=True)
class LibraryStatus:
    images: int
    model: str | None  # e.g. "ViT-B-32", "timm:tf_efficientnet_lite0", "local-dir:/path"
    pretrained: str | None  # the weights: a tag, a checkpoint file, "wheel", "random", or None
    dim: int | None
    roots: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    db: str = ""
    store: str = "faiss"  # where the vectors are: "faiss", or a Milvus spec (see pixseek.stores.keeper)
    signals: list[SignalCoverage] = field(default_factory=list)  # per-photo signals and their coverage
    words: dict[str, int] = field(default_factory=dict)  # pieces of text in and about photos, per kind
    word_problems: list[SkippedFile] = field(default_factory=list)  # metadata/OCR not read, and why

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


@dataclass(frozen=True)
class ImageInfo:
    """What a client shows next to one indexed photo (see ``Library.image_info``)."""

    path: str
    name: str
    width: int | None
    height: int | None
    bytes: int
    taken_at: str | None  # ISO 8601 EXIF capture date, when the photo has one
    modified: str  # ISO 8601 file modification time
    format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EncodedQuery:
    """A query turned into one vector (``Library.encode_query``). A client keeps it to page through
    results ("load more") without keeping the query image itself."""

    vector: Any  # numpy (dim,) float32, L2-normalised
    exclude: tuple[int, ...] = ()  # ids left out of the results: the query photo, when indexed
    text: str | None = None
    image: str | None = None  # the query photo's path or file name, for display


@dataclass(frozen=True)
class SearchResults:
    """One page of a query's results (iterate over it for the hits).

    ``more``: a next page exists (ask again with ``offset + k``). ``matched``: how many indexed
    images pass the filters (None without filters). ``strong`` and ``threshold``: with a strong
    query, how many results stand out in all pages, and the score they reach. ``message``: when the
    page is empty, why, in one line.
    """

    hits: list[Hit]
    offset: int = 0
    more: bool = False
    matched: int | None = None
    strong: int | None = None
    threshold: float | None = None
    message: str | None = None
    # how the query ran: "hybrid", "words" or "visual"; ``note``: something to say once about it
    # (e.g. an image-only model: the text is matched against the words only)
    mode: str = "visual"
    note: str | None = None

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i):
        return self.hits[i]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- duplicates (dedup/) --------------------------------------------------------------------------
@dataclass(frozen=True)
class DuplicateMember:
    """One file of a duplicate group, with what a person needs to choose a keeper."""

    path: str
    id: int
    size: int
    width: int | None
    height: int | None
    taken_at: str | None
    format: str | None
    mtime_ns: int
    sha: str
    protected: bool = False  # under a --protect folder: never touched
    link: str | None = None  # "hardlink" / "symlink": the same file as another member, never acted on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """Why two members are in one group: the tier and the signals that fired, with scores."""

    a: str
    b: str
    tier: str  # "exact" | "copy" | "similar"
    rule: str  # "same-bytes", "same-pixels", "hash", "crop", "embedding"
    scores: dict[str, float] = field(default_factory=dict)

    def describe(self, name: Callable[[str], str] = os.path.basename, strong: Callable[[str], str] = str) -> str:
        """Why the two files are linked, in one line (the CLI, the HTML report and the web UI show it)::

            a.jpg ↔ b.jpg: copy (hash) · cosine 0.9812 · phash 4 · grey 0.97 · color 0.01

        ``name`` turns each path into what is shown (default: its file name) and ``strong`` marks
        the tier: a renderer passes its own markup (the web UI: code spans and bold).
        """
        scores = " · ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                            for k, v in self.scores.items())
        line = f"{name(self.a)} ↔ {name(self.b)}: {strong(self.tier)} ({self.rule})"
        return line + (f" · {scores}" if scores else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that are the same picture (``exact``/``copy``) or the same scene (``similar``).
    Every pair of members is linked by evidence (no chains); ``keep`` is the suggested keeper."""

    kind: str
    keep: str
    members: list[DuplicateMember]
    evidence: list[Evidence]

    @property
    def duplicates(self) -> list[str]:
        return [m.path for m in self.members if m.path != self.keep]

    def with_keeper(self, path: str) -> "DuplicateGroup":
        """The same group with another member as keeper (the UI's choice)."""
        if path not in {m.path for m in self.members}:
            raise ValueError(f"{path} is not a member of this group")
        return DuplicateGroup(self.kind, path, self.members, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "keep": self.keep, "duplicates": self.duplicates,
                "evidence": [e.to_dict() for e in self.evidence],
                "members": [m.to_dict() for m in self.members]}


@dataclass
class ActionReport:
    """What ``Library.apply`` or ``Library.undo`` did. ``skipped``: (path, reason) pairs."""

    action: str
    manifest: str
    done: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bytes_freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return d
