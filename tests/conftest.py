"""Shared fixtures: tiny seeded open_clip models as local-dir folders, real photos in tmp folders."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.encoders.base import Encoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# OCR costs a detection per photo; the tests of other features index without it (the suite's time
# budget). tests/test_words.py and test_words_ui.py ask for it (ocr="auto"/"on") where they test it.
os.environ["PIXSEEK_OCR"] = "off"

TINY_CLIP_CFG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                       "interpolation": "bicubic", "resize_mode": "shortest"},
}

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "brick", "hubble_deep_field", "immunohistochemistry",
          "retina", "moon", "camera", "page"]


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A random-init open_clip model (seeded), saved the way `local-dir:` expects."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_CLIP_CFG))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{folder}", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_dir) -> str:
    """The --model value of a tiny seeded CLIP."""
    return f"local-dir:{tiny_clip_dir}"


def photo_array(name: str) -> np.ndarray:
    import skimage.data

    arr = getattr(skimage.data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3]).astype(np.uint8)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    """Real photos from skimage.data as JPEG files (built once per session; copy before changing)."""
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        Image.fromarray(photo_array(name)).save(folder / f"{name}.jpg", quality=92)
    return folder


@pytest.fixture
def gallery(photo_dir, tmp_path) -> Path:
    """A private copy of the photos that a test may change."""
    dest = tmp_path / "gallery"
    shutil.copytree(photo_dir, dest)
    return dest


class PixelEncoder(Encoder):
    """A deterministic image-only fake: the image shrunk to 8x8 RGB, as a unit vector. Registered
    under ``fake:`` through the real registry, so whole pipelines run in milliseconds."""

    supports_text = False
    input_size = 32
    dim = 192

    def __init__(self, spec) -> None:
        self.id = spec.id
        self.spec = spec

    def preprocess(self, image):
        import torch

        small = image.convert("RGB").resize((8, 8), Image.BILINEAR)
        return torch.from_numpy(np.asarray(small, dtype=np.float32).reshape(-1) / 255.0 - 0.5)

    def encode_pixels(self, batch):
        from pixseek.encoders.base import l2_normalize

        return l2_normalize(batch.numpy())



@pytest.fixture(autouse=True, scope="session")
def _register_fake_encoder():
    from pixseek.encoders import register

    register("fake:", PixelEncoder)


@pytest.fixture(scope="session")
def milvus_lite_file(tmp_path_factory) -> Path:
    """One Milvus Lite file (one in-process server) for the whole session; tests use collections in it."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    return tmp_path_factory.mktemp("milvus") / "shared.db"


@pytest.fixture
def milvus_spec(milvus_lite_file, request) -> str:
    """A store spec naming a fresh collection in the session's Milvus Lite file."""
    import re
    import uuid

    name = "t_" + re.sub(r"\W", "_", request.node.name)[:40] + "_" + uuid.uuid4().hex[:8]
    return f"milvus-lite:{milvus_lite_file}?collection={name}"


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory):
    """A test that opens the default library (no --db) gets one of this session, never the
    user's own ~/.local/share/pixseek."""
    os.environ["PIXSEEK_HOME"] = str(tmp_path_factory.mktemp("pixseek-home"))


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache(tmp_path_factory):
    """ONNX exports go to a folder of this session, never the user's cache (and `--backend auto`
    does not pick up an export that happens to be cached on this machine)."""
    os.environ["PIXSEEK_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
