"""Which vector space the store holds: the model's own vectors, or adapted ones.

The catalogue's meta key ``adapter`` (``adapter.py``) says which space the index should be in;
``store_space`` says which one the store was last filled in completely. ``tune`` and ``tune --off``
set ``store_space`` to ``rebuilding`` before they touch the store, and to the new space once it is
saved, so a kill at any instant leaves a mismatch that the next open repairs (the store is cleared
and filled again from the catalogue's vectors, through the adapter).

:class:`AdaptedStore` wraps a store: what goes in (``add``) and every query (``search``,
``range_search``) passes the adapter; ``get`` gives the stored (adapted) vectors; ``to_space`` is the
adapter itself, for code that compares a query with stored vectors on its own (the strong cut-off).
"""

from __future__ import annotations

import numpy as np

from ..stores.base import VectorStore
from .adapter import META_ADAPTER, Adapter

META_SPACE = "store_space"
RAW = "raw"
REBUILDING = "rebuilding"


def wanted_space(get_meta) -> str:
    """The space the store must hold: the adapter file's name, or ``raw``."""
    return get_meta(META_ADAPTER) or RAW


def store_space(get_meta) -> str:
    """The space the store holds; an index from before tuning existed holds raw vectors."""
    return get_meta(META_SPACE) or RAW


class AdaptedStore:
    """``store`` holding ``adapter``-ed vectors; every other call goes to ``store`` as it is."""

    def __init__(self, store: VectorStore, adapter: Adapter) -> None:
        self._store = store
        self.adapter = adapter

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def __len__(self) -> int:
        return len(self._store)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self._store.add(ids, self.adapter.apply(vecs))

    def search(self, queries: np.ndarray, k: int, filter_ids: np.ndarray | None = None):
        return self._store.search(self.adapter.apply(queries), k, filter_ids)

    def range_search(self, queries: np.ndarray, min_score: float):
        return self._store.range_search(self.adapter.apply(queries), min_score)

    def to_space(self, vecs: np.ndarray) -> np.ndarray:
        return self.adapter.apply(vecs)

    def describe(self) -> str:
        return f"{self._store.describe()}, tuned ({self.adapter.file_name})"
