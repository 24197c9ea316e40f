"""What `pixseek tag NAME --suggest` costs over a large library: training the tag's classifier and
scoring every photo, through ``Library.suggest_tag`` on a real catalogue of random unit vectors.

Two figures: *cold* (a fresh ``Library``, as one CLI call: reading every vector from SQLite, then
training and scoring; scikit-learn imported beforehand) and *warm* (the library keeps the vectors between calls, as the UI's
"suggest more" does). The baseline, measured in the same run, is one exact nearest-neighbour query
over the same in-memory vectors (numpy ``X @ q`` and a top-20): what a centroid search costs.

    PYTHONPATH=src python bench/tag_suggest_cost.py --n 100000 --dim 512 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from index_throughput import cpu_features  # noqa: E402

from pixseek.catalog import Catalog, NewFile  # noqa: E402
from pixseek.library import Library  # noqa: E402

GOAL_SECONDS = 1.0


def build_catalogue(db: Path, n: int, dim: int, seed: int = 0) -> list[str]:
    """``n`` files with random unit vectors, written through the catalogue's own insert."""
    db.mkdir(parents=True, exist_ok=True)
    cat = Catalog(db / "catalog.sqlite")
    rng = np.random.default_rng(seed)
    paths = [f"/photos/{i:07d}.jpg" for i in range(n)]
    with cat.transaction() as conn:
        cat.set_meta(conn, "dim", str(dim))
        cat.set_meta(conn, "model", "fake:pixels|")
        for start in range(0, n, 10_000):
            vecs = rng.normal(size=(min(10_000, n - start), dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for j, vec in enumerate(vecs):
                i = start + j
                cat.insert(conn, NewFile(paths[i], 1000, 1, f"{i:032x}", vec=vec, width=10, height=10))
    cat.close()
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512, help="512: ViT-B-32; 1280: EfficientNet-Lite0")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import sklearn.linear_model  # noqa: F401 - imported once per process; not what a suggestion costs

    with tempfile.TemporaryDirectory(prefix="pixseek-tagcost-") as tmp:
        db = Path(tmp) / "db"
        t = time.perf_counter()
        paths = build_catalogue(db, args.n, args.dim)
        print(f"catalogue of {args.n} random unit vectors (dim {args.dim}) built in {time.perf_counter() - t:.1f} s")
        cold, warm, base = [], [], []
        for r in range(args.repeats):
            with Library(db) as lib:
                lib.tag(f"t{r}", paths[r * 10:r * 10 + 5], not_photos=paths[r * 10 + 5:r * 10 + 8])
            with Library(db) as lib:
                t = time.perf_counter()
                got = lib.suggest_tag(f"t{r}", 20)
                cold.append(time.perf_counter() - t)
                t = time.perf_counter()
                lib.suggest_tag(f"t{r}", 20)
                warm.append(time.perf_counter() - t)
                vectors = lib.tag_book._vectors().vecs
                q = vectors[r]
                t = time.perf_counter()
                scores = vectors @ q
                np.argpartition(-scores, 20)[:20]
                base.append(time.perf_counter() - t)
            assert len(got) == 20
        c, w, b = min(cold), min(warm), min(base)
        print(f"suggest over {args.n} photos: cold {c:.3f} s (fresh library: read vectors + train + score), "
              f"warm {w:.3f} s (vectors in memory: train + score); best of {args.repeats}")
        print(f"baseline (one exact top-20 query over the same vectors, numpy): {b * 1000:.1f} ms; "
              f"warm/baseline = {w / b:.1f}x, cold/baseline = {c / b:.1f}x")
        print(f"goal: < {GOAL_SECONDS:.1f} s -> cold {'met' if c < GOAL_SECONDS else 'NOT met'}, "
              f"warm {'met' if w < GOAL_SECONDS else 'NOT met'}")
        print(f"CPU: {os.cpu_count()} cores, {cpu_features()}; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
