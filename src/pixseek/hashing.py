"""Perceptual hashes (imagehash) and a hash of decoded pixels: the cheap signals of duplicate finding.

- ``phash``: 64-bit DCT hash of the 32x32 grey image. Robust to re-encoding, resizing, format
  changes, brightness and grey conversion; a few bits move under light edits; crops move many.
- ``dhash``: 64-bit gradient hash; a second opinion that fails differently from ``phash``.
- ``pixel_hash``: blake2b of the upright, fully decoded RGB pixels: equal for a PNG and the JPEG
  it was saved from, or a file re-saved with other metadata ("same decoded pixels").

Hashes are stored per content hash (``sha``) in the catalogue, so a copy of a file costs nothing.

>>> from PIL import Image
>>> h = perceptual_hashes(Image.new("RGB", (64, 48), "white"))
>>> hamming(h.phash, h.phash)
0
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .imaging import decode_image

_MASK64 = (1 << 64) - 1


GREY_SIDE = 32  # the grey thumbnail: 32x32 bytes, squashed to a square like pHash's input
COLOR_SIDE = 8  # the colour thumbnail: 8x8 RGB bytes


@dataclass(frozen=True)
class ImageHashes:
    """The perceptual hashes of one picture (unsigned 64-bit integers) and two tiny thumbnails
    that let dedup tell a brightened or grey copy from a dark or recoloured variant."""

    phash: int
    dhash: int
    grey: bytes = b""  # GREY_SIDE x GREY_SIDE, row-major
    color: bytes = b""  # COLOR_SIDE x COLOR_SIDE x RGB


def perceptual_hashes(image: Image.Image) -> ImageHashes:
    """Hashes and thumbnails of an upright image (any size: everything shrinks it first).

    Callers pass the image the indexer already decoded (maybe JPEG-draft reduced): the hashes
    work on 32x32 and 9x8 grey thumbnails, so a 2x-reduced decode gives the same bits.
    """
    import imagehash  # optional heavy import (scipy) kept out of `import pixseek`

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    factor = min(rgb.size) // 64
    if factor >= 2:  # integer box shrink first (cheap); the hashes then resize a ~64-128 px image
        rgb = rgb.reduce(factor)
    grey = rgb.convert("L")
    thumb = grey.resize((GREY_SIDE, GREY_SIDE), Image.Resampling.BOX)
    color = rgb.resize((COLOR_SIDE, COLOR_SIDE), Image.Resampling.BOX)
    return ImageHashes(_to_int(imagehash.phash(grey)), _to_int(imagehash.dhash(grey)),
                       thumb.tobytes(), color.tobytes())


def pixel_hash(source: str | os.PathLike | bytes) -> str:
    """Hash of the upright, fully decoded RGB pixels (and their size) of a file or its bytes.

    Raises :class:`~pixseek.errors.ImageDecodeError` when the file cannot be decoded.
    """
    decoded = decode_image(source)
    image = decoded.image
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.width}x{image.height}:".encode())
    h.update(np.asarray(image, dtype=np.uint8).tobytes())
    return h.hexdigest()


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes."""
    return ((a ^ b) & _MASK64).bit_count()


def hamming_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance of two uint64 arrays (vectorised popcount)."""
    x = np.atleast_1d(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


def to_signed(value: int) -> int:
    """A 64-bit hash as SQLite's signed INTEGER."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    """The inverse of :func:`to_signed`."""
    return value & _MASK64


def _to_int(h) -> int:
    bits = np.asarray(h.hash, dtype=bool).reshape(-1)
    return int("".join("1" if b else "0" for b in bits), 2)



# -- comparing two pictures' thumbnails (dedup's second opinion) ------------------------------------
_VIEW_SIDE = 16
_ZOOMS = (0.92, 0.85)  # light crops: 4-8 % off each side on average


def grey_views(grey: bytes) -> np.ndarray:
    """The grey thumbnail (as ``views[0]``) and 18 light crops of it, each 16x16, centred and
    scaled to unit length: ``views @ other[0]`` are correlations, tolerant of a light crop when
    the maximum over the views is taken."""
    side = int(round(len(grey) ** 0.5))
    im = Image.frombytes("L", (side, side), grey)
    views = [np.asarray(im.resize((_VIEW_SIDE, _VIEW_SIDE), Image.Resampling.BILINEAR), dtype=np.float32)]
    for zoom in _ZOOMS:
        w = side * zoom
        for ox in (0.0, 0.5, 1.0):
            for oy in (0.0, 0.5, 1.0):
                x0, y0 = (side - w) * ox, (side - w) * oy
                views.append(np.asarray(im.resize((_VIEW_SIDE, _VIEW_SIDE), Image.Resampling.BILINEAR,
                                                  box=(x0, y0, x0 + w, y0 + w)), dtype=np.float32))
    x = np.stack(views).reshape(len(views), -1)
    x -= x.mean(axis=1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-3)


def chromaticity(color: bytes) -> tuple[np.ndarray, float]:
    """Per cell of the colour thumbnail, r:g:b shares (brightness cancels out), and how colourful
    the picture is (mean distance of a channel from the cell's grey; ~0 for a grey picture)."""
    c = np.frombuffer(color, np.uint8).reshape(-1, 3).astype(np.float32)
    shares = c / np.maximum(c.sum(axis=1, keepdims=True), 1.0)
    return shares, float(np.abs(c - c.mean(axis=1, keepdims=True)).mean())
