"""The real `pixseek` command in a subprocess: JSON lines, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest


def run(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "pixseek", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def lines(proc):
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture
def indexed(gallery, tmp_path, tiny_clip):
    db = tmp_path / "db"
    proc = run("index", gallery, "--db", db, "--model", tiny_clip, "--json")
    return db, gallery, proc


def test_index_search_similar_status(indexed):
    db, gallery, proc = indexed
    summary = lines(proc)[-1]
    assert set(summary) >= {"added", "updated", "removed", "unchanged", "skipped", "seconds"}
    assert summary["added"] == 11
    hits = lines(run("search", "a cat on a sofa", "--db", db, "-k", "3", "--json"))
    assert len(hits) == 3 and all(os.path.isabs(h["path"]) and -1 <= h["score"] <= 1 for h in hits)
    hits = lines(run("similar", gallery / "chelsea.jpg", "--db", db, "--json", "-k", "2"))
    assert len(hits) == 2
    status = lines(run("status", "--db", db, "--json"))
    assert len(status) == 1 and status[0]["images"] == 11 and status[0]["skipped"] == []
    assert status[0]["model"].startswith("local-dir:")
    again = lines(run("index", "--db", db, "--json"))[-1]
    assert again["unchanged"] == 11 and again["added"] == 0


def test_human_output_is_plain(indexed):
    db, gallery, proc = indexed
    out = run("index", gallery, "--db", db).stdout  # not a terminal: just the summary
    assert out.startswith("indexed: 0 added") and out.count("\n") == 1
    out = run("search", "coffee", "--db", db, "-k", "2").stdout.splitlines()
    assert len(out) == 2 and out[0].split("  ", 1)[1].startswith(str(gallery))


def test_skipped_files_show_in_status(gallery, tmp_path, tiny_clip):
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    db = tmp_path / "db"
    summary = lines(run("index", gallery, "--db", db, "--model", tiny_clip, "--json"))[-1]
    assert summary["skipped"] == 1 and summary["added"] == 11
    out = run("status", "--db", db).stdout
    assert "skipped: 1" in out and "broken.jpg:" in out


def test_user_errors_exit_1_with_one_line(tmp_path, tiny_clip):
    proc = run("index", tmp_path / "missing", "--db", tmp_path / "db", "--model", tiny_clip, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "not found" in proc.stderr
    proc = run("search", "x", "--db", tmp_path / "empty", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_weights_that_cannot_be_fetched_say_so(tmp_path, gallery):
    proc = run("index", gallery, "--db", tmp_path / "db", "--model", "ViT-B-32", check=False,
               env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    msg = proc.stderr.strip()
    assert msg.count("\n") == 0 and "--pretrained" in msg and "laion2b_s34b_b79k" in msg


def test_usage_errors_exit_2(tmp_path):
    assert run("frobnicate", check=False).returncode == 2
    assert run("search", check=False).returncode == 2
    assert run("index", "--batch-size", "x", check=False).returncode == 2


def test_every_command_has_help():
    from pixseek.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, name
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (test.sh installs it)")
def test_progress_bar_on_a_terminal_only(gallery, tmp_path, tiny_clip):
    """A real terminal (tmux) shows the bar; the summary line alone goes to a pipe (tested above)."""
    session = f"pixseek-{os.getpid()}"
    done = tmp_path / "done"
    cmd = (f"{sys.executable} -m pixseek index {gallery} --db {tmp_path / 'db'} --model {tiny_clip}; "
           f"touch {done}; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "20", cmd], check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        for _ in range(600):
            if done.exists():
                break
            time.sleep(0.1)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "indexing: 100%" in screen and "11/11" in screen, screen
    assert "indexed: 11 added" in screen
