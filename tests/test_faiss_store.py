"""FaissStore specifics: the flat-to-IVF switch by size, exact re-ranking of the compressed index, its
row files (append-only, compacted, crash-safe), the upgrade of IVF-SQ8 indexes, and the atomic save.

The cases every store shares (upserts, filters, padding, range search, ...) are in test_store_contract.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import faiss

import numpy as np
import pytest

from pixseek.stores import StoreError, VectorStore, open_store
from pixseek.stores.faiss import FaissStore

DIM = 64
ANN_THRESHOLD = 5_000  # small, so that 20k vectors take the IVF path


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int, n_centres: int = 200, dim: int = DIM) -> np.ndarray:
    """Gaussian mixture on the unit sphere, like image embeddings (fixed centres, seeded noise)."""
    centres = normalise(np.random.default_rng(1234).standard_normal((n_centres, dim)))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n_centres, n)
    return normalise(centres[pick] + 0.5 * rng.standard_normal((n, dim)) / np.sqrt(dim))


def brute_force(queries: np.ndarray, vecs: np.ndarray, ids: np.ndarray, k: int):
    scores = queries @ vecs.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def ann_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.arange(20_000, dtype=np.int64) * 7 + 3  # ids need not be dense
    return ids, clustered(20_000, seed=1), clustered(100, seed=2)


@pytest.fixture(scope="module")
def ann_store(ann_data, tmp_path_factory) -> FaissStore:
    """Built once by adds of 2000 that cross the threshold; tests must not modify it."""
    ids, vecs, _ = ann_data
    store = FaissStore(tmp_path_factory.mktemp("ann"), DIM, ann_threshold=ANN_THRESHOLD)
    for start in range(0, len(ids), 2_000):
        store.add(ids[start : start + 2_000], vecs[start : start + 2_000])
    return store


def small_store(tmp_path: Path, n: int = 2_000) -> tuple[FaissStore, np.ndarray, np.ndarray]:
    ids = np.arange(n, dtype=np.int64) + 100
    vecs = clustered(n, seed=3)
    store = FaissStore(tmp_path, DIM)
    store.add(ids, vecs)
    return store, ids, vecs


# -- persistence -------------------------------------------------------------------------------


def test_save_and_reopen_round_trip(tmp_path):
    store, ids, vecs = small_store(tmp_path)
    store.remove(ids[:10])
    store.save()
    store.close()
    again = open_store(tmp_path, DIM)
    assert isinstance(again, VectorStore) and len(again) == len(ids) - 10
    np.testing.assert_array_equal(again.ids(), ids[10:])
    np.testing.assert_allclose(again.get(ids[10:12]), vecs[10:12], atol=1e-6)
    assert (tmp_path / "vectors.faiss").exists()
    assert sorted(os.listdir(tmp_path)) == ["vectors.faiss"]  # one file, no temp left


def test_interrupted_save_keeps_old_file(tmp_path, monkeypatch):
    store, ids, _ = small_store(tmp_path)
    store.save()
    before = (tmp_path / "vectors.faiss").read_bytes()
    store.remove(ids[:100])

    def crash(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.save()
    monkeypatch.undo()
    assert (tmp_path / "vectors.faiss").read_bytes() == before
    assert os.listdir(tmp_path) == ["vectors.faiss"]
    assert len(FaissStore(tmp_path, DIM)) == len(ids)
    store.save()  # still dirty: the retry writes
    assert len(FaissStore(tmp_path, DIM)) == len(ids) - 100


def test_corrupt_file_is_a_store_error(tmp_path):
    (tmp_path / "vectors.faiss").write_bytes(b"not an index")
    with pytest.raises(StoreError, match="cannot read"):
        open_store(tmp_path, DIM)


def test_open_store_specs(tmp_path):
    assert open_store(tmp_path / "x.faiss", DIM).path == tmp_path / "x.faiss"
    with pytest.raises(StoreError, match="(?i)milvus"):
        open_store("milvus://localhost:19530/images", DIM)


# -- IVF path ----------------------------------------------------------------------------------


def test_crossing_threshold_migrates_and_keeps_quality(ann_store, ann_data):
    ids, vecs, queries = ann_data
    assert ann_store.kind == "ivf_refined"
    assert len(ann_store) == len(ids)
    np.testing.assert_array_equal(ann_store.ids(), np.sort(ids))
    scores, found = ann_store.search(queries, 10)
    want_scores, want_ids = brute_force(queries, vecs, ids, 10)
    assert recall(found, want_ids) >= 0.99
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)  # exact scores: re-ranked
    np.testing.assert_array_equal(ann_store.get(ids[:50]), vecs[:50])  # the vectors as added


def test_ann_filters_return_k_even_when_selective(ann_store, ann_data):
    ids, vecs, queries = ann_data
    rng = np.random.default_rng(12)
    centre_of = np.argmax(vecs @ queries[0])
    far = ids[np.argsort(vecs @ vecs[centre_of])]  # furthest from the query's cluster first
    for size in (4, 15, 1_200, 3_000):  # direct scoring up to 1000, filtered IVF scan above
        k = min(10, size)
        # far: none of them lives in the lists the query probes, so the scan must widen
        for allowed, min_recall in ((far[:size], 1.0 if size <= 1_000 else 0.0),
                                    (rng.choice(ids, size, replace=False), 0.9)):  # fmt: skip
            scores, found = ann_store.search(queries[:1], 10, filter_ids=allowed)
            assert (found[0, :k] >= 0).all() and (found[0, k:] == -1).all()
            assert np.isin(found[0, :k], allowed).all()
            assert (np.diff(scores[0, :k]) <= 0).all()
            subset = np.isin(ids, allowed)
            _, want = brute_force(queries[:1], vecs[subset], ids[subset], k)
            assert recall(found[:, :k], want) >= min_recall


def test_ann_range_search_finds_near_duplicates(ann_store, ann_data):
    ids, vecs, _ = ann_data
    queries = normalise(vecs[:20] + 0.01 * clustered(20, seed=10))
    results = ann_store.range_search(queries, 0.9)
    truth = [set(ids[vecs @ q >= 0.9].tolist()) for q in queries]
    hits = sum(len(truth_i & set(found.tolist())) for truth_i, (found, _) in zip(truth, results))
    assert hits / sum(len(t) for t in truth) >= 0.95
    for found, scores in results:
        assert (np.diff(scores) <= 0).all() and (scores >= 0.9).all()


def test_ann_upsert_remove_save_reopen(ann_store, ann_data, tmp_path):
    ids, vecs, queries = ann_data
    path = tmp_path / "copy.faiss"
    ann_store._dirty = True
    ann_store.save()  # then copy the shared store's files (index and row files) elsewhere
    for name in os.listdir(ann_store.path.parent):
        shutil.copy(ann_store.path.parent / name, tmp_path / name.replace("vectors.faiss", "copy.faiss"))
    store = FaissStore(path, DIM)
    assert store.kind == "ivf_refined" and store.describe() == ann_store.describe()
    np.testing.assert_array_equal(store.ids(), ann_store.ids())
    np.testing.assert_array_equal(store.search(queries, 10)[1], ann_store.search(queries, 10)[1])

    assert store.remove(ids[:500]) == 500
    moved = clustered(1, seed=11)
    store.add(ids[600:601], moved)  # upsert moves the vector to another list
    store.add(np.array([10**12]), moved)  # a brand-new id
    assert len(store) == len(ids) - 500 + 1
    _, found = store.search(moved, 2)
    assert set(found[0].tolist()) == {ids[600], 10**12}
    _, found = store.search(vecs[:5], 10)
    assert not np.isin(ids[:500], found).any()
    store.save()
    again = FaissStore(path, DIM)
    np.testing.assert_array_equal(again.ids(), store.ids())
    np.testing.assert_array_equal(again.get(ids[600:601]), moved)


def test_crossing_batch_may_replace_existing_ids(tmp_path):
    old, new = clustered(1_000, seed=13), clustered(1_000, seed=14)
    store = FaissStore(tmp_path, DIM, ann_threshold=1_200)
    store.add(np.arange(1_000), old)
    store.add(np.arange(500, 1_500), new)  # crosses the threshold and upserts 500 ids
    assert store.kind == "ivf_refined" and len(store) == 1_500
    np.testing.assert_array_equal(store.ids(), np.arange(1_500))
    np.testing.assert_array_equal(store.get(np.array([0, 500, 1_499])), np.stack([old[0], new[0], new[999]]))


# -- exact re-ranking and its row files --------------------------------------------------------


ALL_LISTS = 1 << 20  # clamped to the index's list count


def refined_store(path: Path, n: int = 4_000, seed: int = 20) -> tuple[FaissStore, np.ndarray, np.ndarray]:
    ids = np.arange(n, dtype=np.int64) * 3 + 1
    vecs = clustered(n, seed=seed)
    # forces the compressed index, and probes every list: what is left to compare is the codes
    store = FaissStore(path, DIM, ann_threshold=1_000, nprobe=ALL_LISTS)
    store.add(ids, vecs)
    assert store.kind == "ivf_refined"
    return store, ids, vecs


def test_reranked_results_equal_exact_search(tmp_path):
    store, ids, vecs = refined_store(tmp_path)
    queries = clustered(200, seed=21)
    for k in (1, 10, 50):
        scores, found = store.search(queries, k)
        want_scores, want_ids = brute_force(queries, vecs, ids, k)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
        assert recall(found, want_ids) == 1.0
    # filtered and range search re-rank the same way
    allowed = ids[::5]
    _, found = store.search(queries[:20], 10, filter_ids=allowed)
    subset = np.isin(ids, allowed)
    assert recall(found, brute_force(queries[:20], vecs[subset], ids[subset], 10)[1]) == 1.0
    for q, (got, got_scores) in zip(queries[:20], store.range_search(queries[:20], 0.6)):
        want = ids[vecs @ q >= 0.6]
        assert set(got.tolist()) == set(want.tolist()) and (got_scores >= 0.6).all()


def test_rows_written_after_the_last_save_are_ignored_after_a_crash(tmp_path):
    store, ids, vecs = refined_store(tmp_path)
    store.save()
    moved = clustered(1, seed=22)
    store.add(ids[:1], moved)  # row appended, index not saved: as if killed here
    store.add(np.array([10**6]), moved)
    store.remove(ids[1:2])
    store._backend.rows.close()  # no save, no clean close
    again = FaissStore(tmp_path, DIM)
    np.testing.assert_array_equal(again.ids(), ids)
    np.testing.assert_array_equal(again.get(ids[:2]), vecs[:2])
    again.add(ids[:1], moved)  # new rows go after the unreferenced ones
    again.save()
    np.testing.assert_array_equal(FaissStore(tmp_path, DIM).get(ids[:2]), np.stack([moved[0], vecs[1]]))


def test_a_save_compacts_dead_rows_into_a_new_generation(tmp_path, monkeypatch):
    monkeypatch.setattr("pixseek.stores.faiss.COMPACT_MIN_DEAD", 100)
    store, ids, vecs = refined_store(tmp_path)
    store.save()
    assert sorted(os.listdir(tmp_path)) == ["vectors.faiss", "vectors.faiss.g1.ids", "vectors.faiss.g1.vecs"]
    store.remove(ids[: 3 * len(ids) // 4])
    store.save()
    assert sorted(os.listdir(tmp_path)) == ["vectors.faiss", "vectors.faiss.g2.ids", "vectors.faiss.g2.vecs"]
    assert os.path.getsize(tmp_path / "vectors.faiss.g2.vecs") == len(ids) // 4 * DIM * 4
    keep_ids, keep_vecs = ids[3 * len(ids) // 4:], vecs[3 * len(ids) // 4:]
    queries = clustered(50, seed=23)
    for opened in (store, FaissStore(tmp_path, DIM, nprobe=ALL_LISTS)):
        np.testing.assert_array_equal(opened.ids(), keep_ids)
        np.testing.assert_array_equal(opened.get(keep_ids[:5]), keep_vecs[:5])
        assert recall(opened.search(queries, 10)[1], brute_force(queries, keep_vecs, keep_ids, 10)[1]) == 1.0


def test_missing_row_files_are_a_store_error(tmp_path):
    store, _, _ = refined_store(tmp_path)
    store.save()
    store.close()
    os.remove(tmp_path / "vectors.faiss.g1.vecs")
    with pytest.raises(StoreError, match="exact vectors"):
        FaissStore(tmp_path, DIM)


def test_an_ivf_sq8_index_from_before_keeps_working_and_upgrades(tmp_path):
    ids = np.arange(3_000, dtype=np.int64) + 5
    vecs = clustered(3_000, seed=24)
    legacy = faiss.index_factory(DIM, "IVF32,SQ8", faiss.METRIC_INNER_PRODUCT)
    legacy.train(vecs)
    legacy.add_with_ids(vecs, ids)
    legacy.nprobe = 8
    faiss.write_index(legacy, str(tmp_path / "vectors.faiss"))
    store = FaissStore(tmp_path, DIM, nprobe=ALL_LISTS)
    assert store.kind == "ivf_sq8" and len(store) == 3_000
    queries = clustered(50, seed=25)
    want = brute_force(queries, vecs, ids, 10)[1]
    assert recall(store.search(queries, 10)[1], want) >= 0.8
    by_id = dict(zip(ids.tolist(), vecs))
    assert store.upgrade(lambda some: np.stack([by_id[i] for i in some.tolist()]))
    assert store.kind == "ivf_refined" and not store.upgrade(lambda some: None)
    again = FaissStore(tmp_path, DIM, nprobe=ALL_LISTS)
    assert again.kind == "ivf_refined"
    assert recall(again.search(queries, 10)[1], want) == 1.0


WRITER = """
import sys
import numpy as np
from pixseek.stores import faiss as faiss_store
from pixseek.stores.faiss import FaissStore

