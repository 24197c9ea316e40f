"""kill -9 at any moment of `pixseek index`, then run it again: the result equals a clean run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import pixseek
from conftest import PHOTOS, photo_array

pytestmark = pytest.mark.slow


def make_gallery(folder, n=240):
    rng = np.random.default_rng(0)
    arrays = [photo_array(p) for p in PHOTOS]
    for i in range(n):
        arr = arrays[i % len(arrays)]
        y, x = rng.integers(0, 100, size=2)
        crop = arr[y:y + 200, x:x + 260]
        sub = folder / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(sub / f"img{i:04d}.jpg", quality=85)
    (folder / "bad.jpg").write_bytes(b"not a jpeg")


def index_cmd(db, gallery, model):
    return [sys.executable, "-m", "pixseek", "index", str(gallery), "--db", str(db), "--model", model,
            "--batch-size", "4", "--json"]


def snapshot(db):
    con = sqlite3.connect(db / "catalog.sqlite")
    rows = con.execute("SELECT path, status, sha FROM files ORDER BY path").fetchall()
    nvec = con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    con.close()
    with pixseek.open(db) as lib:
        store_ids = np.sort(lib.store.ids())
        cat_ids = np.sort(lib.catalog.ids_with_vectors())
    return rows, nvec, store_ids, cat_ids


def wait_for_rows(db, target, proc, limit_s=120):
    """Return once the catalogue holds ``target`` file rows, or the run ended, or ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline:
        if not (db / "catalog.sqlite").exists():  # connecting would create it
            time.sleep(0.05)
            continue
        try:
            con = sqlite3.connect(db / "catalog.sqlite")
            try:
                if con.execute("SELECT COUNT(*) FROM files").fetchone()[0] >= target:
                    return
            finally:
                con.close()
        except sqlite3.Error:
            pass  # not created yet, or mid-migration
        time.sleep(0.05)


def test_kill_9_anywhere_then_rerun_equals_clean_run(tmp_path, tiny_clip):
    gallery = tmp_path / "g"
    make_gallery(gallery)
    clean = tmp_path / "clean"
    subprocess.run(index_cmd(clean, gallery, tiny_clip), check=True, capture_output=True, timeout=600)
    want_rows, want_nvec, _, _ = snapshot(clean)
    assert want_nvec == 240 and len(want_rows) == 241

    db = tmp_path / "killed"
    rng = random.Random(1)
    partial_seen = False
    for attempt in range(6):
        proc = subprocess.Popen(index_cmd(db, gallery, tiny_clip), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt % 2:
            time.sleep(rng.uniform(1.5, 7.0))
        else:  # on a busy machine start-up alone can outlast 7 s: also kill once rows are being written
            wait_for_rows(db, rng.randint(1, 200), proc)
        if proc.poll() is not None:
            break  # finished before the kill: the loop has done its job
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if (db / "catalog.sqlite").exists():
            con = sqlite3.connect(db / "catalog.sqlite")
            try:
                n = con.execute("SELECT COUNT(*) FROM files").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            con.close()
            partial_seen = partial_seen or 0 < n < 241
    subprocess.run(index_cmd(db, gallery, tiny_clip), check=True, capture_output=True, timeout=600)
    rows, nvec, store_ids, cat_ids = snapshot(db)
    assert rows == want_rows
    assert nvec == want_nvec
    assert np.array_equal(store_ids, cat_ids) and len(np.unique(store_ids)) == nvec
    assert partial_seen, "no kill landed in the middle of indexing; the test proved nothing"
