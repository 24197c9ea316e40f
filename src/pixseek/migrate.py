"""Moving vectors between stores, and gathering shard indexes into one — never re-encoding.

- ``migrate(lib, to)`` copies the catalogue's vectors (the source of truth) into another store
  (FAISS file <-> Milvus), checks that it holds exactly them, and only then records it as the
  index's store. The old store is kept unless ``drop_old``.
- ``merge(lib, shard_dirs)`` copies the catalogue rows of shard indexes (``index --shard I/N``)
  into ``lib``, keeping their ids, so that ``lib`` answers queries over the collection they filled.
  Re-running it after the shards ran again replaces each shard's rows: it is idempotent.

>>> with pixseek.open("~/photos-index") as lib:                                  # doctest: +SKIP
...     migrate(lib, "milvus://milvus.lan:19530/photos")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PixseekError
from .library import Library
from .settings import LibrarySettings
from .shard import ShardSpec
from .stores import FAISS
from .stores.base import StoreError
from .stores.keeper import META_MERGED, META_STORE, describe_spec
from .types import ProgressFn

COPY_CHUNK = 10_000


@dataclass
class MigrationReport:
    source: str
    target: str
    moved: int = 0
    dropped_old: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MergeReport:
    shards: list[str]
    images: int = 0
    store: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate(lib: Library, to: str, *, drop_old: bool = False, progress: ProgressFn | None = None) -> MigrationReport:
    """Move ``lib``'s vectors to the store ``to`` (``faiss``, ``milvus-lite:F.db``, ``milvus://H:P/C``)."""
    started = time.perf_counter()
    catalog, keeper = lib.catalog, lib.stores
    if keeper.merged:
        raise PixseekError(f"{lib.db_dir} was merged from shards: migrate the shards, then merge them again")
    source, target = keeper.spec, keeper.normalize(to)
    report = MigrationReport(describe_spec(source), describe_spec(target))
    if source == target:
        raise PixseekError(f"the vectors are already in {describe_spec(target)}")
    with lib.writing(), keeper.lock:
        dim = catalog.get_meta("dim")
        if dim is not None:
            report.moved = _copy(lib, target, int(dim), progress)
        keeper.switch(target)
        if drop_old and dim is not None:
            keeper.destroy(source, int(dim))
            report.dropped_old = True
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _copy(lib: Library, target: str, dim: int, progress: ProgressFn | None) -> int:
    """Fill ``target`` with the catalogue's vectors and check it holds exactly them."""
    catalog, keeper = lib.catalog, lib.stores
    want = np.sort(catalog.ids_with_vectors())
    store = keeper.open(target, dim)
    try:
        held = store.ids()
        if held.size and target != FAISS and target not in keeper.used():
            # Another index's vectors (ids are only unique within one catalogue): never overwrite them.
            raise StoreError(
                f"{store.describe()} already holds {held.size} vectors in this index's id range that "
                "it did not put there: migrate to another collection (milvus://HOST:PORT/NAME)")
        stale = np.setdiff1d(held, want, assume_unique=True)
        if stale.size:
            store.remove(stale)  # our own leftovers from an earlier stay there
        if progress:
            progress(0, len(want))
        for start in range(0, len(want), COPY_CHUNK):
            chunk = want[start:start + COPY_CHUNK]
            store.add(chunk, catalog.vectors(chunk.tolist()))
            if progress:
                progress(start + len(chunk), len(want))
        store.save()
        got = store.ids()
        if not np.array_equal(np.sort(got), want):
            raise StoreError(f"{describe_spec(target)} holds {len(got)} vectors after the copy, "
                             f"expected {len(want)}: the index still uses its old store")
    finally:
        store.close()
    keeper.mark(target, synced=True)
    return len(want)