faiss_store.COMPACT_MIN_DEAD = 300  # compactions happen during the run too
def vec(i):
    v = np.random.default_rng(int(i)).standard_normal(64).astype(np.float32)
    return v / np.linalg.norm(v)
store = FaissStore(sys.argv[1], 64, ann_threshold=300)
for b in range(10_000):
    ids = np.arange(b * 100, b * 100 + 100)
    store.add(ids, np.stack([vec(i) for i in ids]))
    if b >= 2:
        store.remove(np.arange((b - 2) * 100, (b - 2) * 100 + 70))  # dead rows pile up
    store.save()
    print(b, flush=True)
"""


@pytest.mark.slow
def test_killed_writer_leaves_a_consistent_refined_store(tmp_path):
    """kill -9 a process that adds, removes and saves (compacting now and then) at three moments:
    every id the reopened store holds has exactly its own vector, and a search finds it."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    for run, saves in enumerate((8, 15, 23)):
        folder = tmp_path / f"run{run}"
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True,
                                 env=env)
        for _ in range(saves):
            child.stdout.readline()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        store = FaissStore(folder, DIM)
        ids = store.ids()
        assert store.kind == "ivf_refined" and len(ids) >= 300
        want = np.stack([np.random.default_rng(int(i)).standard_normal(DIM).astype(np.float32) for i in ids])
        want /= np.linalg.norm(want, axis=1, keepdims=True)
        np.testing.assert_allclose(store.get(ids), want, atol=1e-6)  # (the store renormalises: last-bit noise)
        _, found = store.search(want[::25], 1)
        np.testing.assert_array_equal(found[:, 0], ids[::25])
