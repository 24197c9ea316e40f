"""The ``VectorStore`` contract, one set of cases run against every back end.

Back ends: FAISS flat; FAISS IVF-SQ4 with exact re-ranking (forced by a small ``ann_threshold``); Milvus Lite; and a real
Milvus server. The server is ``PIXSEEK_TEST_MILVUS`` (``milvus://HOST:PORT``) when set, else the
embedded one of the ``milvus`` package (a standalone Milvus in a subprocess, no network needed).
That server listens on every interface, so the suite starts it only where the network namespace has
no interface but loopback; run the server cases with::

    unshare -n sh -c 'ip link set lo up && pytest tests/test_store_contract.py -m slow'

Back-end specific behaviour stays in ``test_faiss_store.py`` (IVF choice by size, atomic save) and
``test_milvus_store.py`` (specs, chunked filters, range paging, shared collections).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from pixseek.stores import StoreError, VectorStore, open_store
from pixseek.stores.faiss import FaissStore

DIM = 64
N = 600
IVF_THRESHOLD = 100  # 600 vectors cross it: IVF8,SQ8 (every list probed, 8-bit vectors)
SERVER_ENV = "PIXSEEK_TEST_MILVUS"
SERVER_START_S = 180


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int) -> np.ndarray:
    centres = unit(np.random.default_rng(99).standard_normal((40, DIM)))
    rng = np.random.default_rng(seed)
    return unit(centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, DIM)) / np.sqrt(DIM))


IDS = np.arange(N, dtype=np.int64) * 5 + 11  # sparse, like catalogue ids after deletions
VECS = clustered(N, seed=1)
QUERIES = clustered(12, seed=2)


# -- back ends ---------------------------------------------------------------------------------------
@dataclass
class Backend:
    """Opens one store location again and again (``reopen`` tests persistence)."""

    name: str
    opener: Callable[..., VectorStore]
    kind: str | None = None  # FaissStore.kind once filled
    atol: float = 1e-5  # vectors and scores (all back ends keep exact vectors)
    exact: bool = True  # top-k and range results equal brute force

    def open(self, dim: int = DIM, id_range: tuple[int, int] | None = None) -> VectorStore:
        return self.opener(dim, id_range)

    def filled(self) -> VectorStore:
        store = self.open()
        store.add(IDS, VECS)
        store.save()
        return store


def _milvus_server_uri(tmp_path_factory) -> Iterator[str]:
    uri = os.environ.get(SERVER_ENV)
    if uri:
        yield uri
        return
    pytest.importorskip("pymilvus")
    milvus = pytest.importorskip("milvus", reason="the embedded Milvus server is the `milvus` package (dev extra)")
    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        pytest.skip(f"the embedded Milvus server listens on every interface ({', '.join(others)} here): run under "
                    f"`unshare -n` with loopback up, or set {SERVER_ENV}=milvus://HOST:PORT")
    base = tmp_path_factory.mktemp("milvus-server")
    server = milvus.MilvusServer(wait_for_started=False)
    server.set_base_dir(str(base))
    server.start()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.webservice_port}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the embedded Milvus server did not start in {SERVER_START_S} s (logs: {base})")
                time.sleep(0.5)
        yield f"milvus://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[str]:
    yield from _milvus_server_uri(tmp_path_factory)


def _collection(request) -> str:
    return "c_" + re.sub(r"\W", "_", request.node.name)[:40] + "_" + uuid.uuid4().hex[:8]


@pytest.fixture(params=["faiss-flat", "faiss-ivf", "milvus-lite",
                        pytest.param("milvus-server", marks=pytest.mark.slow)])
def backend(request, tmp_path) -> Iterator[Backend]:
    kind = request.param
    if kind == "faiss-flat":
        yield Backend(kind, lambda dim, scope: FaissStore(tmp_path, dim, id_range=scope), kind="flat")
        return
    if kind == "faiss-ivf":
        yield Backend(kind, lambda dim, scope: FaissStore(tmp_path, dim, ann_threshold=IVF_THRESHOLD,
                                                          id_range=scope), kind="ivf_refined")
        return
    pytest.importorskip("pymilvus")
    if kind == "milvus-lite":
        spec = request.getfixturevalue("milvus_spec")
    else:
        spec = f"{request.getfixturevalue('milvus_server')}/{_collection(request)}"
    opened: list[VectorStore] = []

    def opener(dim, scope):
        store = open_store(spec, dim, id_range=scope)
        opened.append(store)
        return store

    # A server's default index is HNSW: approximate ranking, exact vectors and scores.
    yield Backend(kind, opener, exact=kind == "milvus-lite")
    if kind == "milvus-server":  # leave the server as we found it
        with open_store(spec, DIM) as store:
            store.destroy()
    for store in opened:
        store.close()


# -- helpers -----------------------------------------------------------------------------------------
def brute_force(queries, vecs, ids, k):
    scores = queries @ vecs.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


def check_top_k(backend: Backend, got, want) -> None:
    (gs, gi), (ws, wi) = got, want
    assert gi.dtype == np.int64 and gs.dtype == np.float32 and gi.shape == wi.shape
    assert (np.diff(gs, axis=1) <= 1e-6).all()  # best first
    if backend.exact:
        np.testing.assert_allclose(gs, ws, atol=backend.atol)
        assert recall(gi, wi) == 1.0
    else:
        assert recall(gi, wi) >= 0.9


# -- the contract ------------------------------------------------------------------------------------
def test_search_equals_brute_force(backend):
    store = backend.filled()
    assert isinstance(store, VectorStore)
    if backend.kind:
        assert store.kind == backend.kind
    check_top_k(backend, store.search(QUERIES, 10), brute_force(QUERIES, VECS, IDS, 10))
    scores, found = store.search(VECS[7:8], 1)  # a stored vector finds itself
    assert found[0, 0] == IDS[7] and scores[0, 0] == pytest.approx(1.0, abs=backend.atol)


def test_add_is_an_upsert_and_the_last_duplicate_wins(backend):
    store = backend.filled()
    new = clustered(2, seed=5)
    store.add(IDS[:1], new[:1])
    assert len(store) == N
    np.testing.assert_allclose(store.get(IDS[:1])[0], new[0], atol=backend.atol)
    store.add(np.array([IDS[1], IDS[1]]), new)  # same id twice in one batch
    np.testing.assert_allclose(store.get(IDS[1:2])[0], new[1], atol=backend.atol)
    assert len(store) == N
    store.save()
    assert store.search(new[1:], 1)[1][0, 0] == IDS[1]


def test_remove_counts_the_ids_present(backend):
    store = backend.filled()
    assert store.remove(np.array([IDS[0], IDS[1], IDS[1], 999_999])) == 2
    assert store.remove(IDS[:1]) == 0
    assert len(store) == N - 2 and not np.isin(IDS[:2], store.ids()).any()
    store.save()
    assert not np.isin(IDS[:2], store.search(VECS[:2], 5)[1]).any()
    with pytest.raises(KeyError):
        store.get(IDS[:1])


def test_search_pads_with_minus_one_and_minus_inf(backend):
    store = backend.open()
    scores, found = store.search(QUERIES[:3], 4)  # empty store
    assert scores.shape == found.shape == (3, 4) and found.dtype == np.int64 and scores.dtype == np.float32
    assert (found == -1).all() and np.isneginf(scores).all()
    assert [len(i) for i, _ in store.range_search(QUERIES[:2], 0.5)] == [0, 0]
    assert len(store) == 0 and store.ids().size == 0
    store.save()
    store.close()
    store = backend.open()
    assert len(store) == 0
    store.add(IDS[:3], VECS[:3])
    store.save()
    scores, found = store.search(QUERIES[:2], 5)
    assert all(sorted(row[:3].tolist()) == sorted(IDS[:3].tolist()) for row in found)
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()


def test_filter_ids_give_k_results_however_selective(backend):
    store = backend.filled()
    for size in (3, 50, 400):
        allowed = IDS[::(N // size)][:size]
        got = store.search(QUERIES, 10, filter_ids=allowed)
        k = min(10, size)
        assert (got[1][:, :k] >= 0).all() and (got[1][:, k:] == -1).all() and np.isneginf(got[0][:, k:]).all()
        assert np.isin(got[1][:, :k], allowed).all()
        want = brute_force(QUERIES, VECS[np.isin(IDS, allowed)], allowed, k)
        check_top_k(backend, (got[0][:, :k], got[1][:, :k]), want)
    with_absent = np.concatenate([IDS[:2], [-5, 10**9]])  # absent ids are ignored
    assert set(store.search(QUERIES[:1], 5, filter_ids=with_absent)[1][0, :2]) == set(IDS[:2])
    assert (store.search(QUERIES, 3, filter_ids=np.array([-5, 10**9]))[1] == -1).all()
    assert (store.search(QUERIES, 3, filter_ids=np.array([], np.int64))[1] == -1).all()


def test_range_search_returns_every_vector_above_the_score(backend):
    store = backend.filled()
    results = store.range_search(QUERIES, 0.6)
    assert len(results) == len(QUERIES) and sum(len(i) for i, _ in results) > 20
    for q, (found, scores) in zip(QUERIES, results):
        truth = set(IDS[VECS @ q >= 0.6].tolist())
        assert found.dtype == np.int64 and scores.dtype == np.float32
        assert (scores >= 0.6).all() and (np.diff(scores) <= 0).all()
        if backend.exact:
            assert set(found.tolist()) == truth
        else:
            assert len(set(found.tolist()) & truth) >= 0.9 * len(truth)


def test_ids_are_sorted_int64_and_len_counts_them(backend):
    store = backend.open()
    shuffled = np.random.default_rng(3).permutation(IDS)
    store.add(shuffled, VECS[np.argsort(np.argsort(shuffled))])
    store.save()
    ids = store.ids()
    assert ids.dtype == np.int64 and np.array_equal(ids, IDS) and len(store) == N


def test_get_returns_vectors_in_the_order_asked_and_raises_keyerror(backend):
    store = backend.filled()
    got = store.get(IDS[[5, 3, 5]])
    assert got.dtype == np.float32 and got.shape == (3, DIM)
    np.testing.assert_allclose(got, VECS[[5, 3, 5]], atol=backend.atol)
    with pytest.raises(KeyError):
        store.get(np.array([IDS[0], 123_456]))


def test_save_and_reopen_keep_the_vectors(backend):
    store = backend.filled()
    store.remove(IDS[:10])
    store.save()
    store.close()
    again = backend.open()
    assert len(again) == N - 10 and np.array_equal(again.ids(), IDS[10:])
    np.testing.assert_allclose(again.get(IDS[10:12]), VECS[10:12], atol=backend.atol)
    check_top_k(backend, again.search(QUERIES, 5), brute_force(QUERIES, VECS[10:], IDS[10:], 5))


def test_clear_removes_every_vector(backend):
    store = backend.filled()
    assert store.clear() == N
    assert len(store) == 0 and store.ids().size == 0 and store.clear() == 0
    store.save()
    assert (store.search(QUERIES[:1], 3)[1] == -1).all()


def test_describe_is_one_line(backend):
    store = backend.filled()
    text = store.describe()
    assert isinstance(text, str) and text and "\n" not in text


def test_reopening_with_another_dimension_is_refused(backend):
    backend.filled().close()
    with pytest.raises(StoreError, match=f"{DIM}-d"):
        backend.open(dim=32)


def test_a_closed_store_refuses_calls(backend):
    store = backend.filled()
    store.close()
    for call in (lambda: store.search(QUERIES[:1], 1), lambda: len(store), lambda: store.add(IDS[:1], VECS[:1])):
        with pytest.raises(StoreError, match="closed"):
            call()


def test_id_range_scopes_writes(backend):
    store = backend.open(id_range=(0, 1000))
    assert store.id_range == (0, 1000)
    inside = IDS[IDS < 1000]
    store.add(inside, VECS[:len(inside)])
    with pytest.raises(ValueError, match="outside"):
        store.add(np.array([1500]), VECS[:1])
    assert store.remove(np.array([1500, 2000])) == 0
    store.save()
    assert np.array_equal(store.ids(), inside) and len(store) == len(inside) == store.count_all()
    assert set(store.search(QUERIES, 5)[1].ravel()) <= set(inside.tolist())
    assert store.clear() == len(inside)


def test_destroy_deletes_the_store(backend):
    store = backend.filled()
    store.destroy()
    with pytest.raises(StoreError, match="closed"):
        len(store)
    again = backend.open()
    assert len(again) == 0


def test_bad_input_is_rejected(backend):
    store = backend.open()
    with pytest.raises(ValueError):
        store.add(np.arange(2), np.zeros((2, DIM + 1), np.float32))
    with pytest.raises(ValueError):
        store.add(np.arange(3), np.zeros((2, DIM), np.float32))
    with pytest.raises(ValueError):
        store.add(np.arange(1), np.full((1, DIM), np.nan, np.float32))
    assert len(store) == 0
