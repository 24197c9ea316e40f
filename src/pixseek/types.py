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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d
