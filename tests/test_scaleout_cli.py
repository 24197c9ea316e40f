"""The real `pixseek` command with Milvus Lite: --store, status, migrate, --shard and merge, errors."""

from __future__ import annotations

import numpy as np
import pytest

from test_cli import lines, run


def ranked(hits):
    return [(h["path"], round(h["score"], 5)) for h in hits]

pytest.importorskip("pymilvus")


@pytest.mark.slow
def test_cli_round_trip(gallery, tmp_path, tiny_clip):
    db = tmp_path / "db"
    summary = lines(run("index", gallery, "--db", db, "--model", tiny_clip, "--store", "milvus-lite", "--json"))[-1]
    assert summary["added"] == 11
    status = lines(run("status", "--db", db, "--json"))[0]
    assert status["store"] == f"milvus-lite:{db / 'vectors.milvus.db'}"
    before = lines(run("similar", gallery / "chelsea.jpg", "--db", db, "-k", "3", "--json"))
    moved = lines(run("migrate", "--db", db, "--to", "faiss", "--drop-old", "--json"))[0]
    assert moved["moved"] == 11 and moved["dropped_old"]
    assert ranked(lines(run("similar", gallery / "chelsea.jpg", "--db", db, "-k", "3", "--json"))) == ranked(before)
    assert "store:   the FAISS file" in run("status", "--db", db).stdout

    lite = tmp_path / "shared.db"
    for i in (1, 2):
        run("index", gallery, "--db", tmp_path / f"s{i}", "--model", tiny_clip, "--shard", f"{i}/2",
            "--store", f"milvus-lite:{lite}")
    merged = lines(run("merge", tmp_path / "s1", tmp_path / "s2", "--db", tmp_path / "main", "--json"))[0]
    assert merged["shards"] == ["1/2", "2/2"] and merged["images"] == 11
    assert ranked(lines(run("similar", gallery / "chelsea.jpg", "--db", tmp_path / "main", "-k", "3",
                            "--json"))) == ranked(before)


def test_store_errors_are_one_line(tmp_path, gallery, tiny_clip):
    for args, msg in [(["--store", "milvus-lite:nope"], "must end in .db"),
                      (["--store", "milvus://127.0.0.1:9"], "cannot connect to Milvus"),
                      (["--store", "redis://x"], "unknown vector store"),
                      (["--shard", "3/2"], "--shard takes I/N")]:
        proc = run("index", gallery, "--db", tmp_path / "db", "--model", tiny_clip, *args, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and msg in proc.stderr, proc.stderr


@pytest.mark.slow
def test_kill_9_with_milvus_lite_then_rerun_equals_clean_run(tmp_path, tiny_clip):
    """As tests/test_crash.py, with the vectors in Milvus Lite: its own recovery plus our repair."""
    import os
    import random
    import signal
    import subprocess
    import time

    from test_crash import index_cmd, make_gallery, rows_in_catalogue, snapshot

    gallery = tmp_path / "g"
    make_gallery(gallery, n=120)
    clean = tmp_path / "clean"
    subprocess.run(index_cmd(clean, gallery, tiny_clip), check=True, capture_output=True, timeout=600)
    want_rows, want_nvec, _, _, want_words = snapshot(clean)
    db = tmp_path / "killed"
    cmd = index_cmd(db, gallery, tiny_clip) + ["--store", "milvus-lite", "--batch-size", "1"]

    rng = random.Random(2)
    partial_seen = False
    for _ in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Start-up (imports, model, Milvus Lite) takes seconds and varies with load: kill at a
        # random moment after the first batch is committed, while batches of 1 keep coming.
        before = rows_in_catalogue(db)
        deadline = time.monotonic() + 120
        while proc.poll() is None and rows_in_catalogue(db) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial_seen = partial_seen or 0 < rows_in_catalogue(db) < 121
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    rows, nvec, store_ids, cat_ids, words = snapshot(db)  # opens the Lite file in this process: last step
    assert rows == want_rows and nvec == want_nvec == 120 and words == want_words
    assert np.array_equal(store_ids, cat_ids) and len(np.unique(store_ids)) == nvec
    assert partial_seen, "no kill landed in the middle of indexing; the test proved nothing"
