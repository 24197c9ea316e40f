"""`pixseek watch` as a real process: its socket (owner only), the CLI answered by it without
loading torch, an `index` handed to it, a photo dropped in found by the next search, the fall-back
when it stops; and kill -9 in the middle of a burst, restart, and the index equals a clean run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pixseek
from conftest import PHOTOS, photo_array

pytestmark = pytest.mark.slow

# Runs the real CLI and says on stderr whether torch was loaded (a service answer needs none).
CLIENT = ("import sys; from pixseek.cli import main; rc = main(sys.argv[1:]); "
          "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded', file=sys.stderr); "
          "raise SystemExit(rc)")


def client(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLIENT, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def wait_for(cond, timeout=120.0, what="condition", interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def start_watch(db: Path, folder: Path, model: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pixseek", "watch", str(folder), "--db", str(db), "--model", model,
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (db / "service.sock").exists() or proc.poll() is not None, what="the service socket")
    assert proc.poll() is None, proc.stderr.read()
    return proc


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    return out


def service_status(db: Path) -> dict:
    from pixseek.service import call

    return call(db, {"op": "status"}) or {}


def test_the_cli_is_answered_by_a_running_watch(tmp_path, gallery, tiny_clip):
    db = tmp_path / "db"
    proc = start_watch(db, gallery, tiny_clip)
    try:
        sock = db / "service.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
        wait_for(lambda: service_status(db).get("status", {}).get("images") == 11, what="the catch-up scan")

        r = client("search", "a cat", "--db", db, "--json", "-k", "3")
        assert r.returncode == 0, r.stderr
        assert "torch not loaded" in r.stderr
        hits = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(hits) == 3 and all(Path(h["path"]).parent == gallery for h in hits)

        r = client("similar", gallery / "moon.jpg", "--db", db, "--json", "-k", "2")
        assert r.returncode == 0 and "torch not loaded" in r.stderr, r.stderr
        assert str(gallery / "moon.jpg") not in r.stdout

        r = client("status", "--db", db)
        assert r.returncode == 0 and "torch not loaded" in r.stderr
        assert "images:  11" in r.stdout and f"service: pid {proc.pid}" in r.stdout

        r = client("search", "--db", db, "--since", "not-a-date", "x")  # its errors: one line, exit 1
        assert r.returncode == 1 and r.stderr.startswith("pixseek: ") and "Traceback" not in r.stderr

        # a photo dropped in is found by the next search; an `index` is handed to the service
        shutil.copy(gallery / "rocket.jpg", gallery / "dropped.jpg")
        wait_for(lambda: str(gallery / "dropped.jpg") in client("search", "a rocket", "--db", db, "-k", "20",
                                                                "--all-copies").stdout,
                 what="the dropped photo in search results")
        r = client("search", "a rocket", "--db", db, "-k", "20")  # collapsed: one line, "+1 copy"
        assert f"{gallery / 'rocket.jpg'}  (+1 copy)" in r.stdout and "dropped.jpg" not in r.stdout
        r = client("index", "--db", db)
        assert r.returncode == 0 and "done by the running service" in r.stderr and "12 unchanged" in r.stdout
        r = client("index", "--db", db, "--reindex")  # a write it cannot take: refused, clearly
        assert r.returncode == 1 and "pixseek watch" in r.stderr and "Traceback" not in r.stderr
    finally:
        out = stop(proc)
    events = [json.loads(line) for line in out.splitlines()]
    added = next(e for e in events if e.get("path") == str(gallery / "dropped.jpg"))
    assert added["event"] == "added" and added["duplicate_of"] == [str(gallery / "rocket.jpg")]
    assert not (db / "service.sock").exists()

    r = client("search", "a cat", "--db", db, "-k", "1")  # no service: works locally
    assert r.returncode == 0 and "torch loaded" in r.stderr


def make_burst(folder: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = [photo_array(p) for p in PHOTOS]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        y, x = rng.integers(0, 100, size=2)
        # photo-sized frames: decoding them takes long enough that the burst spans several commits
        crop = Image.fromarray(arrays[i % len(arrays)][y:y + 160, x:x + 200]).resize((1600, 1280))
        crop.save(folder / f"b{i:03d}.jpg", quality=85)


def indexed_count(db: Path) -> int:
    con = sqlite3.connect(db / "catalog.sqlite", timeout=5)
    try:
        return con.execute("SELECT count(*) FROM files WHERE status = 'ok'").fetchone()[0]
    finally:
        con.close()


def snapshot(db: Path):
    con = sqlite3.connect(db / "catalog.sqlite")
    rows = con.execute("SELECT path, status, sha FROM files ORDER BY path").fetchall()
    con.close()
    with pixseek.open(db) as lib:
        store_ids, cat_ids = np.sort(lib.store.ids()), np.sort(lib.catalog.ids_with_vectors())
    return rows, store_ids, cat_ids


def test_kill_9_mid_burst_then_restart_equals_a_clean_run(tmp_path, gallery, tiny_clip):
    burst = tmp_path / "burst"
    make_burst(burst, 96)
    db = tmp_path / "db"
    proc = start_watch(db, gallery, tiny_clip)
    try:
        wait_for(lambda: service_status(db).get("status", {}).get("images") == 11, what="the catch-up scan")
        shutil.copytree(burst, gallery / "burst")
        # read the catalogue itself (WAL: a reader never waits): asking the busy service is too slow
        wait_for(lambda: 11 < indexed_count(db), what="the burst to start", interval=0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    with pixseek.open(db) as lib:
        partial = lib.catalog.count_images()
    assert 11 < partial < 107, "the kill missed the burst: the test proved nothing"
    assert (db / "service.sock").exists()  # left behind: clients must fall back
    r = client("status", "--db", db)
    assert r.returncode == 0 and "service:" not in r.stdout

    proc = start_watch(db, gallery, tiny_clip)  # catches up by stat, then follows
    try:
        wait_for(lambda: service_status(db).get("status", {}).get("images") == 107, what="the catch-up")
    finally:
        stop(proc)
    clean = tmp_path / "clean"
    subprocess.run([sys.executable, "-m", "pixseek", "index", str(gallery), "--db", str(clean), "--model", tiny_clip],
                   check=True, capture_output=True, timeout=300)
    rows, store_ids, cat_ids = snapshot(db)
    want_rows, _, _ = snapshot(clean)
    assert rows == want_rows
    assert np.array_equal(store_ids, cat_ids) and len(store_ids) == 107
