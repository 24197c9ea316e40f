"""Thumbnails for clients that show photos: made once per (content, size), kept next to the index.

A thumbnail is named by its photo's content hash, so a renamed or copied photo shares one and an
edited photo gets a new one. They are upright (EXIF orientation applied) JPEGs no bigger than the
size asked for, written atomically: two threads making the same one at once both succeed.

    cache = ThumbnailCache(db_dir / "thumbs")
    cache.get("/photos/IMG_1.jpg", sha, GALLERY_SIZE)   # -> Path of a JPEG, longer side <= 320
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .imaging import Source, make_thumbnail

GALLERY_SIZE = 320  # longer side of a gallery tile: sharp on a 2x screen at 160 px
PREVIEW_SIZE = 1280  # longer side of the large view: a 20-megapixel original never travels

_SHA = re.compile(r"[0-9a-f]{16,128}")


class ThumbnailCache:
    """A folder of thumbnails: ``FOLDER/SIZE/ab/abcdef....jpg``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def path_for(self, sha: str, size: int) -> Path:
        """Where the thumbnail of the photo with content hash ``sha`` lives (it may not exist yet)."""
        if not _SHA.fullmatch(sha or ""):  # the name comes from the catalogue; never let it be a path
            raise ValueError(f"not a content hash: {sha!r}")
        return self.folder / str(int(size)) / sha[:2] / f"{sha}.jpg"

    def get(self, source: Source, sha: str, size: int = GALLERY_SIZE) -> Path:
        """The thumbnail of ``source`` (made now if missing). Raises ImageDecodeError for a bad file."""
        dest = self.path_for(sha, size)
        if not dest.exists():
            make_thumbnail(source, dest, size=size)
        return dest

    def placeholder(self) -> Path:
        """A plain grey tile shown where a photo cannot be read any more (moved, deleted, broken)."""
        dest = self.folder / "placeholder.png"
        if not dest.exists():
            from PIL import Image

            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".placeholder.{os.getpid()}.png")
            Image.new("RGB", (GALLERY_SIZE, GALLERY_SIZE), (200, 200, 200)).save(tmp)
            os.replace(tmp, dest)
        return dest


def jpeg_thumbnail(source: Source, size: int = 160, quality: int = 80) -> bytes:
    """A small upright JPEG, in memory (nothing written): e.g. to show an uploaded query photo
    inline without keeping it. Raises ImageDecodeError for a bad file."""
    import io

    from PIL import Image

    from .imaging import decode_image

    image = decode_image(source, min_side=size).image
    image.thumbnail((size, size), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