# -- merge ---------------------------------------------------------------------------------------------
def merge(lib: Library, shard_dirs: Sequence[str | os.PathLike]) -> MergeReport:
    """Gather shard indexes (same model, same Milvus collection) into ``lib``, a read-only index."""
    started = time.perf_counter()
    catalog = lib.catalog
    if not shard_dirs:
        raise PixseekError("name the shard index folders to merge")
    keeper = lib.stores
    if keeper.shard:
        raise PixseekError(f"{lib.db_dir} is itself a shard: merge into a new folder")
    if catalog.count_images() and not keeper.merged:
        raise PixseekError(f"{lib.db_dir} already indexes photos itself: merge into a new folder")
    shards = [_open_shard(d, lib) for d in shard_dirs]
    try:
        first = shards[0]
        spec = ShardSpec.parse(first.stores.shard)
        seen: dict[int, str] = {}
        for shard in shards:
            s = ShardSpec.parse(shard.stores.shard)
            for key, what in (("model", "model"), ("dim", "dimension")):
                if shard.catalog.get_meta(key) != first.catalog.get_meta(key):
                    raise PixseekError(f"{shard.db_dir} and {first.db_dir} differ in {what}: shards of one "
                                       "index use the same --model")
            if s.count != spec.count:
                raise PixseekError(f"{shard.db_dir} is shard {s}, {first.db_dir} shard {spec}: "
                                   "all shards of one index use the same N")
            if shard.store_spec != first.store_spec:
                raise PixseekError(f"{shard.db_dir} keeps its vectors in {shard.store_spec}, {first.db_dir} "
                                   f"in {first.store_spec}: shards of one index share one store")
            if s.index in seen:
                raise PixseekError(f"{shard.db_dir} and {seen[s.index]} are both shard {s}")
            seen[s.index] = str(shard.db_dir)
            if shard.catalog.get_meta("dim") is not None:
                shard.store  # noqa: B018 — opening reconciles the shard's vectors with its catalogue
        # Milvus: the collection the shards filled; FAISS: a file of our own, built from the rows.
        store_spec = first.store_spec
        recorded = catalog.get_meta(META_STORE)
        if recorded and recorded != store_spec and keeper.merged:
            raise PixseekError(f"{lib.db_dir} was merged from shards in {recorded}, not {store_spec}")
        merged = {m["shard"]: m for m in keeper.merged}
        with lib.writing(), keeper.lock:
            keeper.close()
            for shard in shards:
                _copy_rows(catalog, shard)
                s = shard.stores.shard
                merged[s] = {"shard": s, "dir": str(shard.db_dir)}
            with catalog.transaction() as db:
                for key in ("model", "dim"):
                    value = first.catalog.get_meta(key)
                    if value is not None:
                        catalog.set_meta(db, key, value)
                catalog.set_meta(db, META_STORE, store_spec)  # with the rows: one transaction
                catalog.set_meta(db, META_MERGED, json.dumps(sorted(
                    merged.values(), key=lambda m: ShardSpec.parse(m["shard"]).index)))
            keeper.switch(store_spec)
            lib.reload_model()
    finally:
        for shard in shards:
            shard.close()
    return MergeReport(shards=sorted(merged, key=lambda s: ShardSpec.parse(s).index), images=catalog.count_images(),
                       store=describe_spec(store_spec), seconds=round(time.perf_counter() - started, 3))


def _open_shard(folder: str | os.PathLike, lib: Library) -> Library:
    path = Path(os.path.expanduser(os.fspath(folder)))
    if not (path / "catalog.sqlite").exists():
        raise PixseekError(f"{path} is not a pixseek index (no catalog.sqlite)")
    shard = Library(path, LibrarySettings(store_auth=lib.settings.store_auth))
    if not shard.stores.shard:
        shard.close()
        raise PixseekError(f"{path} is not a shard index (made without --shard I/N)")
    return shard


_FILE_COLUMNS = "id, path, size, mtime_ns, sha, status, reason, width, height, taken_at, format, indexed_at"


def _copy_rows(catalog, shard: Library) -> None:
    """Replace the rows of ``shard``'s id range in ``catalog`` with the shard's rows (one transaction)."""
    lo, hi = ShardSpec.parse(shard.stores.shard).id_range
    db = catalog.db
    db.execute("ATTACH DATABASE ? AS shard", (shard.catalog.path,))
    try:
        with catalog.transaction() as tx:
            tx.execute("DELETE FROM main.files WHERE id >= ? AND id < ?", (lo, hi))
            # A path that moved to this shard (only if N changed) leaves its old row.
            tx.execute("DELETE FROM main.files WHERE path IN (SELECT path FROM shard.files)")
            tx.execute(f"INSERT INTO main.files ({_FILE_COLUMNS}) SELECT {_FILE_COLUMNS} FROM shard.files")
            tx.execute("INSERT INTO main.vectors (file_id, vec) SELECT file_id, vec FROM shard.vectors")
            tx.execute("INSERT OR IGNORE INTO main.roots (path, added_at) SELECT path, added_at FROM shard.roots")
    finally:
        db.execute("DETACH DATABASE shard")
