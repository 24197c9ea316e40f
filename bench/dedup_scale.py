"""Dedup at scale: 100k indexed images (synthetic clustered vectors and hashes) on this machine.

Builds a real catalogue (SQLite, schema as ``pixseek index`` writes it) holding N images: pictures
in topics (embedding cosine ~0.5 within a topic, like related photos), a share of them with 1-3
near-copies (cosine 0.9-0.99, pHash a few bits apart). Then, in a fresh process (so the memory
figure is dedup's own), runs ``Library.duplicates()`` end to end and reports time, peak memory,
groups found against the planted copies, and the candidate recall of the IVF self-join against
the exact range search.

Baseline, measured in the same run: the exact range search that a flat store does
(``FaissStore.range_search``, the N x N work without the matrix) on a sample of queries,
scaled to all N queries (its cost is linear in the number of queries).

    PYTHONPATH=src .venv/bin/python bench/dedup_scale.py            # 100k x 512
    PYTHONPATH=src .venv/bin/python bench/dedup_scale.py -n 20000   # the exact path
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 0


def build(db_dir: Path, n: int, dim: int) -> dict:
    """Write the synthetic library; return what was planted."""
    from pixseek.catalog import Catalog, NewFile
    from pixseek.hashing import ImageHashes

    rng = np.random.default_rng(SEED)
    n_topics = max(1, n // 50)
    copies_share = 0.15
    n_pictures = int(n / (1 + 2 * copies_share))
    topics = _unit(rng.standard_normal((n_topics, dim)).astype(np.float32))
    topic_of = rng.integers(0, n_topics, n_pictures)
    pictures = _unit(topics[topic_of] + rng.standard_normal((n_pictures, dim)).astype(np.float32) / np.sqrt(dim))
    picture_of = list(range(n_pictures))
    extra = n - n_pictures
    with_copies = rng.choice(n_pictures, extra, replace=True)
    picture_of += with_copies.tolist()
    picture_of = np.array(picture_of)
    noise = rng.uniform(0.15, 0.45, extra)[:, None] / np.sqrt(dim)
    vecs = np.concatenate([pictures, _unit(pictures[with_copies] + noise * rng.standard_normal((extra, dim)))])
    vecs = vecs.astype(np.float32)
    base_ph = rng.integers(0, 2**63, n_pictures, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    grey = rng.integers(0, 256, (n_pictures, 8, 8)).astype(np.float32)
    color = rng.integers(0, 256, (n_pictures, 8, 8, 3)).astype(np.uint8)

    catalog = Catalog(db_dir / "catalog.sqlite")
    with catalog.transaction() as db:
        catalog.set_meta(db, "model", "ViT-B-32|synthetic")
        catalog.set_meta(db, "dim", str(dim))
    catalog.add_roots(["/synthetic"])
    for start in range(0, n, 5000):
        with catalog.transaction() as db:
            for k in range(start, min(n, start + 5000)):
                p = int(picture_of[k])
                flips = 0 if k < n_pictures else int(rng.integers(0, 5))
                ph = int(base_ph[p])
                for bit in rng.choice(64, flips, replace=False):
                    ph ^= 1 << int(bit)
                g = np.kron(grey[p], np.ones((4, 4))) + (0 if k < n_pictures else rng.normal(0, 6, (32, 32)))
                sha = f"{k:032x}"
                catalog.insert(db, NewFile(f"/synthetic/{k // 1000:03d}/{k:06d}.jpg", 100_000 + k, k, sha,
                                           vec=vecs[k], width=4000 - (k >= n_pictures) * 1000, height=3000,
                                           format="JPEG"))
                catalog.set_hashes(db, sha, ImageHashes(ph, ph ^ 0xFFFF, np.clip(g, 0, 255).astype(np.uint8).tobytes(),
                                                        color[p].tobytes()))
    catalog.close()
    np.save(db_dir / "planted.npy", picture_of)
    planted = int(np.sum(np.bincount(picture_of) - 1))
    return {"pictures": n_pictures, "copies": planted}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run_dedup(db_dir: Path) -> None:
    """In its own process: dedup end to end; print one JSON line."""
    import pixseek

    t0 = time.perf_counter()
    with pixseek.open(db_dir) as lib:
        groups = lib.duplicates()
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    picture_of = np.load(db_dir / "planted.npy")
    mixed = found = 0
    for g in groups:
        pics = [int(picture_of[int(m.path[-10:-4])]) for m in g.members]
        mixed += len(set(pics)) > 1
        found += len(pics) - len(set(pics))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb, "groups": len(groups),
                      "duplicates": sum(len(g.duplicates) for g in groups), "mixed_groups": mixed,
                      "copies_found": found}))


def baseline_and_recall(db_dir: Path, sample: int, gate: float) -> dict:
    """Exact range search (flat store) on ``sample`` queries; the join's candidate recall on them."""
    from pixseek.catalog import Catalog
    from pixseek.dedup.simjoin import ivf_self_join
    from pixseek.stores.faiss import FaissStore

    catalog = Catalog(db_dir / "catalog.sqlite")
    ids = np.sort(catalog.ids_with_vectors())
    vecs = np.concatenate([catalog.vectors(ids[s:s + 10_000].tolist()) for s in range(0, len(ids), 10_000)])
    store = FaissStore(Path(tempfile.mkdtemp()), vecs.shape[1], ann_threshold=len(ids) + 1)
    store.add(ids, vecs)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(ids), sample, replace=False)
    t0 = time.perf_counter()
    results = store.range_search(vecs[pick], gate)
    exact_s = (time.perf_counter() - t0) * len(ids) / sample
    truth = {(min(int(ids[q]), int(f)), max(int(ids[q]), int(f))): float(s)
             for q, (found, scores) in zip(pick, results) for f, s in zip(found, scores) if f != ids[q]}
    pairs = ivf_self_join(ids, vecs, gate)
    got = set(zip(pairs.a.tolist(), pairs.b.tolist()))
    hi = [p for p, s in truth.items() if s >= 0.9]
    return {"exact_all_s": exact_s, "recall": sum(p in got for p in truth) / max(1, len(truth)),
            "recall_ge_0.9": sum(p in got for p in hi) / max(1, len(hi)), "sampled_pairs": len(truth)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sample", type=int, default=2000, help="queries timed for the exact baseline")
    ap.add_argument("--dedup-only", metavar="DB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dedup_only:
        run_dedup(Path(args.dedup_only))
        return 0
    from pixseek.dedup import Thresholds

    db_dir = Path(tempfile.mkdtemp(prefix="pixseek-dedup-scale-"))
    t0 = time.perf_counter()
    planted = build(db_dir, args.n, args.dim)
    print(f"built {args.n} images x {args.dim} ({planted['copies']} planted copies) in {time.perf_counter() - t0:.0f} s"
          f" on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    proc = subprocess.run([sys.executable, __file__, "--dedup-only", str(db_dir)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())})
    if proc.returncode:
        print(proc.stderr)
        return 1
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"dedup: {res['seconds']:.1f} s, peak memory {res['peak_rss_mb']:.0f} MB, {res['groups']} groups, "
          f"{res['copies_found']} of {planted['copies']} planted copies found, {res['mixed_groups']} groups "
          "mixing two pictures", flush=True)
    base = baseline_and_recall(db_dir, args.sample, Thresholds().embed_gate)
    print(f"baseline: exact range search of all {args.n} (flat store) ~{base['exact_all_s']:.0f} s "
          f"(timed on {args.sample} queries, scaled)")
    print(f"ratio: dedup is {base['exact_all_s'] / res['seconds']:.1f}x faster than the exact range search alone")
    print(f"candidate recall of the join vs exact: {base['recall']:.4f} at cosine >= {Thresholds().embed_gate}, "
          f"{base['recall_ge_0.9']:.4f} at >= 0.9 ({base['sampled_pairs']} sampled pairs)")
    print(f"target: under 30 s: {'yes' if res['seconds'] < 30 else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
