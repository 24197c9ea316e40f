"""Long computations report progress: the library through callbacks, the CLI and notebooks as bars."""

from __future__ import annotations

import sys

from pixseek import open_library
from pixseek.cli import main
from pixseek.notebook import progress_bar


def captions(gallery, tmp_path):
    csv = tmp_path / "captions.csv"
    rows = [f"{gallery / n}.jpg,a photo of {n}" for n in ("astronaut", "coffee", "rocket", "chelsea")]
    csv.write_text("\n".join(rows + [f"{gallery / 'coffee'}.jpg,a cup of coffee"]))
    return csv


def test_evaluate_retrieval_reports_images_then_captions(gallery, tmp_path, tiny_clip):
    ticks = []
    with open_library(tmp_path / "db", model=tiny_clip) as lib:
        lib.evaluate_retrieval(captions(gallery, tmp_path), progress=lambda done, total: ticks.append((done, total)))
    # 4 photos, one at a time, then the 5 captions in one batch
    assert ticks == [(1, 9), (2, 9), (3, 9), (4, 9), (9, 9)]


def test_eval_retrieval_draws_a_bar_on_a_terminal_only(gallery, tmp_path, tiny_clip, capsys, monkeypatch):
    csv = captions(gallery, tmp_path)
    args = ["eval", "retrieval", "--captions", str(csv), "--db", str(tmp_path / "db"), "--model", tiny_clip]
    assert main(args) == 0
    assert "encoding" not in capsys.readouterr().err  # a pipe: the summary alone
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "encoding" in err and "9/9" in err


def test_notebook_progress_bar_follows_the_callback(capsys):
    with progress_bar("indexing") as bar:
        for done in (0, 3, 10):
            bar(done, 10)
        assert bar.bar.n == 10 and bar.bar.total == 10
        bar(12, 14)  # a total that grows (more files found) moves the bar, never back
        assert (bar.bar.n, bar.bar.total) == (12, 14)
