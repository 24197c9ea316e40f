"""The real `pixseek` command with Milvus Lite: --store, status, migrate, --shard and merge, errors."""

from __future__ import annotations

import json

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
