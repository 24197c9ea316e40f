"""`pixseek search` / `similar` with the query options: the real CLI code, in process (one
subprocess run checks the wiring), on real photos with a tiny CLIP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from cli_support import cli_runner, json_lines
from pixseek import cli


@pytest.fixture(scope="module")
def indexed(photo_dir, tmp_path_factory, tiny_clip):
    folder = tmp_path_factory.mktemp("cli-search")
    g = folder / "gallery"
    shutil.copytree(photo_dir, g)
    (g / "trip").mkdir()
    shutil.move(g / "moon.jpg", g / "trip" / "moon.jpg")
    shutil.copy(g / "coffee.jpg", g / "coffee-copy.jpg")
    Image.open(g / "coffee.jpg").rotate(90, expand=True).save(g / "upright.jpg")
    db = folder / "db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "quiet_libraries", lambda: None)
        assert cli.main(["index", str(g), "--db", str(db), "--model", tiny_clip]) == 0
    return db, g


@pytest.fixture
def pixseek(indexed, capsys, monkeypatch):
    """Run `pixseek ARGS --db DB`: (exit code, stdout lines, stderr)."""
    return cli_runner(indexed[0], capsys, monkeypatch)


hits = json_lines


def test_combined_query_with_weights_and_template(pixseek, indexed):
    _, g = indexed
    code, out, err = pixseek("search", "a cat", "--image", g / "chelsea.jpg", "--not", "a dog",
                             "--weight", 1, "--weight", 0.5, "--weight", 0.3, "--template", "a photo of {}",
                             "-k", 3, "--json")
    assert code == 0 and len(out) == 3
    assert set(hits(out)[0]) == {"path", "score", "id", "width", "height", "taken_at", "copies", "label", "why"}
    code, out, err = pixseek("search", "--image", g / "coffee.jpg", "-k", 2)
    assert code == 0 and out[0] == f"1.0000  {g / 'coffee.jpg'}  (+1 copy)"
    assert "more: --offset 2" in err
    code, out, _ = pixseek("search", "--image", g / "coffee.jpg", "-k", 2, "--all-copies", "--json")
    assert [h["path"] for h in hits(out)] == [str(g / "coffee-copy.jpg"), str(g / "coffee.jpg")] or \
        [h["path"] for h in hits(out)] == [str(g / "coffee.jpg"), str(g / "coffee-copy.jpg")]
    code, out, _ = pixseek("similar", g / "coffee.jpg", "-k", 1, "--json")
    assert [h["path"] for h in hits(out)] == [str(g / "coffee-copy.jpg")]


def test_filters_paging_and_strong(pixseek, indexed):
    _, g = indexed
    code, out, _ = pixseek("search", "a cat", "--orientation", "portrait", "--min-size", "300x500", "--json")
    assert code == 0 and [h["path"] for h in hits(out)] == [str(g / "upright.jpg")]
    code, out, _ = pixseek("search", "a cat", "--under", g / "trip", "--json")
    assert [h["path"] for h in hits(out)] == [str(g / "trip" / "moon.jpg")]
    code, out, _ = pixseek("search", "a cat", "--since", "1990", "--until", "2100-12-31", "-k", 20, "--json")
    assert len(out) == 12  # 13 files, one a copy
    whole = [h["id"] for h in hits(pixseek("search", "a cat", "-k", 6, "--json")[1])]
    page = [h["id"] for h in hits(pixseek("search", "a cat", "-k", 3, "--offset", 3, "--json")[1])]
    assert page == whole[3:6]
    code, out, err = pixseek("search", "a cat", "--strong", "-k", 20)
    assert code == 0 and ("strong match" in err)
    code, out, err = pixseek("search", "a cat", "--strong-z", 0.5, "-k", 20)
    assert code == 0 and len(out) >= 1 and "strong match" in err


def test_no_match_and_bad_input_are_one_line(pixseek, indexed, tmp_path):
    code, out, err = pixseek("search", "a cat", "--under", tmp_path / "nowhere")
    assert code == 0 and out == [] and err == f"no indexed image matches the filters (under {tmp_path / 'nowhere'})\n"
    code, out, err = pixseek("search", "a cat", "--offset", 50)
    assert code == 0 and out == [] and err.startswith("no results past the first 12")
    for args, message in [
        (("a cat", "--since", "July"), "--since 'July' is not a date"),
        (("a cat", "--min-size", "big"), "--min-size 'big' is not a size"),
        (("a cat", "--weight", 1, "--weight", 2), "2 weights for 1 term"),
        (("a cat", "--template", "photo"), "--template 'photo' must contain {}"),
        (("--image", tmp_path / "missing.jpg"), "cannot read the query image"),
        (("a cat", "--strong-z", -1), "--strong-z must be a number above 0"),
        (("a cat", "-k", 0), "-k must be between 1"),
    ]:
        code, out, err = pixseek("search", *args)
        assert code == 1 and out == [], args
        assert err.startswith(f"pixseek: ") and message in err and err.count("\n") == 1, err
    code, _, err = pixseek("search", "--not", "dogs")
    assert code == 2 and "say what to look for" in err


def test_the_command_itself(indexed):
    db, g = indexed
    proc = subprocess.run([sys.executable, "-m", "pixseek", "search", "--image", str(g / "coffee.jpg"),
                           "--under", str(g), "--orientation", "landscape", "--db", str(db), "--json", "-k", "1"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    (hit,) = hits(proc.stdout.splitlines())
    assert hit["path"] == str(g / "coffee.jpg") and hit["copies"] == [str(g / "coffee-copy.jpg")]
