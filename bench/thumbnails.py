#!/usr/bin/env python3
"""What the web UI sends for a 20-megapixel photo, and what a thumbnail costs the first time and after.

    PYTHONPATH=src python bench/thumbnails.py

Baselines are measured in the same run: the original file (bytes a gallery tile would cost without
thumbnails) and the first, uncached thumbnail (what the cache saves on every later view).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pixseek.hashing import content_hash  # noqa: E402
from pixseek.thumbs import GALLERY_SIZE, PREVIEW_SIZE, ThumbnailCache  # noqa: E402


def photo_20mp(path: Path, progressive: bool) -> None:
    import skimage.data

    small = Image.fromarray(skimage.data.astronaut())
    small.resize((5472, 3648), Image.BICUBIC).save(path, quality=90, progressive=progressive)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for progressive in (False, True):
            src = tmp / f"20mp-{'progressive' if progressive else 'baseline'}.jpg"
            photo_20mp(src, progressive)
            sha = content_hash(src.read_bytes())
            original = src.stat().st_size
            for size in (GALLERY_SIZE, PREVIEW_SIZE):
                cold, warm = [], []
                for run in range(3):
                    cache = ThumbnailCache(tmp / f"thumbs-{progressive}-{run}")
                    t = time.perf_counter()
                    out = cache.get(src, sha, size)
                    cold.append(time.perf_counter() - t)
                    for _ in range(20):
                        t = time.perf_counter()
                        cache.get(src, sha, size)
                        warm.append(time.perf_counter() - t)
                sent = out.stat().st_size
                with Image.open(out) as im:
                    dims = im.size
                print(f"{src.name} ({original / 1e6:.1f} MB) -> {size}px {dims[0]}x{dims[1]}: "
                      f"{sent / 1e3:.0f} KB sent, {original / sent:.0f}x fewer bytes than the original; "
                      f"first view {statistics.median(cold) * 1e3:.0f} ms, cached "
                      f"{statistics.median(warm) * 1e6:.0f} us ({statistics.median(cold) / statistics.median(warm):.0f}x)")


if __name__ == "__main__":
    main()
