"""Change sources feed one pipeline; per-photo signals are a registered list, filled in for photos
indexed before a signal existed without re-encoding their vectors; an index made by the previous
version (catalogue schema 2) opens and keeps working."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pixseek
from pixseek.catalog import SCHEMA_VERSION
from conftest import PixelEncoder
from pixseek.errors import PixseekError
from pixseek.indexing import Change, FolderScan, PathChanges, Signal, register, unregister
from pixseek.indexing.pipeline import Pipeline

REPO = Path(__file__).resolve().parent.parent
PREVIOUS = "3e7c669"  # the last landing before signals: catalogue schema 2


@pytest.fixture
def encodes(monkeypatch):
    """How many photos the fake encoder encoded."""
    count = {"n": 0}
    real = PixelEncoder.encode_pixels

    def counting(self, batch):
        count["n"] += len(batch)
        return real(self, batch)

    monkeypatch.setattr(PixelEncoder, "encode_pixels", counting)
    return count


@pytest.fixture
def lib(tmp_path, gallery):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        yield lib


def ids_by_path(lib) -> dict[str, int]:
    return {r.path: r.id for r in lib.catalog.ok_rows()}


# -- change sources ------------------------------------------------------------------------------
def test_a_file_inside_an_indexed_folder_is_indexed_alone(lib, gallery, encodes):
    shutil.copy2(gallery / "rocket.jpg", gallery / "new.jpg")
    os.utime(gallery / "chelsea.jpg", ns=(1, 1))  # changed stat, same bytes: not looked at
    report = lib.index([gallery / "new.jpg"])
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 0, 0, 0)
    assert encodes["n"] == 0  # the bytes are rocket.jpg's: its vector is reused
    assert lib.status().roots == [str(gallery)], "a file inside an indexed folder is not a new folder"
    assert lib.catalog.row_by_path(str(gallery / "chelsea.jpg")).mtime_ns != 1


def test_a_path_gone_from_disk_leaves_the_index(lib, gallery):
    sub = gallery / "trip"
    sub.mkdir()
    for name in ("moon", "camera"):
        shutil.copy2(gallery / f"{name}.jpg", sub / f"{name}.jpg")
    lib.index([sub])
    assert lib.status().images == 13
    (gallery / "coffee.jpg").unlink()
    shutil.rmtree(sub)
    report = lib.index([gallery / "coffee.jpg", sub])
    assert (report.added, report.removed) == (0, 3)
    assert lib.status().images == 10 and len(lib.store) == 10
    assert lib.status().roots == [str(gallery)], "the deleted folder is no longer an indexed folder"
    assert set(lib.store.ids()) == set(ids_by_path(lib).values())


def test_a_missing_path_is_a_typo_unless_something_was_indexed_there(lib, gallery, tmp_path):
    with pytest.raises(PixseekError, match="not found"):
        lib.index([gallery / "no-such.jpg"])
    with pytest.raises(PixseekError, match="not found"):
        lib.index([tmp_path / "elsewhere"])
    moved = tmp_path / "unplugged"
    gallery.rename(moved)  # an indexed folder that is gone (an unplugged drive): nothing leaves
    with pytest.raises(PixseekError, match="folder not found"):
        lib.index([gallery])
    assert lib.status().images == 11


def test_moves_keep_ids_and_vectors(lib, gallery, encodes):
    before = ids_by_path(lib)
    os.rename(gallery / "chelsea.jpg", gallery / "cat.jpg")
    (gallery / "album").mkdir()
    for name in ("moon", "camera"):
        os.rename(gallery / f"{name}.jpg", gallery / "album" / f"{name}.jpg")
    report = lib.index(moves=[(gallery / "chelsea.jpg", gallery / "cat.jpg"),
                              (gallery / "moon.jpg", gallery / "album" / "moon.jpg"),
                              (gallery / "camera.jpg", gallery / "album" / "camera.jpg")])
    after = ids_by_path(lib)
    assert encodes["n"] == 0 and (report.added, report.removed) == (0, 0)
    assert after[str(gallery / "cat.jpg")] == before[str(gallery / "chelsea.jpg")]
    assert after[str(gallery / "album" / "moon.jpg")] == before[str(gallery / "moon.jpg")]
    assert len(after) == 11 and set(lib.store.ids()) == set(after.values())

    # a folder moved as a whole, then a file moved onto an indexed one (which it replaces)
    os.rename(gallery / "album", gallery / "2021")
    lib.index(moves=[(gallery / "album", gallery / "2021")])
    assert ids_by_path(lib)[str(gallery / "2021" / "camera.jpg")] == before[str(gallery / "camera.jpg")]
    os.replace(gallery / "cat.jpg", gallery / "rocket.jpg")
    report = lib.index(moves=[(gallery / "cat.jpg", gallery / "rocket.jpg")])
    after = ids_by_path(lib)
    assert after[str(gallery / "rocket.jpg")] == before[str(gallery / "chelsea.jpg")]
    assert len(after) == 10 and set(lib.store.ids()) == set(after.values()) and encodes["n"] == 0


def test_path_changes_put_removals_last_so_a_rename_reuses_the_vector(lib, gallery, encodes):
    os.rename(gallery / "coffee.jpg", gallery / "espresso.jpg")
    old_id = lib.catalog.row_by_path(str(gallery / "coffee.jpg")).id
    source = PathChanges(lib.catalog, [str(gallery / "coffee.jpg"), str(gallery / "espresso.jpg")])
    assert [c.kind for c in source.changes()] == ["add", "remove"]
    report = lib.index([gallery / "coffee.jpg", gallery / "espresso.jpg"])
    assert (report.added, report.removed, encodes["n"]) == (1, 1, 0)
    new = lib.catalog.row_by_path(str(gallery / "espresso.jpg"))
    assert new.id != old_id and np.allclose(lib.store.get(np.array([new.id]))[0],
                                            lib.catalog.vectors([new.id])[0])


def test_folder_scan_yields_adds_updates_then_removals(lib, gallery):
    (gallery / "moon.jpg").unlink()
    shutil.copy2(gallery / "coffee.jpg", gallery / "zzz.jpg")
    with open(gallery / "brick.jpg", "ab") as fh:
        fh.write(b"\0")
    scan = FolderScan(lib.catalog, [str(gallery)])
    kinds = [(c.kind, os.path.basename(c.path)) for c in scan.changes()]
    assert kinds == [("update", "brick.jpg"), ("add", "zzz.jpg"), ("remove", "moon.jpg")]
    assert scan.unchanged == 9


# -- signals -------------------------------------------------------------------------------------
class Brightness(Signal):
    """A test signal: mean grey level of the decoded photo, kept in a dict."""

    name, version = "brightness", "1"
    min_side = 16

    def __init__(self, store: dict, fail: bool = False) -> None:
        self.store, self.fail, self.calls = store, fail, 0

    def extract(self, photo):
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom")
        return float(np.asarray(photo.image.convert("L")).mean())

    def write(self, catalog, db, sha, value):
        self.store[sha] = value


@pytest.fixture
def brightness():
    values: dict = {}
    signal = Brightness(values)
    yield signal
    unregister(signal.name)


def coverage(lib, name):
    return next((s.have, s.total) for s in lib.status().signals if s.name == name)


def test_a_new_signal_is_filled_in_without_re_encoding(lib, brightness, encodes, monkeypatch):
    register(brightness)
    assert coverage(lib, "brightness") == (0, 11)
    report = lib.index()
    assert encodes["n"] == 0 and brightness.calls == 11 and len(brightness.store) == 11
    assert (report.added, report.updated, report.unchanged) == (0, 0, 11)
    assert any("brightness for 11 photos" in n for n in report.notes), report.notes
    assert coverage(lib, "brightness") == (11, 11)

    # complete: the next runs neither decode nor even look for stale signals
    def no_query(*a, **k):
        raise AssertionError("looked for stale signals although every photo has them")

    monkeypatch.setattr(lib.catalog, "stale_signals", no_query)
    lib.index()
    assert brightness.calls == 11
    monkeypatch.undo()

    # a new version is filled in again; a signal that fails never fails a photo
    type(brightness).version = "2"
    try:
        brightness.fail = True
        report = lib.index()
        assert (report.skipped, lib.status().images, brightness.calls) == (0, 11, 22)
        assert coverage(lib, "brightness") == (11, 11)  # done: the same bytes would fail again
        assert lib.index().notes == [] and brightness.calls == 22
    finally:
        type(brightness).version = "1"


def test_new_photos_get_every_signal_in_the_same_pass(tmp_path, gallery, brightness, encodes):
    register(brightness)
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        assert encodes["n"] == 11 and brightness.calls == 11
        assert coverage(lib, "brightness") == coverage(lib, "perceptual") == (11, 11)
        shas = {r.sha for r in lib.catalog.ok_rows()}
        assert set(lib.catalog.hashes_for(shas)) == shas == set(brightness.store)
        lib.index()
        assert brightness.calls == 11


def test_pipeline_runs_any_change_source(lib, gallery):
    class OneFile:
        unchanged = still_skipped = 0

        def changes(self):
            info = pixseek.types.FileInfo(str(gallery / "moon.jpg"), 1, 1)
            yield Change("update", info, lib.catalog.row_by_path(info.path))

    pipeline = Pipeline(lib.catalog, lib.store, lambda: lib.encoder)
    report = pipeline.run([OneFile()])
    assert (report.unchanged, report.updated) == (1, 0)  # same bytes: only its stat was refreshed
    assert lib.catalog.row_by_path(str(gallery / "moon.jpg")).mtime_ns == 1


# -- an index made by the previous version ---------------------------------------------------------
def _previous_version(dest: Path) -> Path:
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS, "src/pixseek"],
                                 capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"commit {PREVIOUS} (the previous version) is not in this checkout's history")
    dest.mkdir()
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
    return dest / "src"


@pytest.mark.slow
def test_an_index_made_by_the_previous_version_opens_and_keeps_working(tmp_path, gallery, tiny_clip):
    old_src = _previous_version(tmp_path / "old")
    db = tmp_path / "db"
    env = {**os.environ, "PYTHONPATH": str(old_src)}
    subprocess.run([sys.executable, "-m", "pixseek", "index", str(gallery), "--db", str(db), "--model", tiny_clip],
                   env=env, check=True, capture_output=True, timeout=600)
    with pixseek.open(db, ocr="auto") as lib:
        assert lib.catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # what the old version stored counts as version 1 of its signal; the words signals are new
        assert [(s.name, s.have, s.total) for s in lib.status().signals if not s.on_demand] == [
            ("vector", 11, 11), ("facts", 11, 11), ("perceptual", 11, 11), ("metadata", 0, 11), ("ocr", 0, 11)]
        report = lib.index()  # fills the new signals in, without encoding anything again
        assert (report.added, report.unchanged) == (0, 11)
        assert report.notes == ["filled in metadata, ocr for 11 photos indexed before",
                                "words of names and sidecars brought up to date for 11 files"]
        assert lib._encoder is None
        assert all(s.have == s.total for s in lib.status().signals if not s.on_demand)
        assert lib.index().notes == []
        hits = lib.similar(gallery / "chelsea.jpg", k=3)
        assert len(hits) == 3 and str(gallery / "chelsea.jpg") not in [h.path for h in hits]
        assert lib.search("a cat", k=2)
        shutil.copy2(gallery / "coffee.jpg", gallery / "coffee-copy.jpg")
        assert lib.index().added == 1
        assert [g.kind for g in lib.duplicates([gallery])] == ["exact"]
