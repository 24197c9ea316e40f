"""The one owner of an index's vector store: which store it is (FAISS file or Milvus), remembered in
the catalogue; opening it lazily and reconciling it with the catalogue; the in-sync marker; the id
range a shard owns in a shared Milvus collection; and switching to another store live.

``Library`` holds one ``StoreKeeper``; ``migrate``, ``merge`` and sharding use its public methods.

Catalogue meta keys written here:

- ``store``: the canonical store spec (``faiss``, ``milvus-lite:/abs/x.db``, ``milvus://h:p/coll``);
  never credentials. Absent on indexes made before stores could be chosen: they are FAISS.
- ``store_synced``: ``1`` once the store is known to hold exactly the catalogue's vectors; ``0``
  while an ``index`` run writes. A Milvus store is reconciled (ids listed, which costs a scan of
  the collection) only when this is not ``1`` or the counts differ.
- ``stores_used``: JSON list of the Milvus specs this index has written to (so that a migration
  back to one of them may remove its own stale vectors there).
- ``shard``: ``I/N`` for a shard index (see ``pixseek.shard``); ``merged_from``: JSON, for an index
  gathered from shards by ``pixseek merge`` (read-only).

>>> keeper = StoreKeeper(catalog, db_dir, "milvus-lite")        # doctest: +SKIP
>>> keeper.store.search(query, k=5)                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from pixseek.adapt import space as adapt_space
from pixseek.adapt.adapter import Adapter
from pixseek.catalog import Catalog
from pixseek.errors import PixseekError
from pixseek.shard import UNSHARDED_RANGE, ShardError, ShardSpec
from pixseek.stores import FAISS, normalize_spec, open_store
from pixseek.stores.base import StoreError, VectorStore
from pixseek.stores.milvus import MilvusAuth

STORE_FILE = "vectors.faiss"  # the FAISS store's file in the index folder
META_STORE, META_SYNCED, META_USED = "store", "store_synced", "stores_used"
META_SHARD, META_MERGED = "shard", "merged_from"
RECONCILE_CHUNK = 10_000


class StoreMismatchError(PixseekError):
    """An index was opened with another ``--store`` than the one that holds its vectors."""


def describe_spec(spec: str) -> str:
    """For messages: ``the FAISS file``, or the Milvus spec."""
    return "the FAISS file" if spec == FAISS else spec


class StoreKeeper:
    """The vector store of the index in ``db_dir`` whose catalogue is ``catalog``.

    ``requested`` (a store spec, or ``None`` for the one the index records) must match the recorded
    store, or is recorded when the index has none yet. ``lock`` guards lazy opening and closing
    (the library passes its own, so a search never sees a half-switched store).
    """

    def __init__(self, catalog: Catalog, db_dir: str | os.PathLike, requested: str | os.PathLike | None = None,
                 *, auth: MilvusAuth | None = None, lock: threading.RLock | None = None) -> None:
        self.catalog = catalog
        self.db_dir = Path(db_dir)
        self.auth = auth
        self.lock = lock or threading.RLock()
        self._store: VectorStore | None = None
        self._adapter: tuple[str, Adapter] | None = None  # (file name, adapter) once loaded
        self.spec = self._resolve(requested)

    # -- which store ------------------------------------------------------------------------------
    def _resolve(self, requested: str | os.PathLike | None) -> str:
        recorded = self.catalog.get_meta(META_STORE)
        if requested is None:
            return recorded or FAISS
        spec = normalize_spec(requested, self.db_dir)
        current = recorded or (FAISS if self.catalog.count_images() else None)
        if current is not None and current != spec:
            raise StoreMismatchError(
                f"this index keeps its vectors in {describe_spec(current)}, not {describe_spec(spec)}: leave out "
                f"--store, or move them with `pixseek migrate --db {self.db_dir} --to {spec}`")
        if recorded != spec:
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, META_STORE, spec)
        return spec

    def normalize(self, spec: str | os.PathLike) -> str:
        """The canonical form of ``spec`` for this index (``milvus-lite`` alone: a file in its folder)."""
        return normalize_spec(spec, self.db_dir)

    @property
    def shard(self) -> str | None:
        """``I/N`` for a shard index."""
        return self.catalog.get_meta(META_SHARD)

    @property
    def merged(self) -> list[dict]:
        """The shards an index was merged from (empty for any other index)."""
        return json.loads(self.catalog.get_meta(META_MERGED) or "[]")

    def scope(self) -> tuple[int, int] | None:
        """The id range of a shared collection this index owns; ``None`` (all of it) when merged."""
        if self.catalog.get_meta(META_MERGED):
            return None
        shard = self.shard
        return ShardSpec.parse(shard).id_range if shard else UNSHARDED_RANGE

    def used(self) -> list[str]:
        """The Milvus specs this index has written to."""
        return json.loads(self.catalog.get_meta(META_USED) or "[]")

    def line(self) -> str:
        """For status: the spec, and the shard or merge it belongs to."""
        text = describe_spec(self.spec)
        if self.shard:
            text += f" (shard {self.shard})"
        merged = self.catalog.get_meta(META_MERGED)
        if merged:
            text += f" (merged from {len(json.loads(merged))} shards)"
        return text

    # -- opening -----------------------------------------------------------------------------------
    @property
    def store(self) -> VectorStore:
        """The index's store, opened on first use and made to hold exactly the catalogue's vectors;
        calls on it are serialised (a FAISS index must not be searched while another thread adds)."""
        with self.lock:
            if self._store is None:
                dim = self.catalog.get_meta("dim")
                if dim is None:
                    raise PixseekError(f"the index in {self.db_dir} is empty: run `pixseek index FOLDER` first")
                self._store = Serialized(self._open_synced(int(dim)))
            return self._store

    def open(self, spec: str, dim: int) -> VectorStore:
        """Open ``spec`` for this index, scoped to its ids; not reconciled, not kept (close it).
        With a tuned index the store takes and is searched with adapted vectors (``pixseek.adapt``)."""
        if spec == FAISS:
            store = open_store(self.db_dir / STORE_FILE, dim)
        else:
            store = open_store(spec, dim, auth=self.auth or MilvusAuth.resolve(), id_range=self.scope())
        adapter = self.adapter
        return store if adapter is None else adapt_space.AdaptedStore(store, adapter)  # type: ignore[return-value]

    # -- the vector space (pixseek.adapt) ----------------------------------------------------------
    @property
    def adapter(self) -> Adapter | None:
        """The adapter the index is tuned with (``pixseek tune``), or ``None``."""
        name = self.catalog.get_meta(adapt_space.META_ADAPTER)
        if name is None:
            return None
        if self._adapter is None or self._adapter[0] != name:
            self._adapter = (name, Adapter.load(self.db_dir / name))
        return self._adapter[1]

    def to_space(self, vecs: np.ndarray) -> np.ndarray:
        """Catalogue vectors as the store holds them (adapted when the index is tuned)."""
        adapter = self.adapter
        return vecs if adapter is None else adapter.apply(vecs)

    def set_space(self, adapter_name: str | None) -> None:
        """Record ``adapter_name`` (``None``: the model's own vectors) as the index's space and
        rebuild the store from the catalogue's vectors in it; crash-safe (see ``adapt.space``)."""
        with self.lock:
            with self.catalog.transaction() as db:
                if adapter_name is None:
                    db.execute("DELETE FROM meta WHERE key = ?", (adapt_space.META_ADAPTER,))
                else:
                    self.catalog.set_meta(db, adapt_space.META_ADAPTER, adapter_name)
                self.catalog.set_meta(db, adapt_space.META_SPACE, adapt_space.REBUILDING)
            self.close()
            if self.catalog.get_meta("dim") is not None:
                self.store  # opening rebuilds it (_open_synced)

    def _rebuild_space(self, store: VectorStore) -> None:
        """The store holds another space's vectors (a tune, or an interrupted one): fill it again."""
        store.clear()
        self.reconcile(store)
        store.save()
        with self.catalog.transaction() as db:
            self.catalog.set_meta(db, adapt_space.META_SPACE, adapt_space.wanted_space(self.catalog.get_meta))
        if self.spec != FAISS:
            self.mark(self.spec, synced=True)

    def _open_synced(self, dim: int) -> VectorStore:
        store = self.open(self.spec, dim)
        try:
            if (adapt_space.store_space(self.catalog.get_meta) != adapt_space.wanted_space(self.catalog.get_meta)
                    and not self.catalog.get_meta(META_MERGED)):
                self._rebuild_space(store)
            elif self.spec == FAISS:
                self.reconcile(store)  # in memory: cheap, always
                # an IVF-SQ8 file from before exact re-ranking: rebuilt once, from the catalogue's vectors
                store.upgrade(lambda ids: self.catalog.vectors(ids.tolist()))
            elif not self.catalog.get_meta(META_MERGED):  # a merged index only reads the shards' vectors
                self._sync_milvus(store)
        except BaseException:
            store.close()
            raise
        return store

    def reconcile(self, store: VectorStore) -> None:
        """Make ``store`` hold exactly the catalogue's vectors (after a crash they can differ)."""
        in_catalog = self.catalog.ids_with_vectors()
        in_store = store.ids()
        extra = np.setdiff1d(in_store, in_catalog, assume_unique=True)
        missing = np.setdiff1d(in_catalog, in_store, assume_unique=True)
        if extra.size:
            store.remove(extra)
        for start in range(0, missing.size, RECONCILE_CHUNK):
            chunk = missing[start:start + RECONCILE_CHUNK]
            store.add(chunk, self.catalog.vectors(chunk.tolist()))
        if extra.size or missing.size:
            store.save()

    def _sync_milvus(self, store: VectorStore) -> None:
        held, have = len(store), self.catalog.count_images()
        if self.catalog.get_meta(META_SYNCED) == "1" and held == have:
            return
        if have == 0 and held and self.spec not in self.used():
            raise StoreError(
                f"{store.describe()} already holds {held} vectors in this index's id range, put there by "
                "another index: choose another collection (milvus://HOST:PORT/NAME), or give each index "
                "its own shard (--shard I/N)")
        self.reconcile(store)
        store.save()
        self.mark(self.spec, synced=True)

    def mark(self, spec: str, *, synced: bool) -> None:
        """Record whether ``spec`` holds exactly the catalogue's vectors, and that this index used it."""
        with self.catalog.transaction() as db:
            self.catalog.set_meta(db, META_SYNCED, "1" if synced else "0")
            used = self.used()
            if spec != FAISS and spec not in used:
                self.catalog.set_meta(db, META_USED, json.dumps(used + [spec]))

    def close(self) -> None:
        """Close the open store (if any); the next use opens it again. Does not save."""
        with self.lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- switching ---------------------------------------------------------------------------------
    def switch(self, spec: str) -> None:
        """From now on the index keeps its vectors in ``spec`` (recorded; the open store is closed).
        The caller has made ``spec`` hold them."""
        with self.lock:
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, META_STORE, spec)
            self.close()
            self.spec = spec

    def destroy(self, spec: str, dim: int) -> None:
        """Remove this index's vectors from ``spec`` (the FAISS file: deleted; Milvus: its id range
        cleared). Not the current store."""
        if spec == FAISS:
            self.remove_faiss_file()
            return
        store = self.open(spec, dim)
        try:
            store.clear()
            store.save()
        finally:
            store.close()

    def remove_faiss_file(self) -> None:
        """Delete the FAISS file and any temp file a killed save left."""
        for name in os.listdir(self.db_dir):
            if STORE_FILE in name:
                os.remove(self.db_dir / name)

    # -- indexing hooks ----------------------------------------------------------------------------
    def before_index(self, shard: str | ShardSpec | None) -> ShardSpec | None:
        """Checks and bookkeeping before an ``index`` run writes: refuses a merged index, and records
        the shard (and its id base) on a new index."""
        catalog = self.catalog
        if catalog.get_meta(META_MERGED):
            raise PixseekError(
                f"{self.db_dir} was merged from shards and only answers queries: re-run the shards "
                "(`pixseek index --shard I/N ...`) and `pixseek merge` again")
        recorded = self.shard
        spec = ShardSpec.parse(shard) if shard is not None else None
        if spec is None:
            if recorded:
                raise ShardError(f"this index is shard {recorded}: run it with --shard {recorded}")
        elif recorded is None:
            if catalog.count_images() or catalog.skipped():
                raise ShardError(f"{self.db_dir} is an index of all files, not a shard: give each shard its "
                                 "own --db folder")
            with catalog.transaction() as db:
                catalog.set_meta(db, META_SHARD, str(spec))
                _set_id_base(db, spec.id_range[0])
            self.close()  # opened before the scope was known
        elif recorded != str(spec):
            raise ShardError(f"this index is shard {recorded}, not {spec}: each shard keeps its own --db folder")
        return spec

    def begin_writes(self) -> None:
        """The store is open (and reconciled): from now until ``after_index``, it may lag the catalogue."""
        if self.spec != FAISS:
            self.mark(self.spec, synced=False)

    def after_index(self) -> None:
        """The run finished and saved its store: the store holds the catalogue's vectors again."""
        if self.spec != FAISS:
            self.mark(self.spec, synced=True)

    def clear_for_reindex(self) -> None:
        """Before ``--reindex`` drops the vectors: close the store, remove this index's vectors from its
        Milvus collection, and drop the collection when nothing else is in it (its dimension may change)."""
        dim = self.catalog.get_meta("dim")
        if self.spec == FAISS or dim is None:
            return
        self.close()
        store = self.open(self.spec, int(dim))
        try:
            store.clear()
            store.save()
            if store.count_all() == 0:  # the whole collection: drop it only if nobody else uses it
                store.destroy()
        finally:
            store.close()


def _set_id_base(db, first_id: int) -> None:
    """Make AUTOINCREMENT hand out ids from ``first_id`` (sqlite_sequence holds the last one used)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'files'").fetchone()
    if row is None:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('files', ?)", (first_id - 1,))
    elif row[0] < first_id - 1:
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'files'", (first_id - 1,))


class Serialized:
    """A store, one call at a time: a FAISS index must not be searched while another thread adds
    to it (the UI indexes in the background while people search)."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self._call_lock = threading.Lock()

    def __getattr__(self, name: str):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._call_lock:
                return attr(*args, **kwargs)

        return call

    def __len__(self) -> int:
        with self._call_lock:
            return len(self._store)
