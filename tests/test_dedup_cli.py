"""`pixseek dedup` and `pixseek undo` in a subprocess: JSON lines, manifest, exit codes, one-line errors."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from PIL import Image

from test_cli import lines, run

pytestmark = pytest.mark.slow  # each command starts a Python with torch


@pytest.fixture
def indexed_dups(gallery, tmp_path, tiny_clip):
    shutil.copy2(gallery / "coffee.jpg", gallery / "coffee-copy.jpg")
    Image.open(gallery / "rocket.jpg").save(gallery / "rocket.png")  # the same pixels, other bytes
    db = tmp_path / "db"
    run("index", gallery, "--db", db, "--model", tiny_clip)
    return db, gallery


def digest(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.*"))}


def test_report_json_html_and_table(indexed_dups, tmp_path):
    db, gallery = indexed_dups
    groups = lines(run("dedup", "--db", db, "--json", "--html", tmp_path / "r.html"))
    assert len(groups) == 2 and all({"kind", "keep", "duplicates", "evidence"} <= set(g) for g in groups)
    kinds = {g["keep"].rsplit("/", 1)[1]: (g["kind"], g["evidence"][0]["rule"]) for g in groups}
    assert kinds == {"coffee.jpg": ("exact", "same-bytes"), "rocket.png": ("exact", "same-pixels")}
    page = (tmp_path / "r.html").read_text()
    assert page.count("<img") == 4 and "KEEP" in page
    out = run("dedup", "--db", db).stdout
    assert "[1] exact, 2 files" in out and "2 groups, 2 duplicates" in out


def test_move_then_undo(indexed_dups, tmp_path):
    db, gallery = indexed_dups
    before = digest(gallery)
    out = lines(run("dedup", "--db", db, "--json", "--move-to", tmp_path / "q"))
    manifest = out[-1]["manifest"]
    assert out[-1]["done"] == 2 and not (gallery / "coffee-copy.jpg").exists()
    assert lines(run("dedup", "--db", db, "--json")) == []  # the index follows the files
    restored = lines(run("undo", manifest, "--db", db, "--json"))[-1]
    assert restored["done"] == 2 and digest(gallery) == before
    assert len(lines(run("dedup", "--db", db, "--json"))) == 2


def test_delete_needs_yes_and_errors_are_one_line(indexed_dups, tmp_path):
    db, gallery = indexed_dups
    proc = run("dedup", "--db", db, "--delete", check=False)
    assert proc.returncode == 2 and "--yes" in proc.stderr and (gallery / "coffee-copy.jpg").exists()
    proc = run("undo", tmp_path / "nope.jsonl", "--db", db, check=False)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    proc = run("dedup", "--db", db, "--keep", "biggest", check=False)
    assert proc.returncode == 1 and "unknown --keep" in proc.stderr
    proc = run("dedup", "--db", db, "--move-to", gallery / "inside", check=False)
    assert proc.returncode == 1 and "inside the indexed folder" in proc.stderr


def test_not_duplicate_is_remembered(indexed_dups):
    db, gallery = indexed_dups
    out = lines(run("dedup", "--db", db, "--json", "--not-duplicate", gallery / "rocket.jpg", gallery / "rocket.png"))
    assert out == [{"not_duplicate": [str(gallery / "rocket.jpg"), str(gallery / "rocket.png")]}]
    groups = lines(run("dedup", "--db", db, "--json"))
    assert [g["keep"].rsplit("/", 1)[1] for g in groups] == ["coffee.jpg"]
    assert json.dumps(groups)
