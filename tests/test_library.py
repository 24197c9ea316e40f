"""The library object end to end: incremental indexing, reuse by content hash, skips, model checks."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.errors import ModelMismatchError, PixseekError, UnsupportedQueryError
from pixseek.search import Query


def vector_of(lib, path):
    row = lib.catalog.row_by_path(str(path))
    return lib.catalog.vectors([row.id])[0]


def test_index_is_incremental(gallery, tmp_path):
    db = tmp_path / "db"
    with pixseek.open(db, model="fake:pixels") as lib:
        r = lib.index([gallery])
        assert (r.added, r.updated, r.removed, r.unchanged, r.skipped) == (11, 0, 0, 0, 0)
        assert lib.status().images == 11
        assert len(lib.store) == 11
    with pixseek.open(db) as lib:  # the model comes from the index
        r = lib.index()  # no folder: refresh the folders indexed before
        assert (r.added, r.unchanged) == (0, 11)
        assert lib._encoder is None, "an unchanged folder must not load a model"
        assert lib.status().roots == [str(gallery)]


def test_rename_and_copy_reuse_the_vector(gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        before = vector_of(lib, gallery / "chelsea.jpg")
        os.rename(gallery / "chelsea.jpg", gallery / "renamed.jpg")
        shutil.copy2(gallery / "coffee.jpg", gallery / "sub-copy.jpg")
        r = lib.index([gallery])
        assert (r.added, r.removed, r.unchanged) == (2, 1, 10)
        assert np.array_equal(vector_of(lib, gallery / "renamed.jpg"), before)
        assert np.array_equal(vector_of(lib, gallery / "sub-copy.jpg"), vector_of(lib, gallery / "coffee.jpg"))
        row = lib.catalog.row_by_path(str(gallery / "renamed.jpg"))
        assert (row.width, row.height) == (451, 300)
        assert lib.catalog.row_by_path(str(gallery / "chelsea.jpg")) is None
        assert sorted(lib.store.ids()) == sorted(lib.catalog.ids_with_vectors())


def test_changed_and_deleted_files(gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        old_id = lib.catalog.row_by_path(str(gallery / "rocket.jpg")).id
        Image.new("RGB", (64, 48), "red").save(gallery / "rocket.jpg")
        (gallery / "camera.jpg").unlink()
        os.utime(gallery / "moon.jpg")  # touched, same content
        r = lib.index([gallery])
        assert (r.added, r.updated, r.removed, r.unchanged) == (0, 1, 1, 9)
        new = lib.catalog.row_by_path(str(gallery / "rocket.jpg"))
        assert new.id != old_id and (new.width, new.height) == (64, 48)
        assert old_id not in set(lib.store.ids())
        hits = lib.similar(gallery / "rocket.jpg", k=20)
        assert all(h.path != str(gallery / "camera.jpg") for h in hits)
        assert lib.status().images == 10


def test_bad_files_are_skipped_with_reasons(gallery, tmp_path):
    (gallery / "empty.jpg").write_bytes(b"")
    (gallery / "notes.png").write_text("this is not an image")
    data = (gallery / "astronaut.jpg").read_bytes()
    (gallery / "half.jpg").write_bytes(data[: len(data) // 2])
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        r = lib.index([gallery])
        assert (r.added, r.skipped) == (11, 3)
        reasons = {os.path.basename(s.path): s.reason for s in lib.status().skipped}
        assert reasons["empty.jpg"] == "empty file"
        assert reasons["notes.png"].startswith("not an image")
        assert reasons["half.jpg"].startswith("truncated")
        r = lib.index([gallery])  # skipped files are not retried until they change
        assert (r.unchanged, r.skipped) == (11, 3)


def test_similar_finds_the_copy_first(gallery, tmp_path):
    img = Image.open(gallery / "coffee.jpg").resize((200, 133))
    query = tmp_path / "query.jpg"
    img.save(query, quality=70)
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        hits = lib.similar(query, k=3)
        assert hits[0].path == str(gallery / "coffee.jpg")
        assert hits[0].score > 0.95 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # an indexed photo is left out of its own lookalikes
        assert all(h.path != str(gallery / "coffee.jpg") for h in lib.similar(gallery / "coffee.jpg"))
        assert lib.similar(query.read_bytes(), k=1)[0].path == str(gallery / "coffee.jpg")


def test_text_search_on_image_only_index_uses_the_words_or_is_refused_in_visual_mode(gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        with pytest.raises(UnsupportedQueryError, match="images only"):
            lib.search("a cat", mode="visual")
        results = lib.query(Query(text="chelsea"))  # the file name's words
        assert results.mode == "hybrid" and "images only" in results.note
        assert [h.path for h in results] == [str(gallery / "chelsea.jpg")]


def test_other_model_is_refused_unless_reindex(gallery, tmp_path, tiny_clip):
    db = tmp_path / "db"
    with pixseek.open(db, model="fake:pixels") as lib:
        lib.index([gallery])
    with pixseek.open(db, model=tiny_clip) as lib:
        with pytest.raises(ModelMismatchError, match="--reindex"):
            lib.index([gallery])
        with pytest.raises(ModelMismatchError):
            lib.search("a cat")
        r = lib.index([gallery], reindex=True)
        assert r.added == 11
        assert lib.status().dim == 32 and lib.status().model.startswith("local-dir:")
        hits = lib.search("a cat", k=4)
        assert len(hits) == 4 and all(os.path.isabs(h.path) for h in hits)


def test_clear_errors(tmp_path, gallery):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        with pytest.raises(PixseekError, match="no images yet|empty"):
            lib.similar(gallery / "moon.jpg")
        with pytest.raises(PixseekError, match="not found"):
            lib.index([tmp_path / "nope"])
        lib.index([gallery])
        with pytest.raises(PixseekError, match="cannot be used"):
            lib.similar(b"not an image")
        with pytest.raises(PixseekError, match="cannot read"):
            lib.similar(tmp_path / "missing.jpg")


def test_store_is_reconciled_with_the_catalogue(gallery, tmp_path):
    db = tmp_path / "db"
    with pixseek.open(db, model="fake:pixels") as lib:
        lib.index([gallery])
    (db / "vectors.faiss").unlink()  # as if killed before the first save
    with pixseek.open(db) as lib:
        assert len(lib.store) == 11
        assert lib.similar(gallery / "moon.jpg", k=1)


def test_search_keeps_working_while_indexing(gallery, tmp_path):
    more = tmp_path / "more"
    more.mkdir()
    rng = np.random.default_rng(0)
    for i in range(400):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(more / f"n{i}.png")
    import threading

    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        errors, during = [], 0
        worker = threading.Thread(target=lambda: lib.index([more], batch_size=8))
        worker.start()
        while worker.is_alive():
            try:
                assert lib.similar(gallery / "coffee.jpg", k=3)
                during += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the bug this test looks for
                errors.append(exc)
        worker.join()
        assert not errors and during > 0
        with pytest.raises(PixseekError, match="another pixseek is indexing"):
            with lib.writing():
                lib.index([gallery])
        assert lib.status().images == 411 and len(lib.store) == 411


def test_settings_open_a_library_and_a_typo_is_refused(gallery, tmp_path):
    from pixseek.settings import LibrarySettings

    settings = LibrarySettings(model="fake:pixels", device="cpu")
    with pixseek.Library(tmp_path / "db", settings) as lib:
        lib.index([gallery])
        assert lib.settings is settings and lib.spec.id == "fake:pixels|"
    with pixseek.open(tmp_path / "db", device="cpu") as lib:  # keywords are the settings' fields
        assert lib.settings == LibrarySettings(device="cpu") and lib.spec.id == "fake:pixels|"
    with pytest.raises(TypeError, match="unknown setting 'modle': the settings are model, pretrained, device, "
                                        "store, store_auth, backend, precision"):
        pixseek.open(tmp_path / "db2", modle="ViT-B-32")
    assert not (tmp_path / "db2").exists()
