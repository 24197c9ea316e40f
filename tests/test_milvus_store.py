"""MilvusStore specifics on Milvus Lite, against FaissStore (exact): filters pushed down in chunks, paged range
search, id ranges sharing one collection, specs. The shared cases are in test_store_contract.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pixseek.stores import StoreError, open_store
from pixseek.stores.faiss import FaissStore

pytest.importorskip("pymilvus")
from pixseek.stores import milvus as milvus_mod  # noqa: E402
from pixseek.stores.milvus import parse_milvus_spec  # noqa: E402
from test_store_contract import clustered  # noqa: E402  (the same clustered test vectors)

DIM = 64


@pytest.fixture
def pair(milvus_spec, tmp_path):
    """The same 3000 vectors (sparse ids) in Milvus Lite and in an exact FAISS store."""
    ids = np.arange(3000, dtype=np.int64) * 5 + 11
    vecs = clustered(3000, seed=1)
    mil = open_store(milvus_spec, DIM)
    mil.add(ids, vecs)
    mil.save()
    faiss = FaissStore(tmp_path, DIM)
    faiss.add(ids, vecs)
    yield mil, faiss, ids, vecs
    mil.close()


def same_hits(a, b, atol=1e-5):
    (sa, ia), (sb, ib) = a, b
    assert ia.dtype == np.int64 and sa.dtype == np.float32 and ia.shape == ib.shape
    np.testing.assert_allclose(sa, sb, atol=atol)
    assert np.array_equal(ia, ib)


def test_filters_are_pushed_down_in_chunks(pair, monkeypatch):
    mil, faiss, ids, _ = pair
    queries = clustered(5, seed=3)
    allowed = np.concatenate([ids[::7], [10**9, -5]])  # absent ids are ignored
    same_hits(mil.search(queries, 8, filter_ids=allowed), faiss.search(queries, 8, filter_ids=allowed))
    monkeypatch.setattr(milvus_mod, "FILTER_CHUNK", 37)  # 430 ids -> 12 expressions, top-k merged
    same_hits(mil.search(queries, 8, filter_ids=allowed), faiss.search(queries, 8, filter_ids=allowed))
    assert (mil.search(queries, 3, filter_ids=np.array([], np.int64))[1] == -1).all()


def test_range_search_equals_faiss_and_pages(pair, monkeypatch):
    mil, faiss, _, _ = pair
    queries = clustered(4, seed=4)
    want = faiss.range_search(queries, 0.55)
    assert sum(len(i) for i, _ in want) > 40
    for (gi, gs), (wi, ws) in zip(mil.range_search(queries, 0.55), want):
        assert np.array_equal(np.sort(gi), np.sort(wi)) and (gs >= 0.55).all()
        np.testing.assert_allclose(gs, ws, atol=1e-5)
    # A full small first page is asked again at the cap.
    monkeypatch.setattr(milvus_mod, "RANGE_FIRST_PAGE", 3)
    for (gi, _), (wi, _) in zip(mil.range_search(queries, 0.55), want):
        assert np.array_equal(np.sort(gi), np.sort(wi))
    # Small pages: results beyond the first page come from follow-up searches below the lowest score.
    counts = [len(i) for i, _ in want]
    monkeypatch.setattr(milvus_mod, "MAX_TOPK", max(9, -(-max(counts) // 4)))
    for (gi, _), (wi, _) in zip(mil.range_search(queries, 0.55), want):
        assert np.array_equal(np.sort(gi), np.sort(wi))
    monkeypatch.setattr(milvus_mod, "MAX_TOPK", 2)
    with pytest.raises(StoreError, match="Milvus Lite answers at most"):
        mil.range_search(queries, 0.55)


def test_id_ranges_share_one_collection(milvus_spec):
    a = open_store(milvus_spec, DIM, id_range=(0, 1000))
    b = open_store(milvus_spec, DIM, id_range=(1000, 2000))
    vecs = clustered(20, seed=6)
    a.add(np.arange(1, 11), vecs[:10])
    b.add(np.arange(1001, 1011), vecs[10:])
    a.save(), b.save()
    assert list(a.ids()) == list(range(1, 11)) and len(b) == 10
    assert set(b.search(vecs[:3], 5)[1].ravel()) <= set(range(1001, 1011))
    assert b.remove(np.arange(1, 11)) == 0 and len(a) == 10  # outside b's range: untouched
    with pytest.raises(ValueError, match="outside"):
        a.add(np.array([1500]), vecs[:1])
    assert b.clear() == 10 and len(b) == 0 and len(a) == 10
    whole = open_store(milvus_spec, DIM)
    assert len(whole) == 10
    for s in (a, b, whole):
        s.close()


def test_specs_are_canonical_and_bad_ones_are_clear(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = parse_milvus_spec("milvus-lite:v.db")
    assert t.lite and t.uri == str(tmp_path / "v.db") and t.spec == f"milvus-lite:{tmp_path / 'v.db'}"
    assert t.index_type == "FLAT" and t.collection == "pixseek"
    t = parse_milvus_spec("milvus://gpu-box/photos?index=ivf_sq8")
    assert (t.uri, t.collection, t.index_type) == ("http://gpu-box:19530", "photos", "IVF_SQ8")
    assert t.spec == "milvus://gpu-box:19530/photos?index=IVF_SQ8"
    assert parse_milvus_spec("milvus+https://h:443").uri == "https://h:443"
    for bad, msg in [("milvus-lite:v", "must end in .db"), ("milvus://u:pw@h:1", "credentials"),
                     ("milvus://h:1/9bad", "collection name"), ("milvus://h:1?index=LSH", "unknown index"),
                     ("milvus://h:1?colour=red", "unknown option"), ("milvus://:1", "name the Milvus host")]:
        with pytest.raises(StoreError, match=msg):
            parse_milvus_spec(bad)


def test_an_unreachable_server_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(milvus_mod, "CONNECT_TIMEOUT_S", 2.0)
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect to Milvus at http://127.0.0.1:9"):
        open_store("milvus://127.0.0.1:9/x", DIM)
    assert time.monotonic() - started < 30
