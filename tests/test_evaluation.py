"""Retrieval metrics against hand-computed cases, and `pixseek eval retrieval` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixseek.cli import main
from pixseek.errors import PixseekError
from pixseek.evaluation.retrieval import evaluate_retrieval, read_captions, recall_at_k


def test_recall_at_k_by_hand():
    sim = np.array([
        [0.9, 0.5, 0.1],   # relevant 0 ranked 1st
        [0.9, 0.5, 0.1],   # relevant 1 ranked 2nd
        [0.9, 0.5, 0.1],   # relevant 2 ranked 3rd
        [0.2, 0.3, 0.4],   # relevant {0, 2}: best is 2, ranked 1st
    ])
    got = recall_at_k(sim, [{0}, {1}, {2}, {0, 2}], [1, 2, 3])
    assert got == {1: 0.5, 2: 0.75, 3: 1.0}


def test_ties_do_not_count_against_the_relevant_item():
    assert recall_at_k(np.array([[0.5, 0.5, 0.5]]), [{2}], [1]) == {1: 1.0}


def test_both_directions_by_hand():
    images = np.eye(3, dtype=np.float32)
    # captions 0,1 describe image 0; caption 2 describes image 1 but looks like image 2
    texts = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0.1, 0.9]], dtype=np.float32)
    r = evaluate_retrieval(images, texts, [0, 0, 1], ks=[1, 2])
    # text->image: caption0 -> img0 rank1; caption1 -> img0 rank2; caption2 -> img1 rank2
    assert r.text_to_image == {1: 1 / 3, 2: 1.0}
    # image->text: img0 -> captions {0, 1}, caption0 first; img1 -> caption 2 scores 0.1 behind caption1's 0.8,
    # rank 2; img2 has no caption and is left out
    assert r.image_to_text == {1: 0.5, 2: 1.0}


def test_read_captions(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    f = tmp_path / "c.csv"
    f.write_text("image,caption\na.jpg,a cat\n\na.jpg,\"a cat, sleeping\"\n", encoding="utf-8")
    rows = read_captions(f)
    assert [(r.path, r.caption) for r in rows] == [(str(tmp_path / "a.jpg"), "a cat"),
                                                   (str(tmp_path / "a.jpg"), "a cat, sleeping")]
    f.write_text("a.jpg\n")
    with pytest.raises(PixseekError, match="two columns"):
        read_captions(f)
    with pytest.raises(PixseekError, match="cannot read"):
        read_captions(tmp_path / "none.csv")


def test_eval_retrieval_cli(gallery, tmp_path, tiny_clip, capsys):
    csv = tmp_path / "captions.csv"
    csv.write_text("\n".join(f"{gallery / n}.jpg,a photo of {n}" for n in ("astronaut", "coffee", "rocket", "chelsea")))
    assert main(["eval", "retrieval", "--captions", str(csv), "--db", str(tmp_path / "db"), "--model", tiny_clip,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 4 and out["captions"] == 4
    assert set(out["text_to_image"]) == {"R@1", "R@5", "R@10"}
    assert out["text_to_image"]["R@5"] == 1.0  # 4 images: every caption's image is in the top 5
    assert 0 <= out["image_to_text"]["R@1"] <= 1
