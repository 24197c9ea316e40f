"""Plain data passed between the layers and returned to clients."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
class LibraryStatus:
    images: int
    model: str | None  # e.g. "ViT-B-32", "timm:tf_efficientnet_lite0", "local-dir:/path"
    pretrained: str | None  # the weights: a tag, a checkpoint file, "wheel", "random", or None
    dim: int | None
    roots: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    db: str = ""
    store: str = "faiss"  # where the vectors are: "faiss", or a Milvus spec (see pixseek.scaleout)

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

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i):
        return self.hits[i]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
