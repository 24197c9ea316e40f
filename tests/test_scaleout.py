"""Libraries on Milvus Lite: same answers as FAISS, the store remembered, migration both ways without
re-encoding, consistency after removals and crashes, and sharded embedding gathered by merge."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.errors import PixseekError
from pixseek.migrate import merge, migrate
from pixseek.stores.keeper import StoreMismatchError
from pixseek.shard import ID_SPAN, ShardError, ShardSpec, shard_of
from pixseek.stores import StoreError, open_store

pytest.importorskip("pymilvus")

MODEL = "fake:pixels"


def hits(lib, path, k=5):
    return [(os.path.basename(h.path), round(h.score, 5)) for h in lib.similar(path, k=k)]


def in_sync(lib):
    """The store holds exactly the catalogue's vectors, bit for bit."""
    ids = np.sort(lib.catalog.ids_with_vectors())
    assert np.array_equal(np.sort(lib.store.ids()), ids)
    np.testing.assert_array_equal(lib.store.get(ids), lib.catalog.vectors(ids.tolist()))
    return len(ids)


def test_milvus_library_answers_like_faiss(gallery, tmp_path, milvus_spec):
    with pixseek.open(tmp_path / "f", model=MODEL) as flat, \
            pixseek.open(tmp_path / "m", model=MODEL, store=milvus_spec) as mil:
        assert flat.index([gallery]).added == mil.index([gallery]).added == 11
        for name in ("coffee.jpg", "moon.jpg", "astronaut.jpg"):
            assert hits(mil, gallery / name, k=10) == hits(flat, gallery / name, k=10)
        assert in_sync(mil) == 11
        assert mil.status().store == milvus_spec and flat.status().store == "the FAISS file"


def test_the_store_is_remembered_and_a_different_one_refused(gallery, tmp_path, milvus_spec):
    db = tmp_path / "db"
    with pixseek.open(db, model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery])
    with pixseek.open(db) as lib:  # no --store: the recorded one
        assert lib.store_spec == milvus_spec and len(lib.store) == 11
        assert not (db / "vectors.faiss").exists()
    with pytest.raises(StoreMismatchError, match="pixseek migrate"):
        pixseek.open(db, store="faiss")
    with pixseek.open(tmp_path / "old", model=MODEL) as lib:  # an index from before --store: FAISS
        lib.index([gallery])
    with pytest.raises(StoreMismatchError, match="FAISS file"):
        pixseek.open(tmp_path / "old", store=milvus_spec)


def test_removal_and_reindex_keep_store_and_catalogue_equal(gallery, tmp_path, milvus_spec):
    with pixseek.open(tmp_path / "db", model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery])
        Image.new("RGB", (64, 48), "red").save(gallery / "rocket.jpg")
        (gallery / "camera.jpg").unlink()
        os.rename(gallery / "moon.jpg", gallery / "moon2.jpg")
        shutil.copy2(gallery / "coffee.jpg", gallery / "coffee-copy.jpg")
        r = lib.index([gallery])
        assert (r.added, r.updated, r.removed) == (2, 1, 2)
        assert in_sync(lib) == 11
        assert all("camera" not in h.path for h in lib.similar(gallery / "rocket.jpg", k=20))
        assert lib.similar(gallery / "coffee.jpg", k=1)[0].path == str(gallery / "coffee-copy.jpg")


