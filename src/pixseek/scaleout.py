"""Where a library keeps its vectors (FAISS file or Milvus), remembered in the catalogue, and the
bookkeeping that lets several indexes share one Milvus collection.

``Library`` calls these few functions; the logic lives here so that the facade stays short.

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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PixseekError
from .shard import UNSHARDED_RANGE, ShardError, ShardSpec
from .stores import open_store
from .stores.base import StoreError, VectorStore
from .stores.milvus import MilvusAuth, MilvusStore, is_milvus_spec, parse_milvus_spec

if TYPE_CHECKING:
    from .library import Library

FAISS = "faiss"
LITE_DEFAULT_FILE = "vectors.milvus.db"
META_STORE, META_SYNCED, META_USED = "store", "store_synced", "stores_used"
META_SHARD, META_MERGED = "shard", "merged_from"


class StoreMismatchError(PixseekError):
    """An index was opened with another ``--store`` than the one that holds its vectors."""


# -- specs -----------------------------------------------------------------------------------------
def normalize_store_spec(spec: str | os.PathLike, db_dir: str | os.PathLike) -> str:
    """The canonical spec: ``faiss``, or a Milvus spec with an absolute Lite path and no defaults.

    ``milvus-lite`` (or ``milvus-lite:``) alone means ``DB_DIR/vectors.milvus.db``; a relative Lite
    path is taken from the current folder.
    """
    text = os.fspath(spec).strip()
    if text in ("", FAISS, "faiss:"):
        return FAISS
    if text in ("milvus-lite", "milvus-lite:"):
        text = "milvus-lite:" + str(Path(db_dir) / LITE_DEFAULT_FILE)
    if is_milvus_spec(text):
        return parse_milvus_spec(text).spec
    raise StoreError(f"unknown vector store {text!r}: use faiss, milvus-lite:FILE.db or milvus://HOST:PORT")


def resolve_store(lib: Library, requested: str | os.PathLike | None) -> str:
    """The store spec for ``lib``: the one it records; a requested one must match it, or is
    recorded when the index has none yet."""
    catalog = lib.catalog
    recorded = catalog.get_meta(META_STORE)
    if requested is None:
        return recorded or FAISS
    spec = normalize_store_spec(requested, lib.db_dir)
    current = recorded or (FAISS if catalog.count_images() else None)
    if current is not None and current != spec:
        raise StoreMismatchError(
            f"this index keeps its vectors in {describe_spec(current)}, not {describe_spec(spec)}: leave out "
            f"--store, or move them with `pixseek migrate --db {lib.db_dir} --to {spec}`")
    if recorded != spec:
        with catalog.transaction() as db:
            catalog.set_meta(db, META_STORE, spec)
    return spec


def describe_spec(spec: str) -> str:
    return "the FAISS file" if spec == FAISS else spec


def scope_of(lib: Library) -> tuple[int, int] | None:
    """The id range of a shared collection that ``lib`` owns; ``None`` (all of it) when merged."""
    if lib.catalog.get_meta(META_MERGED):
        return None
    shard = lib.catalog.get_meta(META_SHARD)
    return ShardSpec.parse(shard).id_range if shard else UNSHARDED_RANGE


# -- opening ---------------------------------------------------------------------------------------
def open_spec(lib: Library, spec: str, dim: int, *, fresh: bool = False) -> VectorStore:
    """Open ``spec`` for ``lib``, scoped to its ids. Not reconciled."""
    if spec == FAISS:
        from .library import STORE_FILE

        return open_store(lib.db_dir / STORE_FILE, dim)
    return MilvusStore(spec, dim, auth=lib.settings.store_auth or MilvusAuth.resolve(),
                       id_range=scope_of(lib))


def open_library_store(lib: Library, dim: int) -> VectorStore:
    """The library's store, made to hold exactly its catalogue's vectors (``Library.store``)."""
    spec = lib.store_spec
    store = open_spec(lib, spec, dim)
    try:
        if spec == FAISS:
            lib._reconcile(store)  # in memory: cheap, always
        elif not lib.catalog.get_meta(META_MERGED):  # a merged index only reads the shards' vectors
            _sync_milvus(lib, store, spec)
    except BaseException:
        store.close()
        raise
    return store


def _sync_milvus(lib: Library, store: VectorStore, spec: str) -> None:
    catalog = lib.catalog
    held, have = len(store), catalog.count_images()
    if catalog.get_meta(META_SYNCED) == "1" and held == have:
        return
    if have == 0 and held and spec not in _used(lib):
        raise StoreError(
            f"{store.describe()} already holds {held} vectors in this index's id range, put there by "
            "another index: choose another collection (milvus://HOST:PORT/NAME), or give each index "
            "its own shard (--shard I/N)")
    lib._reconcile(store)
    store.save()
    _mark(lib, spec, synced=True)


def _used(lib: Library) -> list[str]:
    return json.loads(lib.catalog.get_meta(META_USED) or "[]")


def _mark(lib: Library, spec: str, *, synced: bool) -> None:
    catalog = lib.catalog
    with catalog.transaction() as db:
        catalog.set_meta(db, META_SYNCED, "1" if synced else "0")
        used = _used(lib)
        if spec != FAISS and spec not in used:
            catalog.set_meta(db, META_USED, json.dumps(used + [spec]))


# -- indexing hooks ----------------------------------------------------------------------------------
def before_index(lib: Library, shard: str | ShardSpec | None) -> ShardSpec | None:
    """Checks and bookkeeping before ``Library.index`` writes: refuses a merged index, records the
    shard (and its id base) on a new index, and marks the store as being written."""
    catalog = lib.catalog
    if catalog.get_meta(META_MERGED):
        raise PixseekError(
            f"{lib.db_dir} was merged from shards and only answers queries: re-run the shards "
            "(`pixseek index --shard I/N ...`) and `pixseek merge` again")
    recorded = catalog.get_meta(META_SHARD)
    spec = ShardSpec.parse(shard) if shard is not None else None
    if spec is None:
        if recorded:
            raise ShardError(f"this index is shard {recorded}: run it with --shard {recorded}")
    elif recorded is None:
        if catalog.count_images() or catalog.skipped():
            raise ShardError(f"{lib.db_dir} is an index of all files, not a shard: give each shard its "
                             "own --db folder")
        with catalog.transaction() as db:
            catalog.set_meta(db, META_SHARD, str(spec))
            _set_id_base(db, spec.id_range[0])
        if lib._store is not None:  # opened before the scope was known
            lib._store.close()
            lib._store = None
    elif recorded != str(spec):
        raise ShardError(f"this index is shard {recorded}, not {spec}: each shard keeps its own --db folder")
    return spec


def begin_writes(lib: Library) -> None:
    """The store is open (and reconciled): from now until ``after_index``, it may lag the catalogue."""
    if lib.store_spec != FAISS:
        _mark(lib, lib.store_spec, synced=False)


def after_index(lib: Library) -> None:
    """The run finished and saved its store: the store holds the catalogue's vectors again."""
    if lib.store_spec != FAISS:
        _mark(lib, lib.store_spec, synced=True)


