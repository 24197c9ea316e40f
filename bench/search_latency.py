"""Single-query search latency, recall and memory of the FAISS store, against exact flat search.

Data look like image embeddings: a Gaussian mixture on the unit sphere (thousands of centres
sharing a common direction, so random pairs score ~0.15 and nearest neighbours ~0.85); queries
come from the same mixture but are not in the database.

For each size the store is built the way the indexer builds it (adds of 50k, crossing the
flat -> IVF threshold on the way), then opened by a fresh process that queries it one query at a
time through ``FaissStore.search`` and reports its own resident memory (the whole process: Python,
FAISS, the compressed codes; the exact vectors are read from the row files with ``pread``, so they
sit in the page cache, not in the process). The baseline is a FAISS ``IndexFlatIP`` over the same
vectors, queried the same way in the same run. Built stores are cached (keyed by size, data and
index format) under ``~/.cache/pixseek-bench/search_latency/``; ``--rebuild`` builds again.

    PYTHONPATH=src python bench/search_latency.py --sizes 100000,1000000 --queries 200
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from pixseek.stores import faiss as faiss_store
from pixseek.stores.faiss import FaissStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_throughput import cpu_features  # noqa: E402

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


OPEN_AND_QUERY = """
import json, sys, time
import numpy as np
from pixseek.stores.faiss import FaissStore
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6
folder, dim, k, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
queries = np.load(work + "/queries.npy")
allowed = np.load(work + "/allowed.npy")
before = rss()
store = FaissStore(folder, dim)
opened = rss()
def timed(search, qs):
    for q in qs[:5]:
        search(q[None, :])
    times, cpu, found = [], [], []
    for q in qs:
        start, start_cpu = time.perf_counter(), time.thread_time()
        found.append(search(q[None, :])[0])
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    timed.cpu = np.array(cpu)
    return np.array(times), np.array(found)
times, found = timed(lambda q: store.search(q, k)[1], queries)
cpu = timed.cpu
ftimes, ffound = timed(lambda q: store.search(q, k, filter_ids=allowed)[1], queries[:50])
assert (ffound >= 0).all() and np.isin(ffound, allowed).all()
np.save(work + "/times.npy", times); np.save(work + "/found.npy", found); np.save(work + "/ftimes.npy", ftimes)
np.save(work + "/cpu.npy", cpu)
print(json.dumps({"index": store.describe(), "open_mb": opened - before, "rss_mb": rss()}))
"""


def query_in_fresh_process(folder: Path, dim: int, queries: np.ndarray, allowed: np.ndarray) -> dict:
    """Open the saved store in a new process, time single queries there, and read its memory."""
    with tempfile.TemporaryDirectory() as work:
        np.save(f"{work}/queries.npy", queries)
        np.save(f"{work}/allowed.npy", allowed)
        out = subprocess.run(
            [sys.executable, "-c", OPEN_AND_QUERY, str(folder), str(dim), str(K), work],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        for name in ("times", "found", "ftimes", "cpu"):
            result[name] = np.load(f"{work}/{name}.npy")
    return result


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


def built_store(base: np.ndarray, folder: Path, rebuild: bool) -> float:
    """Build the store in ``folder`` (or reuse the one cached there); the build's seconds."""
    stamp = folder / "build.json"
    if stamp.exists() and not rebuild:
        return json.loads(stamp.read_text())["build_s"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n = len(base)
    start = time.perf_counter()
    store = FaissStore(folder, base.shape[1])
    for lo in range(0, n, ADD_BATCH):
        store.add(np.arange(lo, min(n, lo + ADD_BATCH)), base[lo : lo + ADD_BATCH])
    build_s = time.perf_counter() - start
    store.save()
    store.close()
    stamp.write_text(json.dumps({"build_s": build_s}))
    return build_s


def bench_size(base: np.ndarray, queries: np.ndarray, n_flat_timed: int, folder: Path, rebuild: bool) -> dict:
    n = len(base)
    truth, true_scores, flat_times = exact(base, queries, n_flat_timed)
    gc.collect()
    build_s = built_store(base, folder, rebuild)
    gc.collect()
    one_percent = np.random.default_rng(5).choice(n, n // 100, replace=False)
    got = query_in_fresh_process(folder, base.shape[1], queries, one_percent)
    index_bytes = (folder / faiss_store.FILE_NAME).stat().st_size
    disk_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(faiss_store.FILE_NAME))
    times = got["times"]
    return {
        "n": n,
        "index": got["index"],
        "build_s": build_s,
        "p50_ms": np.median(times) * 1e3,
        "cpu_p50_ms": np.median(got["cpu"]) * 1e3,
        "min_ms": np.min(times) * 1e3,
        "p95_ms": np.percentile(times, 95) * 1e3,
        "p99_ms": np.percentile(times, 99) * 1e3,
        "recall": recall_at_k(got["found"], truth),
        "flat_p50_ms": np.median(flat_times) * 1e3,
        "filt_p50_ms": np.median(got["ftimes"]) * 1e3,
        "index_mb": index_bytes / 1e6,
        "disk_mb": disk_bytes / 1e6,
        "open_mb": got["open_mb"],
        "rss_mb": got["rss_mb"],
        "nn_cos": float(np.median(true_scores[:, 0])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated vector counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--centres", type=int, default=4000)
    parser.add_argument(
        "--flat-queries", type=int, default=30, help="queries timed on the flat baseline"
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/pixseek-bench/search_latency",
                        help="where built stores are kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
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
    print(f"CPU: {cpu_features()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    fmt = faiss_store.REFINED_CODES  # the files do not depend on how many candidates are re-ranked
    for n in sizes:
        folder = args.cache / f"n{n}-d{args.dim}-c{args.centres}-{fmt}"
        rows.append(bench_size(data[:n], queries, args.flat_queries, folder, args.rebuild))
        r = rows[-1]
        print(f"  {n:,}: done (nearest-neighbour cosine median {r['nn_cos']:.2f})", flush=True)

    header = (
        f"{'vectors':>10} {'index':<40} {'build s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'min ms':>6} {'CPU p50':>7} "
        f"{'recall@10':>9} {'flat p50':>8} {'speed-up':>8} {'1%-filter p50':>13} "
        f"{'index MB':>8} {'disk MB':>7} {'open MB':>7} {'RSS MB':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['n']:>10,} {r['index']:<40} {r['build_s']:>7.1f} {r['p50_ms']:>7.2f} "
            f"{r['p95_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['min_ms']:>6.2f} {r['cpu_p50_ms']:>7.2f} "
            f"{r['recall']:>9.3f} {r['flat_p50_ms']:>8.2f} "
            f"{r['flat_p50_ms'] / r['p50_ms']:>7.1f}x {r['filt_p50_ms']:>13.2f} "
            f"{r['index_mb']:>8.0f} {r['disk_mb']:>7.0f} {r['open_mb']:>7.0f} {r['rss_mb']:>6.0f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(
        "p50/p95/p99/min: one query per call through FaissStore.search, k=10, in a fresh process (wall clock); "
        "CPU p50: the querying thread's CPU time per query (what a loaded machine's wait for a core leaves out); "
        "flat p50: "
        "IndexFlatIP, 1 thread, same run; recall against exact; index MB: the file held in memory; disk MB: "
        "with the row files; open MB: resident growth when opening; RSS MB: the querying process's "
        "whole resident memory after all queries."
    )


if __name__ == "__main__":
    main()
