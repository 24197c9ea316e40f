"""Single-query search latency, recall and memory of the FAISS store, against exact flat search.

Data look like image embeddings: a Gaussian mixture on the unit sphere (thousands of centres
sharing a common direction, so random pairs score ~0.15 and nearest neighbours ~0.85); queries
come from the same mixture but are not in the database.

For each size the store is built the way the indexer builds it (adds of 50k, crossing the
flat -> IVF threshold on the way), then queried one query at a time through ``FaissStore.search``.
The baseline is a FAISS ``IndexFlatIP`` over the same vectors, queried the same way in the same run.

    PYTHONPATH=src python bench/search_latency.py --sizes 100000,1000000 --queries 200
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from pixseek.stores.faiss import FaissStore

ADD_BATCH = 50_000
K = 10


def normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def embeddings_like(
    n: int, n_queries: int, dim: int, n_centres: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(database, queries)``: centre + noise (spread 0.35-0.6 per centre), normalised."""
    rng = np.random.default_rng(seed)
    shared = normalise(rng.standard_normal((1, dim), dtype=np.float32))
    centres = normalise(rng.standard_normal((n_centres, dim), dtype=np.float32))
    centres = normalise(centres + 0.5 * shared)  # a shared direction: random pairs score ~0.15
    spread = rng.uniform(0.35, 0.6, n_centres).astype(np.float32)

    def draw(m: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((m, dim), np.float32)
        for start in range(0, m, 100_000):
            stop = min(m, start + 100_000)
            pick = rng.integers(0, n_centres, stop - start)
            noise = rng.standard_normal((stop - start, dim), dtype=np.float32) / np.sqrt(dim)
            out[start:stop] = centres[pick] + spread[pick, None] * noise
        return normalise(out)

    return draw(n, rng), draw(n_queries, np.random.default_rng(seed + 1))


OPEN_AND_MEASURE = """
import sys
from pixseek.stores.faiss import FaissStore
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6
before = rss()
store = FaissStore(sys.argv[1], int(sys.argv[2]))
print(rss() - before)
"""


def memory_when_opened(folder: Path, dim: int) -> float:
    """MB of resident memory that opening the saved store adds, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", OPEN_AND_MEASURE, str(folder), str(dim)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def latencies(search, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query seconds and the (q, K) ids, one query per call after a short warm-up."""
    for q in queries[:5]:
        search(q[None, :])
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(search(q[None, :])[0])
        times.append(time.perf_counter() - start)
    return np.array(times), np.array(found)


def exact(base: np.ndarray, queries: np.ndarray, n_timed: int):
    """Ground truth (batched, all threads) and single-query flat latency (1 thread, its fastest)."""
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    scores, truth = flat.search(queries, K)
    faiss.omp_set_num_threads(1)
    times, _ = latencies(lambda q: flat.search(q, K)[1], queries[:n_timed])
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    return truth, scores, times


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / K for f, t in zip(found, truth)]))


def bench_size(base: np.ndarray, queries: np.ndarray, n_flat_timed: int, folder: Path) -> dict:
    n = len(base)
    truth, true_scores, flat_times = exact(base, queries, n_flat_timed)
    gc.collect()

    start = time.perf_counter()
    store = FaissStore(folder, base.shape[1])
    for lo in range(0, n, ADD_BATCH):
        store.add(np.arange(lo, min(n, lo + ADD_BATCH)), base[lo : lo + ADD_BATCH])
    build_s = time.perf_counter() - start
    store.save()
    file_bytes = store.path.stat().st_size
    store.close()
    del store
    gc.collect()

    reopened_mb = memory_when_opened(folder, base.shape[1])
    store = FaissStore(folder, base.shape[1])
    times, found = latencies(lambda q: store.search(q, K)[1], queries)
    rng = np.random.default_rng(5)
    one_percent = rng.choice(n, n // 100, replace=False)
    filtered_times, filtered = latencies(
        lambda q: store.search(q, K, filter_ids=one_percent)[1], queries[:50]
    )
    assert (filtered >= 0).all() and np.isin(filtered, one_percent).all()
    row = {
        "n": n,
        "index": store.describe(),
        "build_s": build_s,
        "p50_ms": np.median(times) * 1e3,
        "p99_ms": np.percentile(times, 99) * 1e3,
        "recall": recall_at_k(found, truth),
        "flat_p50_ms": np.median(flat_times) * 1e3,
        "filt_p50_ms": np.median(filtered_times) * 1e3,
        "file_mb": file_bytes / 1e6,
        "bytes_per_vec": file_bytes / n,
        "rss_mb": reopened_mb,
        "nn_cos": float(np.median(true_scores[:, 0])),
    }
    store.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated vector counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--centres", type=int, default=4000)
    parser.add_argument(
        "--flat-queries", type=int, default=30, help="queries timed on the flat baseline"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    start = time.perf_counter()
    data, queries = embeddings_like(max(sizes), args.queries, args.dim, args.centres)
    sample = data[np.random.default_rng(3).choice(len(data), 2_000, replace=False)]
    pair_cos = float(np.median((sample[:1000] * sample[1000:]).sum(axis=1)))
    print(
        f"data: {max(sizes):,} x {args.dim} from {args.centres} centres in "
        f"{time.perf_counter() - start:.0f}s; random-pair cosine median {pair_cos:.2f}; "
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads"
    )
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(bench_size(data[:n], queries, args.flat_queries, Path(folder)))
        r = rows[-1]
        print(f"  {n:,}: done (nearest-neighbour cosine median {r['nn_cos']:.2f})", flush=True)

    header = (
        f"{'vectors':>10} {'index':<22} {'build s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'recall@10':>9} {'flat p50':>8} {'speed-up':>8} {'1%-filter p50':>13} "
        f"{'file MB':>7} {'B/vec':>6} {'RSS MB':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['n']:>10,} {r['index']:<22} {r['build_s']:>7.1f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['recall']:>9.3f} {r['flat_p50_ms']:>8.2f} "
            f"{r['flat_p50_ms'] / r['p50_ms']:>7.1f}x {r['filt_p50_ms']:>13.2f} "
            f"{r['file_mb']:>7.0f} {r['bytes_per_vec']:>6.0f} {r['rss_mb']:>6.0f}"
        )
    print(
        "p50/p99: one query per call through FaissStore.search, k=10; flat p50: IndexFlatIP, "
        "1 thread, same run; recall against exact; RSS: growth when a fresh process opens the file."
    )


if __name__ == "__main__":
    main()
