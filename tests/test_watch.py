"""Watching folders with real file-system events (inotify through watchfiles), in process: creates,
changes, deletes, renames and folder moves, slow writers, an unplugged folder, a restart's catch-up,
live duplicates, polling and the fall-back when events cannot be had."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixseek
from conftest import photo_array
from pixseek.indexing.watch import EventChanges, Settler, Watcher


def wait_for(cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Running:
    """A watcher in a thread, its events collected."""

    def __init__(self, lib, roots, **kw) -> None:
        self.events: list[dict] = []
        self.watcher = Watcher(lib, [str(r) for r in roots], on_event=self.events.append, **kw)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.watcher.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            self.error = exc

    def __enter__(self) -> "Running":
        self.thread.start()
        wait_for(lambda: self.watcher.ready.is_set() or self.error, what="the watcher to start")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)
        if self.error:
            raise self.error

    def event(self, kind, path, timeout=60.0) -> dict:
        path = str(path)
        wait_for(lambda: self.find(kind, path) or self.error, timeout, f"{kind} {path}")
        assert self.error is None, self.error
        return self.find(kind, path)

    def find(self, kind, path):
        return next((e for e in self.events if e["event"] == kind and e.get("path") == path), None)


@pytest.fixture
def lib(tmp_path, gallery):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        yield lib


def save(path: Path, name="coffee", size=None, quality=90) -> Path:
    img = Image.fromarray(photo_array(name))
    if size:
        img = img.resize(size)
    img.save(path, quality=quality)
    return path


def noise(path: Path, seed: int, size=(240, 160)) -> Path:
    """A picture unlike any other: seeded blocks of colour."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(4, 6, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.NEAREST).save(path, quality=90)
    return path


def test_creates_changes_deletes_renames_and_folder_moves(lib, gallery):
    ids = {r.path: r.id for r in lib.catalog.ok_rows()}
    with Running(lib, [gallery]) as w:
        new = noise(gallery / "new.jpg", 1, size=(300, 200))
        assert w.event("added", new)["duplicate_of"] == []
        row = lib.catalog.row_by_path(str(new))
        assert row.status == "ok" and row.width == 300

        noise(new, 2)  # changed content: a new row
        w.event("updated", new)
        assert lib.catalog.row_by_path(str(new)).id != row.id

        os.rename(gallery / "moon.jpg", gallery / "moon-renamed.jpg")
        assert w.event("moved", gallery / "moon-renamed.jpg")["from"] == str(gallery / "moon.jpg")
        assert lib.catalog.row_by_path(str(gallery / "moon-renamed.jpg")).id == ids[str(gallery / "moon.jpg")]

        (gallery / "trip").mkdir()
        for name in ("chelsea", "brick"):
            shutil.copy(gallery / f"{name}.jpg", gallery / "trip" / f"{name}-2.jpg")
        w.event("added", gallery / "trip" / "brick-2.jpg")
        trip_ids = {r.path: r.id for r in lib.catalog.rows_under([str(gallery / "trip")])}
        os.rename(gallery / "trip", gallery / "trip-2021")  # a folder move: no event per file
        w.event("moved", gallery / "trip-2021" / "brick-2.jpg")
        moved = {r.path: r.id for r in lib.catalog.rows_under([str(gallery / "trip-2021")])}
        assert sorted(moved.values()) == sorted(trip_ids.values())  # same ids: vectors reused

        os.remove(gallery / "coffee.jpg")
        w.event("removed", gallery / "coffee.jpg")
        assert lib.catalog.row_by_path(str(gallery / "coffee.jpg")) is None
    assert len(lib.store) == lib.catalog.count_images()
    assert not any(e["event"] == "skipped" for e in w.events), w.events