def test_a_crash_between_catalogue_and_store_is_repaired_on_open(gallery, tmp_path, milvus_spec):
    db = tmp_path / "db"
    with pixseek.open(db, model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery])
        ids = np.sort(lib.catalog.ids_with_vectors())
    # As if killed mid-run: the catalogue committed a batch the store never got, and the store
    # still holds a vector the catalogue deleted; the run never marked the store synced again.
    store = open_store(milvus_spec, 192)
    store.remove(ids[:3])
    store.add(np.array([ids[-1] + 100]), np.eye(192, dtype=np.float32)[:1])
    store.save()
    store.close()
    con = sqlite3.connect(db / "catalog.sqlite")
    con.execute("UPDATE meta SET value = '0' WHERE key = 'store_synced'")
    con.commit()
    con.close()
    with pixseek.open(db) as lib:
        assert in_sync(lib) == 11
        assert lib.catalog.get_meta("store_synced") == "1"
    # Synced, but someone emptied the collection: the count check catches it.
    store = open_store(milvus_spec, 192)
    store.clear()
    store.close()
    with pixseek.open(db) as lib:
        assert in_sync(lib) == 11


def test_migration_round_trip_keeps_every_vector(gallery, tmp_path, milvus_spec):
    db = tmp_path / "db"
    with pixseek.open(db, model=MODEL) as lib:
        lib.index([gallery])
        before = hits(lib, gallery / "chelsea.jpg", k=10)
        original = {int(i): lib.catalog.vectors([int(i)])[0] for i in lib.catalog.ids_with_vectors()}
        lib._encoder = None
        report = migrate(lib, milvus_spec)
        assert report.moved == 11 and not report.dropped_old
        assert lib._encoder is None, "migration must not encode"
        assert (db / "vectors.faiss").exists()  # kept without --drop-old
    with pixseek.open(db) as lib:
        assert lib.store_spec == milvus_spec and in_sync(lib) == 11
        assert hits(lib, gallery / "chelsea.jpg", k=10) == before
        (gallery / "page.jpg").unlink()
        lib.index([gallery])  # changes while in Milvus
        report = migrate(lib, "faiss", drop_old=True)
        assert report.moved == 10 and report.dropped_old
    with pixseek.open(db) as lib:
        assert lib.store_spec == "faiss" and in_sync(lib) == 10
        kept = np.sort(lib.catalog.ids_with_vectors())
        np.testing.assert_array_equal(lib.store.get(kept), np.stack([original[int(i)] for i in kept]))
        with pytest.raises(PixseekError, match="already in"):
            migrate(lib, "faiss")
        # back to the same collection: the stale vectors there (page.jpg) are ours and go
        assert migrate(lib, milvus_spec).moved == 10
    store = open_store(milvus_spec, 192)
    assert len(store) == 10
    store.close()


def test_a_collection_holding_another_index_is_refused(gallery, tmp_path, milvus_spec):
    with pixseek.open(tmp_path / "a", model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery])
    with pixseek.open(tmp_path / "b", model=MODEL, store=milvus_spec) as lib:
        with pytest.raises(StoreError, match="put there by another index"):
            lib.index([gallery])
    with pixseek.open(tmp_path / "c", model=MODEL) as lib:
        lib.index([gallery])
        with pytest.raises(StoreError, match="did not put there"):
            migrate(lib, milvus_spec)
        assert lib.store_spec == "faiss"
    with pixseek.open(tmp_path / "a") as lib:
        assert in_sync(lib) == 11


def test_reindex_with_another_dimension_recreates_the_collection(gallery, tmp_path, milvus_spec, tiny_clip):
    with pixseek.open(tmp_path / "db", model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery])
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        assert lib.index([gallery], reindex=True).added == 11
        assert lib.store.dim == 32 and in_sync(lib) == 11
        assert len(lib.search("a cat", k=3)) == 3


# -- sharded embedding -----------------------------------------------------------------------------
def test_shards_are_deterministic_and_partition_the_files():
    paths = [f"/photos/{y}/{i:05d}.jpg" for y in range(2000, 2010) for i in range(300)]
    owners = [shard_of(p, 4) for p in paths]
    assert owners == [shard_of(p, 4) for p in paths]  # stable (no salted hash())
    counts = np.bincount(owners, minlength=5)[1:]
    assert counts.sum() == 3000 and counts.min() > 650  # about a quarter each
    assert [ShardSpec.parse("3/4").owns(p) for p in paths] == [o == 3 for o in owners]
    assert shard_of("/photos/caf\udce9.jpg", 4) in range(1, 5)  # undecodable names hash too
    for bad in ("0/4", "5/4", "2", "a/b", "2/4/1"):
        with pytest.raises(ShardError):
            ShardSpec.parse(bad)


