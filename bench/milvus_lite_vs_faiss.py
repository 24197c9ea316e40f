"""Milvus Lite against the FAISS flat store on the same vectors: start-up, writes, searches.

    PYTHONPATH=src python bench/milvus_lite_vs_faiss.py [--n 20000] [--dim 512]

Prints one line per operation with both timings and the ratio (Milvus Lite / FAISS), measured in
this run on this machine. Milvus Lite serves the Milvus API from inside this process (gRPC on
localhost); a Milvus server adds a network hop but searches in C++ (not measurable here).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pixseek.stores.faiss import FaissStore  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    centres = unit(np.random.default_rng(7).standard_normal((500, dim)))
    rng = np.random.default_rng(seed)
    return unit(centres[rng.integers(0, 500, n)] + 0.7 * rng.standard_normal((n, dim)) / np.sqrt(dim))


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    ids = np.arange(args.n, dtype=np.int64) + 1
    vecs = clustered(args.n, args.dim, 1)
    queries = clustered(64, args.dim, 2)
    allowed = ids[::20]
    tmp = Path(tempfile.mkdtemp(prefix="pixseek-bench-"))
    rows = []

    t = time.perf_counter()
    faiss = FaissStore(tmp, args.dim)
    t_faiss_open = time.perf_counter() - t
    rss0 = rss_mb()
    t = time.perf_counter()
    from pixseek.stores.milvus import MilvusStore

    mil = MilvusStore(f"milvus-lite:{tmp / 'bench.db'}", args.dim)
    t_mil_open = time.perf_counter() - t
    rows.append(("open (Milvus Lite: import, start server, create collection)", t_mil_open, t_faiss_open))

    t = time.perf_counter()
    faiss.add(ids, vecs)
    faiss.save()
    t_faiss_add = time.perf_counter() - t
    t = time.perf_counter()
    mil.add(ids, vecs)
    t_mil_add = time.perf_counter() - t
    t = time.perf_counter()
    mil.save()
    t_mil_flush = time.perf_counter() - t
    rows.append((f"add {args.n} + save/flush", t_mil_add + t_mil_flush, t_faiss_add))
    rows.append(("  of which flush", t_mil_flush, float("nan")))

    one = queries[:1]
    rows.append(("search 1 query, k=10", median_s(lambda: mil.search(one, 10), 30),
                 median_s(lambda: faiss.search(one, 10), 30)))
    rows.append(("search 64 queries, k=10", median_s(lambda: mil.search(queries, 10), 5),
                 median_s(lambda: faiss.search(queries, 10), 5)))
    rows.append((f"search 1 query, k=10, filter of {len(allowed)} ids",
                 median_s(lambda: mil.search(one, 10, allowed), 10),
                 median_s(lambda: faiss.search(one, 10, allowed), 10)))
    rows.append(("range search 16 queries, score >= 0.5", median_s(lambda: mil.range_search(queries[:16], 0.5), 3),
                 median_s(lambda: faiss.range_search(queries[:16], 0.5), 3)))
    rows.append(("ids() (a reconcile lists them)", median_s(mil.ids, 3), median_s(faiss.ids, 3)))

    same = np.array_equal(mil.search(queries, 10)[1], faiss.search(queries, 10)[1])
    print(f"n={args.n} d={args.dim}; Milvus Lite top-10 ids equal FAISS flat's for all 64 queries: {same}")
    print(f"peak RSS after Milvus Lite start-up and the writes: {rss_mb():.0f} MB (before: {rss0:.0f} MB)")
    print(f"{'operation':58s} {'Milvus Lite':>12s} {'FAISS':>10s} {'ratio':>8s}")
    for name, m, f in rows:
        ratio = f"{m / f:8.1f}" if f == f and f > 0 else "       -"
        fs = f"{f * 1000:8.2f}ms" if f == f else "         -"
        print(f"{name:58s} {m * 1000:10.1f}ms {fs} {ratio}")
    mil.close()


if __name__ == "__main__":
    main()