def _set_id_base(db, first_id: int) -> None:
    """Make AUTOINCREMENT hand out ids from ``first_id`` (sqlite_sequence holds the last one used)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'files'").fetchone()
    if row is None:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('files', ?)", (first_id - 1,))
    elif row[0] < first_id - 1:
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'files'", (first_id - 1,))


def clear_for_reindex(lib: Library) -> None:
    """Before ``--reindex`` drops the vectors: remove this index's vectors from its Milvus
    collection, and drop the collection when nothing else is in it (its dimension may change)."""
    dim = lib.catalog.get_meta("dim")
    if lib.store_spec == FAISS or dim is None:
        return
    if lib._store is not None:
        lib._store.close()
        lib._store = None
    store = open_spec(lib, lib.store_spec, int(dim))
    try:
        store.clear()
        store.save()
        store.id_range = None  # now count the whole collection: drop it only if nobody else uses it
        if len(store) == 0:
            store.drop_collection()
    finally:
        store.close()


def store_line(lib: Library) -> str:
    """For status: the spec, and the shard or merge it belongs to."""
    text = describe_spec(lib.store_spec)
    shard = lib.catalog.get_meta(META_SHARD)
    merged = lib.catalog.get_meta(META_MERGED)
    if shard:
        text += f" (shard {shard})"
    if merged:
        text += f" (merged from {len(json.loads(merged))} shards)"
    return text