def test_a_slow_writer_is_never_indexed_half(lib, gallery):
    data = (gallery / "astronaut.jpg").read_bytes()
    target = gallery / "slow.jpg"
    with Running(lib, [gallery], settle=0.8) as w:
        with open(target, "wb") as fh:  # six pieces over 3 s
            for i in range(6):
                fh.write(data[i * len(data) // 6:(i + 1) * len(data) // 6])
                fh.flush()
                time.sleep(0.5)
        event = w.event("added", target)
        assert event["duplicate_of"] == [str(gallery / "astronaut.jpg")]
    assert not any(e.get("path") == str(target) and e["event"] != "added" for e in w.events), w.events
    row = lib.catalog.row_by_path(str(target))
    assert row.status == "ok" and row.size == len(data)


def test_settler_waits_for_a_stable_size_and_mtime(tmp_path):
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x" * 10)
    s = Settler(settle=0.5)
    s.saw(str(f), now=0.0)
    assert s.ready(now=0.2) == []  # too recent
    f.write_bytes(b"x" * 20)  # changed without an event reaching us yet
    assert s.ready(now=1.0) == [] and len(s) == 1
    assert s.ready(now=1.6) == [str(f)]


def test_an_unplugged_folder_keeps_its_entries_and_a_restart_catches_up(lib, gallery, tmp_path):
    n = lib.catalog.count_images()
    away = tmp_path / "unplugged"
    with Running(lib, [gallery]) as w:
        os.rename(gallery, away)  # the watched folder itself disappears, like an unplugged drive
        wait_for(lambda: any(e["event"] == "note" for e in w.events), what="the note")
        time.sleep(1.0)
        assert lib.catalog.count_images() == n
        assert not any(e["event"] == "removed" for e in w.events)
    os.rename(away, gallery)

    # while nobody watched: one photo added, one deleted; a new watcher catches up by stat
    noise(gallery / "while-away.jpg", 3)
    os.remove(gallery / "page.jpg")
    with Running(lib, [gallery]) as w:
        scanned = next(e for e in w.events if e["event"] == "scanned")
        assert (scanned["added"], scanned["removed"], scanned["unchanged"]) == (1, 1, n - 1)


def test_live_duplicates_and_search_collapses_them(lib, gallery, tmp_path):
    with Running(lib, [gallery]) as w:
        inbox = gallery / "inbox"
        inbox.mkdir()
        shutil.copy(gallery / "chelsea.jpg", inbox / "same-bytes.jpg")
        save(inbox / "resized.jpg", "coffee", size=(300, 200), quality=80)
        noise(inbox / "unrelated.jpg", 4)
        exact = w.event("added", inbox / "same-bytes.jpg")
        assert exact["duplicate_of"] == [str(gallery / "chelsea.jpg")] and exact["kinds"] == ["exact"]
        copy = w.event("added", inbox / "resized.jpg")
        assert str(gallery / "coffee.jpg") in copy["duplicate_of"] and "copy" in copy["kinds"]
        assert w.event("added", inbox / "unrelated.jpg")["duplicate_of"] == []
        assert w.watcher.summary() == "3 new photos, 2 already in your library"
        # search results collapse the resized copy with its original, with no `dedup` run
        hits = lib.similar(gallery / "coffee.jpg", k=20, collapse=True)
        paths = [h.path for h in hits]
        assert str(inbox / "resized.jpg") not in paths or str(gallery / "coffee.jpg") not in paths
        lead = next(h for h in hits if str(inbox / "resized.jpg") in (h.path, *h.copies))
        assert str(inbox / "resized.jpg") in (lead.path, *lead.copies)


def test_polling_and_the_fall_back_when_events_cannot_be_had(lib, gallery, monkeypatch):
    import watchfiles

    real = watchfiles.watch
    calls = []

    def limited(*paths, **kw):
        calls.append(kw["force_polling"])
        if not kw["force_polling"]:
            raise OSError("OS file watch limit reached.")
        return real(*paths, **kw)

    monkeypatch.setattr(watchfiles, "watch", limited)
    with Running(lib, [gallery]) as w:
        new = noise(gallery / "polled.jpg", 5)
        w.event("added", new)
    assert calls[:2] == [False, True]
    note = next(e for e in w.events if e["event"] == "note")
    assert "OS file watch limit reached" in note["message"] and "polling" in note["message"]
    assert [e["event"] for e in w.events].count("scanned") == 1  # the stat scan, once polling is in place


def test_event_changes_skip_hidden_and_other_files(lib, gallery):
    (gallery / ".hidden.jpg").write_bytes((gallery / "moon.jpg").read_bytes())
    (gallery / "notes.txt").write_text("x")
    src = EventChanges(lib.catalog, [str(gallery / ".hidden.jpg"), str(gallery / "notes.txt")], [str(gallery)],
                       extensions=frozenset({".jpg"}))
    src.plan()
    assert src.new == [] and src.gone == [] and src.moves == []


def test_the_cli_loads_nothing_heavy_before_it_knows_it_must_work_locally():
    import subprocess
    import sys

    code = ("import sys, pixseek.cli, pixseek.service; "
            "print(sorted(m for m in ('numpy', 'torch', 'open_clip', 'faiss', 'gradio', 'PIL', 'pixseek.library') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_index_handed_to_the_service_runs_in_the_watcher_and_its_folder_is_followed(lib, gallery, tmp_path):
    from pixseek.service import Service, call

    other = tmp_path / "other"
    other.mkdir()
    noise(other / "first.jpg", 6)
    with Running(lib, [gallery]) as w, Service(lib, w.watcher) as service:
        assert oct(os.stat(service.path).st_mode & 0o777) == "0o600"
        answer = call(lib.db_dir, {"op": "index", "paths": [str(other)]})
        assert answer["report"]["added"] == 1
        assert str(other) in w.watcher.roots
        time.sleep(1.0)  # the watcher re-watches with the new folder
        w.event("added", noise(other / "second.jpg", 7))
        assert call(lib.db_dir, {"op": "nonsense"})["error"].startswith("bad request")
    assert call(lib.db_dir, {"op": "ping"}) is None and not os.path.exists(service.path)


@pytest.mark.slow
def test_serve_watch_shows_arrivals_in_the_open_page(lib, gallery):
    gradio_client = pytest.importorskip("gradio_client")
    from pixseek.ui import launch
    from ui_support import free_port

    with Running(lib, [gallery]) as w:
        app, url = launch(lib, port=free_port(), block=False, watcher=w.watcher)
        try:
            client = gradio_client.Client(url, verbose=False)
            assert client.predict(api_name="/watch_summary").endswith(": no new photos yet")
            shutil.copy(gallery / "rocket.jpg", gallery / "rocket-again.jpg")
            noise(gallery / "fresh.jpg", 8)
            w.event("added", gallery / "fresh.jpg")
            w.event("added", gallery / "rocket-again.jpg")
            assert client.predict(api_name="/watch_summary") == (
                f"Watching {gallery}: 2 new photos, 1 already in your library")
            hits = lib.query(pixseek.Query(images=(str(gallery / "fresh.jpg"),), k=1)).hits
            assert hits[0].path == str(gallery / "fresh.jpg")  # indexed: an indexed example comes first
        finally:
            app.close()
