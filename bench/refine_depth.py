"""Recall and time against the number of candidates re-ranked (``REFINE_MIN``), on the 1M store that
``bench/search_latency.py`` built and cached (run that first; same data, same seed).

    PYTHONPATH=src python bench/refine_depth.py

Each depth is timed twice, interleaved, one query per call; wall clock and the thread's CPU time.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_throughput import cpu_features  # noqa: E402
from search_latency import embeddings_like  # noqa: E402

from pixseek.stores import faiss as fs  # noqa: E402
from pixseek.stores.faiss import FaissStore  # noqa: E402

DEPTHS = (48, 64, 96, 128)


def main() -> None:
    print(f"CPU: {cpu_features()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    data, queries = embeddings_like(1_000_000, 200, 512, 4000)
    flat = faiss.IndexFlatIP(512)
    flat.add(data)
    _, truth = flat.search(queries, 10)
    del flat, data
    folder = glob.glob(str(Path.home() / ".cache/pixseek-bench/search_latency/n1000000-d512-c4000-*"))[0]
    store = FaissStore(folder, 512)
    res: dict[int, list] = {}
    for _ in range(2):
        for depth in DEPTHS:
            fs.REFINE_MIN = depth
            wall, cpu, rec = [], [], []
            for i, q in enumerate(queries):
                start, start_cpu = time.perf_counter(), time.thread_time()
                _, got = store.search(q[None], 10)
                wall.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
                rec.append(len(np.intersect1d(got[0], truth[i])) / 10)
            res.setdefault(depth, []).append((np.mean(rec), np.median(wall) * 1e3, np.median(cpu) * 1e3,
                                              np.min(wall) * 1e3))
    for depth, rows in res.items():
        print(depth, " | ".join(f"recall@10 {r:.4f} wall p50 {w:.2f} ms, CPU p50 {c:.2f} ms, min {m:.2f} ms"
                                for r, w, c, m in rows), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
