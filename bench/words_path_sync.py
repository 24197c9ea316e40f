"""What the words of names and sidecars cost an `index` run that finds nothing new.

After every `index` run pixseek brings the path words (file and folder names, sidecar `.xmp`) up to
date for files whose path or sidecar changed (`pixseek.words.paths.sync_path_words`): one pass over
the indexed rows and one `scandir` per folder. This measures that pass on a synthetic catalogue
(N files in N/100 folders), against a baseline measured in the same run: reading every indexed row
once (`Catalog.ok_rows`, what the crawl's diff against the catalogue costs at least).

    python bench/words_path_sync.py [N]     # default 50000

Prints the first sync (every file gets its words), the no-op sync and the baseline, the ratio of
the no-op sync to the baseline, the catalogue's growth per file, the CPU flags and the load.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from index_throughput import cpu_features  # noqa: E402

from pixseek.catalog import Catalog  # noqa: E402
from pixseek.words.paths import sync_path_words  # noqa: E402


def main(n: int) -> None:
    folder = tempfile.mkdtemp(prefix="pixseek-bench-")
    path = os.path.join(folder, "catalog.sqlite")
    catalog = Catalog(path)
    with catalog.transaction() as db:
        db.executemany(
            "INSERT INTO files (path, size, mtime_ns, sha, status, indexed_at) VALUES (?, 1, 1, ?, 'ok', 0)",
            [(f"{folder}/photos/Trip {i % max(1, n // 100)}/IMG_{i:06d}.jpg", f"{i:032x}") for i in range(n)])
    catalog.add_roots([f"{folder}/photos"])
    catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = os.path.getsize(path)
    t = time.perf_counter()
    sync_path_words(catalog)
    first = time.perf_counter() - t
    catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    growth = (os.path.getsize(path) - before) / n
    noop = min(_timed(lambda: sync_path_words(catalog)) for _ in range(3))
    base = min(_timed(lambda: list(catalog.ok_rows())) for _ in range(3))
    print(f"{n} files in {max(1, n // 100)} folders; CPU flags: {cpu_features()}; load {os.getloadavg()[0]:.1f}")
    print(f"first sync (names of every file):  {first:7.2f} s  ({first / n * 1e6:.0f} µs per file)")
    print(f"no-op sync (nothing changed):      {noop:7.2f} s")
    print(f"baseline (read every row once):    {base:7.2f} s")
    print(f"no-op sync / baseline:             {noop / base:7.2f}x")
    print(f"catalogue growth: {growth:.0f} bytes per file (names and folder words with their FTS5 index)")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