def test_shards_fill_one_collection_and_merge_answers_like_one_index(gallery, tmp_path, milvus_spec):
    shards = [tmp_path / f"shard{i}" for i in (1, 2, 3)]
    total = 0
    for i, db in enumerate(shards, 1):
        with pixseek.open(db, model=MODEL, store=milvus_spec) as lib:
            r = lib.index([gallery], shard=f"{i}/3")
            total += r.added
            ids = lib.catalog.ids_with_vectors()
            assert ((ids >= i * ID_SPAN) & (ids < (i + 1) * ID_SPAN)).all()
            assert all(shard_of(row, 3) == i for row in (lib.catalog.rows_by_ids(ids.tolist())[j].path for j in ids))
            assert lib.status().store.endswith(f"(shard {i}/3)")
    assert total == 11
    with pixseek.open(shards[0]) as lib:  # a re-run costs a stat per file of the shard
        r = lib.index([gallery], shard="1/3")
        assert r.added == 0 and r.unchanged == lib.status().images
        with pytest.raises(ShardError, match="shard 1/3"):
            lib.index([gallery])
        with pytest.raises(ShardError, match="not 2/3"):
            lib.index([gallery], shard="2/3")

    main = tmp_path / "main"
    with pixseek.open(main) as lib:
        report = merge(lib, shards)
        assert report.shards == ["1/3", "2/3", "3/3"] and report.images == 11
    with pixseek.open(tmp_path / "flat", model=MODEL) as flat, pixseek.open(main) as lib:
        flat.index([gallery])
        assert hits(lib, gallery / "coffee.jpg", k=10) == hits(flat, gallery / "coffee.jpg", k=10)
        assert len(lib.store) == 11 and "merged from 3 shards" in lib.status().store
        with pytest.raises(PixseekError, match="merged from shards"):
            lib.index([gallery])

    # A file goes away; its shard re-runs and the merge is repeated: the index follows.
    gone = gallery / "moon.jpg"
    owner = shard_of(str(gone), 3)
    gone.unlink()
    with pixseek.open(shards[owner - 1]) as lib:
        assert lib.index([gallery], shard=f"{owner}/3").removed == 1
    with pixseek.open(main) as lib:
        assert merge(lib, shards[owner - 1:owner]).images == 10
        assert all(h.path != str(gone) for h in lib.similar(gallery / "coffee.jpg", k=20))
        assert in_sync(lib) == 10
        meta = json.loads(lib.catalog.get_meta("merged_from"))
        assert [m["shard"] for m in meta] == ["1/3", "2/3", "3/3"]


def test_merge_refuses_mixed_shards(gallery, tmp_path, milvus_spec, tiny_clip):
    with pixseek.open(tmp_path / "s1", model=MODEL, store=milvus_spec) as lib:
        lib.index([gallery], shard="1/2")
    with pixseek.open(tmp_path / "t1", model=MODEL, store=milvus_spec + "b") as lib:
        lib.index([gallery], shard="1/3")
    with pixseek.open(tmp_path / "all", model=MODEL) as lib:
        lib.index([gallery])
        with pytest.raises(ShardError, match="not a shard"):
            lib.index([gallery], shard="1/2")
    for dirs, msg in [(["s1", "t1"], "same N"), (["s1", "s1"], "both shard 1/2"), (["all"], "not a shard index"),
                      (["nowhere"], "not a pixseek index")]:
        with pixseek.open(tmp_path / "main") as lib, pytest.raises(PixseekError, match=msg):
            merge(lib, [tmp_path / d for d in dirs])
