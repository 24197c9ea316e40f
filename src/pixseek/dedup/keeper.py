"""Which file of a group to keep: the keep policy (``--keep``) and the choice it makes.

Symlinks are never chosen while a real file is in the group (acting on the file would leave the
link pointing at nothing).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..errors import PixseekError
from ..paths import is_under, norm_dir
from ..types import DuplicateMember

LOSSLESS = frozenset({"PNG", "TIFF", "BMP", "GIF", "PPM"})


@dataclass(frozen=True)
class KeepPolicy:
    """``default`` (resolution, lossless, least compressed, oldest, shortest path), ``largest``
    (most bytes), ``oldest`` / ``newest`` (capture date, else file time), or ``path:DIR``."""

    name: str = "default"
    folder: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "KeepPolicy":
        text = (text or "default").strip()
        if text.startswith("path:"):
            folder = text[5:]
            if not folder:
                raise PixseekError("--keep path:DIR needs a folder, e.g. --keep path:~/Pictures/originals")
            return cls("path", norm_dir(folder))
        if text not in ("default", "largest", "oldest", "newest"):
            raise PixseekError(f"unknown --keep {text!r}: use largest, oldest, newest or path:DIR")
        return cls(text)


def choose_keeper(members: list[DuplicateMember], policy: KeepPolicy, sharpest: bool = False) -> DuplicateMember:
    """The member to keep: never a symlink when a real file is there; then by ``policy``. With the
    default policy, a RAW+JPEG pair is kept before a lone picture (the pair holds the RAW), and
    ``sharpest`` (a burst) keeps the sharpest frame."""
    real = [m for m in members if not os.path.islink(m.path)] or members
    if sharpest and policy.name == "default" and any(m.sharpness is not None for m in real):
        return max(real, key=lambda m: (m.sharpness or 0.0, m.pair is not None, m.format != "RAW", -m.id))

    def default_key(m: DuplicateMember) -> tuple:
        pixels = (m.width or 0) * (m.height or 0)
        lossless = (m.format or "").upper() in LOSSLESS
        bytes_per_pixel = m.size / pixels if pixels else 0.0
        return (m.pair is None, -pixels, not lossless, -bytes_per_pixel, m.taken_at or "9999", len(m.path), m.path)

    def when(m: DuplicateMember) -> str:
        return m.taken_at or _iso(m.mtime_ns)

    ordered = sorted(real, key=default_key)  # ties below go to the default order
    if policy.name == "largest":
        return max(ordered, key=lambda m: m.size)
    if policy.name == "oldest":
        return min(ordered, key=when)
    if policy.name == "newest":
        return max(ordered, key=when)
    if policy.name == "path":
        return min(real, key=lambda m: (not is_under(m.path, policy.folder or ""), default_key(m)))
    return min(real, key=default_key)


def _iso(mtime_ns: int) -> str:
    return datetime.datetime.fromtimestamp(mtime_ns / 1e9).isoformat(timespec="seconds")
