"""FaissStore specifics: the flat-to-IVF switch by size, IVF quality, the one file and its atomic save.

The cases every store shares (upserts, filters, padding, range search, ...) are in test_store_contract.py."""

from __future__ import annotations

import os
from pathlib import Path

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
    assert ann_store.kind == "ivf_sq8"
    assert len(ann_store) == len(ids)
    np.testing.assert_array_equal(ann_store.ids(), np.sort(ids))
    scores, found = ann_store.search(queries, 10)
    want_scores, want_ids = brute_force(queries, vecs, ids, 10)
    assert recall(found, want_ids) >= 0.95
    np.testing.assert_allclose(scores[:, 0], want_scores[:, 0], atol=0.02)
    np.testing.assert_allclose(ann_store.get(ids[:50]), vecs[:50], atol=0.02)  # SQ8 decoded


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
    ann_store.path, original = path, ann_store.path  # save the shared store elsewhere
    try:
        ann_store._dirty = True
        ann_store.save()
    finally:
        ann_store.path = original
    store = FaissStore(path, DIM)
    assert store.kind == "ivf_sq8" and store.describe() == ann_store.describe()
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
    np.testing.assert_allclose(again.get(ids[600:601]), moved, atol=0.02)


def test_crossing_batch_may_replace_existing_ids(tmp_path):
    old, new = clustered(1_000, seed=13), clustered(1_000, seed=14)
    store = FaissStore(tmp_path, DIM, ann_threshold=1_200)
    store.add(np.arange(1_000), old)
    store.add(np.arange(500, 1_500), new)  # crosses the threshold and upserts 500 ids
    assert store.kind == "ivf_sq8" and len(store) == 1_500
    np.testing.assert_array_equal(store.ids(), np.arange(1_500))
    np.testing.assert_allclose(store.get(np.array([0, 500, 1_499])),
                               np.stack([old[0], new[0], new[999]]), atol=0.02)  # fmt: skip
