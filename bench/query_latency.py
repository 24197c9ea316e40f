"""What the query options cost: latency of one query at N images, plain vs filtered, strong, collapsed, paged.

    python bench/query_latency.py [--n 100000] [--dim 512] [--repeat 30]

A library of N synthetic unit vectors (clustered, so that scores have structure; 1 in 20 files a
byte-identical copy of another) with realistic catalogue rows: paths in 100 folders, sizes, EXIF
dates for half of them, file times for the rest. Queries use an indexed image as the example (no
model runs), so the numbers are the search itself: SQL filter, FAISS search, cut-off, collapsing,
the catalogue look-ups. Every line prints its ratio to the plain query measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import pixseek  # noqa: E402
from pixseek import Filters, Query  # noqa: E402
from pixseek.catalog import NewFile  # noqa: E402
from pixseek.encoders import ModelSpec, register  # noqa: E402


class _NoEncoder:  # the queries use stored vectors: a model must never be loaded
    def __init__(self, spec: ModelSpec) -> None:
        raise AssertionError("the benchmark must not load a model")


def build(db: Path, n: int, dim: int) -> pixseek.Library:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    lib = pixseek.open(db, model="bench:none")
    with lib.catalog.transaction() as tx:
        lib.catalog.set_meta(tx, "model", lib.spec.id)
        lib.catalog.set_meta(tx, "dim", str(dim))
        for start in range(0, n, 10_000):
            m = min(10_000, n - start)
            vecs = centres[rng.integers(0, 200, m)] + 0.8 * rng.normal(size=(m, dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for j in range(m):
                i = start + j
                sha = f"sha{i - 1 if i % 20 == 19 else i}"  # every 20th file copies the one before
                vec = vecs[j - 1] if i % 20 == 19 and j else vecs[j]
                w, h = (4000, 3000) if i % 3 else (3000, 4000)
                taken = f"20{10 + i % 14:02d}-{1 + i % 12:02d}-15T12:00:00" if i % 2 else None
                mtime = 1_300_000_000_000_000_000 + (i % 400) * 1_000_000_000_000_000  # 2011-2023
                lib.catalog.insert(tx, NewFile(f"/photos/{i % 100:03d}/{i:07d}.jpg", 1000, mtime,
                                               sha, vec=vec, width=w, height=h, taken_at=taken))
    lib.store  # builds the FAISS index from the catalogue
    return lib


def timed(lib: pixseek.Library, query: Query, repeat: int) -> float:
    lib.query(query)  # warm: caches, first-touch
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        lib.query(query)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    register("bench:", _NoEncoder)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        lib = build(Path(tmp) / "db", args.n, args.dim)
        print(f"{args.n} images x {args.dim}-d ({lib.store.describe()}), built in {time.perf_counter() - t:.0f} s; "
              f"median of {args.repeat} queries, k=20")
        example = ["/photos/007/0000007.jpg"]
        cases = [
            ("plain (collapse off)", Query(images=example, k=20, collapse=False)),
            ("collapsed copies (default)", Query(images=example, k=20)),
            ("page 10 (offset 180)", Query(images=example, k=20, offset=180)),
            ("--under one folder", Query(images=example, k=20, filters=Filters(under="/photos/042"))),
            ("--since 2020 --until 2021", Query(images=example, k=20, filters=Filters(since="2020", until="2021"))),
            ("--orientation portrait", Query(images=example, k=20, filters=Filters(orientation="portrait"))),
            ("--strong", Query(images=example, k=20, strong=True)),
            ("all of the above", Query(images=example, k=20, strong=True,
                                       filters=Filters(under="/photos/042", orientation="portrait"))),
        ]
        base = None
        for name, query in cases:
            ms = 1000 * timed(lib, query, args.repeat)
            base = base or ms
            matched = lib.query(query).matched
            share = f"filter keeps {100 * matched / args.n:4.1f} %" if matched is not None else ""
            print(f"  {name:26s} {ms:8.2f} ms   x{ms / base:5.1f}   {share}")
        lib.close()


if __name__ == "__main__":
    main()
