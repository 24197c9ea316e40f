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


def rows_in_catalogue(db) -> int:
    """Rows an index run (maybe still running, maybe killed) has committed; 0 before any."""
    try:
        con = sqlite3.connect(db / "catalog.sqlite", timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def index_cmd(db, gallery, model):
    return [sys.executable, "-m", "pixseek", "index", str(gallery), "--db", str(db), "--model", model,
            "--batch-size", "4", "--json"]


def snapshot(db):
    con = sqlite3.connect(db / "catalog.sqlite")
    rows = con.execute("SELECT path, status, sha FROM files ORDER BY path").fetchall()
    nvec = con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    # the words (names, metadata) and their FTS5 index, written in the same transactions
    words = sorted(con.execute(
        "SELECT COALESCE(f.path, w.sha), w.kind, w.text FROM words w LEFT JOIN files f ON f.id = w.file_id "
        "WHERE w.file_id IS NOT NULL OR w.sha IN (SELECT sha FROM files WHERE status = 'ok')").fetchall())
    assert con.execute("SELECT COUNT(*) FROM words").fetchone()[0] == \
        con.execute("SELECT COUNT(*) FROM words_fts").fetchone()[0]
    con.execute("INSERT INTO words_fts (words_fts) VALUES ('integrity-check')")
    con.close()
    with pixseek.open(db) as lib:
        store_ids = np.sort(lib.store.ids())
        cat_ids = np.sort(lib.catalog.ids_with_vectors())
    return rows, nvec, store_ids, cat_ids, words


def test_kill_9_anywhere_then_rerun_equals_clean_run(tmp_path, tiny_clip):
    gallery = tmp_path / "g"
    make_gallery(gallery)
    clean = tmp_path / "clean"
    subprocess.run(index_cmd(clean, gallery, tiny_clip), check=True, capture_output=True, timeout=600)
    want_rows, want_nvec, _, _, want_words = snapshot(clean)
    assert len(want_words) > 2 * 240  # a file name and a folder per photo at least
    assert want_nvec == 240 and len(want_rows) == 241

    db = tmp_path / "killed"
    rng = random.Random(1)
    partial_seen = False
    for attempt in range(6):
        proc = subprocess.Popen(index_cmd(db, gallery, tiny_clip), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt == 0:
            time.sleep(rng.uniform(0.5, 3.0))  # one kill anywhere, start-up included
        else:
            # then kills while rows are being written, wherever the machine's load puts that moment
            # (soon after the first new rows: the 240 small photos take well under a second)
            start = rows_in_catalogue(db)
            deadline = time.monotonic() + 120
            while proc.poll() is None and rows_in_catalogue(db) <= start and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is not None:
            break  # finished before the kill: the loop has done its job
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial_seen = partial_seen or 0 < rows_in_catalogue(db) < 241
    subprocess.run(index_cmd(db, gallery, tiny_clip), check=True, capture_output=True, timeout=600)
    rows, nvec, store_ids, cat_ids, words = snapshot(db)
    assert rows == want_rows
    assert words == want_words
    assert nvec == want_nvec
    assert np.array_equal(store_ids, cat_ids) and len(np.unique(store_ids)) == nvec
    assert partial_seen, "no kill landed in the middle of indexing; the test proved nothing"
