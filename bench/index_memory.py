"""Memory while indexing a large folder stays flat: bounded queues, nothing kept per photo.

    python bench/index_memory.py [--photos 10000] [--model timm:mobilenetv3_small_050 --pretrained random]

Writes PHOTOS distinct 1024x768 JPEGs (crops of scikit-image photos with a per-file tint) into
``~/.cache/pixseek-bench/many-N`` once, indexes them into a temporary library, and samples the
process's resident memory at every progress callback. Prints RSS after 10%, 50% and 100% of the
photos and the growth per photo in between: flat means about what the in-memory vector store must
hold (dim x 4 bytes per photo), against ~2 MB per photo if decoded images were kept.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image  # noqa: E402

import pixseek  # noqa: E402

PAGE = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def make_photos(folder: Path, n: int) -> None:
    import skimage.data

    if folder.exists() and len(list(folder.glob("*.jpg"))) >= n:
        return
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        a = getattr(skimage.data, name)()[..., :3]
        tile = np.concatenate([a, a[:, ::-1]], axis=1)
        sources.append(np.tile(np.concatenate([tile, tile[::-1]], axis=0), (3, 3, 1)))
    rng = np.random.default_rng(0)
    for i in range(n):
        src = sources[i % len(sources)]
        y, x = rng.integers(0, src.shape[0] - 768), rng.integers(0, src.shape[1] - 1024)
        tint = rng.uniform(0.8, 1.2, 3)
        crop = np.clip(src[y:y + 768, x:x + 1024] * tint, 0, 255).astype(np.uint8)
        Image.fromarray(crop).save(folder / f"IMG_{i:05d}.jpg", quality=85)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--model", default="timm:mobilenetv3_small_050")
    ap.add_argument("--pretrained", default="random")
    args = ap.parse_args()
    folder = Path.home() / ".cache" / "pixseek-bench" / f"many-{args.photos}"
    started = time.perf_counter()
    make_photos(folder, args.photos)
    print(f"{args.photos} photos of 1024x768 in {folder} ({time.perf_counter() - started:.0f} s to prepare)")
    samples: list[tuple[int, int]] = []
    tmp = Path(tempfile.mkdtemp(prefix="pixseek-mem-"))
    try:
        with pixseek.open(tmp / "db", model=args.model, pretrained=args.pretrained) as lib:
            lib.encoder  # noqa: B018  (loaded before the first sample)
            report = lib.index([folder], progress=lambda done, total: samples.append((done, rss_bytes())))
            dim = lib.encoder.dim
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done = np.array([d for d, _ in samples])
    rss = np.array([r for _, r in samples])

    def at(fraction: float) -> tuple[int, int]:
        i = int(np.searchsorted(done, fraction * args.photos))
        return int(done[min(i, len(done) - 1)]), int(rss[min(i, len(rss) - 1)])

    (d10, r10), (d50, r50), (d100, r100) = at(0.1), at(0.5), at(1.0)
    print(f"indexed {report.added} in {report.seconds:.0f} s ({report.added / report.seconds:.1f} images/s)")
    print(f"RSS: {r10 / 1e6:.0f} MB at {d10}, {r50 / 1e6:.0f} MB at {d50}, {r100 / 1e6:.0f} MB at {d100}; "
          f"peak {rss.max() / 1e6:.0f} MB")
    print(f"growth per photo: {(r50 - r10) / max(1, d50 - d10):.0f} bytes from 10% to 50% (caches warming), "
          f"{(r100 - r50) / max(1, d100 - d50):.0f} bytes from 50% to 100%; the vector store itself holds "
          f"{dim * 4} bytes per photo (dim {dim} x float32), a decoded photo would be ~{1024 * 768 * 3 // 1000} kB")


if __name__ == "__main__":
    main()
