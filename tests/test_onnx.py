"""The ONNX Runtime back end: same vectors as torch, exact text cut, a cache per model, and an int8
check that keeps int8 for weights that survive it and falls back to fp32 for weights that don't."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import pixseek
from pixseek.encoders import ModelSpec, load_encoder
from pixseek.encoders import onnx as ox
from pixseek.encoders.towers import TextTower, cut_tokens
from pixseek.errors import ModelLoadError
from pixseek.imaging import decode_image

from conftest import PHOTOS, photo_array, write_tiny_clip

pytest.importorskip("onnxruntime")

TEXTS = ["a cat", "a photo of a red bicycle against a brick wall at night", "一只猫", ""]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test exports into its own cache folder."""
    monkeypatch.setenv(ox.CACHE_ENV, str(tmp_path / "onnx-cache"))


@pytest.fixture(scope="module")
def images():
    return [Image.fromarray(photo_array(name)) for name in PHOTOS]


def _cos(a, b):
    return np.sum(a * b, axis=1)


def test_onnx_fp32_equals_torch(tiny_clip, images):
    torch_enc = load_encoder(ModelSpec(tiny_clip))
    enc = load_encoder(ModelSpec(tiny_clip), backend="onnx")
    assert isinstance(enc, ox.OnnxEncoder) and enc.id == torch_enc.id and enc.dim == torch_enc.dim
    assert _cos(enc.encode_images(images), torch_enc.encode_images(images)).min() >= 0.99999
    assert _cos(enc.encode_texts(TEXTS), torch_enc.encode_texts(TEXTS)).min() >= 0.99999
    assert enc.encode_texts(["one"]).shape == (1, enc.dim)  # any batch, any length


def test_text_cut_is_exact(tiny_clip):
    """The cut tower gives open_clip's own full-length vectors, for short and long texts."""
    import open_clip

    model = open_clip.create_model(tiny_clip)
    model.eval()
    tokens = open_clip.get_tokenizer(tiny_clip)(TEXTS)
    tower = TextTower(model)
    cut = cut_tokens(tokens, tower.causal)
    assert tower.causal and cut.shape[1] < tokens.shape[1] // 3
    with torch.no_grad():
        full = model.encode_text(tokens)
        assert torch.allclose(tower(cut), full, atol=1e-5)
        assert torch.allclose(tower(tokens), full, atol=1e-5)


def test_export_is_cached_per_model(tiny_clip, tmp_path):
    load_encoder(ModelSpec(tiny_clip), backend="onnx")
    folders = list((tmp_path / "onnx-cache").iterdir())
    assert len(folders) == 1 and {p.name for p in folders[0].iterdir()} >= {
        "meta.json", "image.fp32.onnx", "text.fp32.onnx", "bpe_simple_vocab_16e6.txt.gz",
        f"image.int8-{ox.int8_scheme()}.onnx", f"text.int8-{ox.int8_scheme()}.onnx"}
    stamp = (folders[0] / "image.fp32.onnx").stat().st_mtime_ns
    assert ox.is_cached(load_encoder(ModelSpec(tiny_clip)).id)
    load_encoder(ModelSpec(tiny_clip), backend="onnx")
    assert (folders[0] / "image.fp32.onnx").stat().st_mtime_ns == stamp  # not exported again
    # once cached, `auto` takes it
    assert isinstance(load_encoder(ModelSpec(tiny_clip), backend="auto"), ox.OnnxEncoder)


def test_auto_keeps_torch_until_it_pays(tiny_clip):
    enc = load_encoder(ModelSpec(tiny_clip), backend="auto")
    assert not isinstance(enc, ox.OnnxEncoder)  # nothing cached, fp32: no 15 s export for nothing
    assert isinstance(load_encoder(ModelSpec(tiny_clip), backend="auto", precision="int8"), ox.OnnxEncoder)
    assert not isinstance(load_encoder(ModelSpec("fake:x"), backend="auto", precision="int8"), ox.OnnxEncoder)


def test_bad_choices_are_one_line_errors(tiny_clip):
    with pytest.raises(ModelLoadError, match="int8 runs on ONNX Runtime"):
        load_encoder(ModelSpec(tiny_clip), backend="torch", precision="int8")
    with pytest.raises(ModelLoadError, match="unknown precision"):
        load_encoder(ModelSpec(tiny_clip), backend="onnx", precision="int4")
    with pytest.raises(ModelLoadError, match="open_clip and timm models only"):
        load_encoder(ModelSpec("fake:x"), backend="onnx")


@pytest.mark.slow
def test_int8_without_onnx_runtime_says_what_to_install(tiny_clip, monkeypatch):
    monkeypatch.setattr(ox, "onnx_available", lambda: False)
    with pytest.raises(ModelLoadError, match=r"pip install onnx onnxruntime"):
        load_encoder(ModelSpec(tiny_clip), backend="auto", precision="int8")
    assert not isinstance(load_encoder(ModelSpec(tiny_clip), backend="auto"), ox.OnnxEncoder)


@pytest.mark.slow
def test_timm_image_model_exports(images):
    spec = ModelSpec("timm:mobilenetv3_small_050", "random")
    want = load_encoder(spec).encode_images(images[:4])
    got = load_encoder(spec, backend="onnx").encode_images(images[:4])
    assert _cos(got, want).min() >= 0.9999


def test_int8_agreement_measures_cosine_and_neighbours():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((40, 16)).astype(np.float32)
    cos, low, overlap = ox.int8_agreement(ref, ref)
    assert cos == pytest.approx(1) and low == pytest.approx(1) and overlap == 1
    shuffled = ref[rng.permutation(40)]
    assert ox.int8_agreement(ref, shuffled)[2] < 0.5


# -- the int8 check through the real pipeline ---------------------------------------------------
@pytest.fixture
def gallery16(gallery):
    """16 photos: the 11 skimage ones plus flipped copies of five (distinct files, distinct vectors)."""
    for name in PHOTOS[:5]:
        Image.fromarray(photo_array(name)[:, ::-1]).save(gallery / f"{name}-flipped.jpg", quality=92)
    return gallery


def outlier_clip(folder):
    """A tiny CLIP whose vision MLPs each have one hidden unit that always fires at 1000 and that
    nothing reads: fp32 ignores it, but it sets the int8 activation scale, so every other unit of
    that layer is rounded away."""
    write_tiny_clip(folder)
    weights = folder / "open_clip_model.safetensors"
    sd = load_file(str(weights))
    for key in [k for k in sd if k.startswith("visual.") and k.endswith("mlp.c_fc.bias")]:
        sd[key][0] = 1000.0
        sd[key.replace("c_fc.bias", "c_proj.weight")][:, 0] = 0.0
    save_file(sd, str(weights))
    return f"local-dir:{folder}"


@pytest.mark.slow
def test_int8_passes_for_well_behaved_weights(gallery16, tiny_clip, tmp_path):
    with pixseek.open(tmp_path / "db", model=tiny_clip, precision="int8") as lib:
        report = lib.index([gallery16])
        assert report.added == 16
        assert len(report.notes) == 1 and "using int8" in report.notes[0]
        assert lib.encoder.active_precision == "int8"
        verdict = json.loads(lib.encoder.verdict_path.read_text())
        assert verdict["passed"] and verdict["cosine"] >= 0.99 and verdict["overlap"] >= 0.9
        assert verdict["sample"] == 16
        assert lib.search("a cat", k=3)
    # the verdict is kept with the model: the next library does not measure again
    with pixseek.open(tmp_path / "db2", model=tiny_clip, precision="int8") as lib:
        assert lib.encoder.active_precision == "int8"
        assert lib.index([gallery16]).notes == []


@pytest.mark.slow
def test_int8_falls_back_to_fp32_for_outlier_weights(gallery16, tmp_path):
    model = outlier_clip(tmp_path / "outlier-clip")
    with pixseek.open(tmp_path / "db", model=model, precision="int8") as lib:
        report = lib.index([gallery16])
        assert report.added == 16
        assert len(report.notes) == 1 and "falling back to fp32" in report.notes[0]
        assert lib.encoder.active_precision == "fp32"
        verdict = json.loads(lib.encoder.verdict_path.read_text())
        assert not verdict["passed"] and verdict["cosine"] < 0.99
        # what was stored is fp32: the same vectors as the torch encoder's
        torch_enc = load_encoder(ModelSpec(model))
        path = gallery16 / "chelsea.jpg"
        stored = lib.catalog.vectors([lib.catalog.row_by_path(str(path)).id])
        fast = decode_image(path, min_side=lib.encoder.input_size).image  # what the indexer decoded
        assert _cos(stored, lib.encoder.encode_images([fast]))[0] >= 0.9999
        assert _cos(stored, torch_enc.encode_images([Image.open(path).convert("RGB")]))[0] >= 0.999
    with pixseek.open(tmp_path / "db2", model=model, precision="int8") as lib:
        assert lib.encoder.active_precision == "fp32"
        assert "failed" in lib.encoder.drain_notes()[0]


@pytest.mark.slow
def test_cli_backend_and_precision(gallery16, tiny_clip, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "pixseek", *map(str, args)], capture_output=True, text=True,
                              timeout=300)

    db = tmp_path / "db"
    proc = run("index", gallery16, "--db", db, "--model", tiny_clip, "--precision", "int8")
    assert proc.returncode == 0, proc.stderr
    assert "pixseek: int8 checked against fp32" in proc.stderr and proc.stdout.startswith("indexed: 16 added")
    proc = run("search", "a cat", "--db", db, "--backend", "onnx", "--precision", "int8", "--json", "-k", "2")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2
    proc = run("search", "a cat", "--db", db, "--backend", "torch", "--precision", "int8")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "int8 runs on ONNX Runtime" in proc.stderr


def test_vit_export_uses_fused_attention_and_a_patch_matmul(tiny_clip):
    """The image graph has ORT's MultiHeadAttention per block and no convolution (the patch
    embedding is a matmul, so int8 covers it); the torch model is left as it was."""
    import onnx

    torch_enc = load_encoder(ModelSpec(tiny_clip))
    visual = torch_enc.model.visual
    enc = ox.OnnxEncoder(torch_enc)
    ops = [n.op_type for n in onnx.load(str(enc.folder / "image.fp32.onnx")).graph.node]
    assert ops.count("MultiHeadAttention") == len(visual.transformer.resblocks)
    assert "Conv" not in ops
    int8_ops = [n.op_type for n in onnx.load(str(enc.folder / f"image.int8-{enc.scheme}.onnx")).graph.node]
    assert "MultiHeadAttention" in int8_ops and "Conv" not in int8_ops
    assert torch_enc.model.visual is visual and isinstance(visual.conv1, torch.nn.Conv2d)
    assert all(isinstance(b.attn, torch.nn.MultiheadAttention) for b in visual.transformer.resblocks)


def test_warm_up_loads_the_sessions_the_next_batch_needs(tiny_clip):
    enc = load_encoder(ModelSpec(tiny_clip), backend="onnx", precision="int8")
    enc.warm_up()  # no verdict yet: the first batch runs both ways
    assert set(enc._sessions) == {"image.fp32", f"image.int8-{enc.scheme}"}
    fp32 = load_encoder(ModelSpec(tiny_clip), backend="onnx")
    fp32.warm_up()
    assert set(fp32._sessions) == {"image.fp32"}


def test_indexing_warms_the_encoder_up_in_the_background(gallery16, tiny_clip, tmp_path, monkeypatch):
    calls = []
    real = ox.OnnxEncoder.warm_up

    def spy(self):
        calls.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(ox.OnnxEncoder, "warm_up", spy)
    with pixseek.open(tmp_path / "db", model=tiny_clip, backend="onnx") as lib:
        assert lib.index([gallery16]).added == 16
    assert calls == ["pixseek-warm-up"]


@pytest.mark.parametrize("model", ["tiny_clip", "timm:mobilenetv3_small_050"])
def test_a_cached_export_loads_without_the_torch_weights(model, request, images, monkeypatch):
    """Once exported, the model's preprocessing and tokenizer come from meta.json: the torch model
    is never built, and the vectors are the very same."""
    from pixseek.encoders.openclip import OpenClipEncoder
    from pixseek.encoders.timm import TimmEncoder

    spec = ModelSpec(request.getfixturevalue(model), "random") if model == "tiny_clip" else ModelSpec(model, "random")
    first = load_encoder(spec, backend="onnx")  # exports
    assert isinstance(first.base, (OpenClipEncoder, TimmEncoder))
    want = first.encode_images(images)

    def no_torch(self, spec):
        raise AssertionError("the torch model was built")

    monkeypatch.setattr(OpenClipEncoder, "__init__", no_torch)
    monkeypatch.setattr(TimmEncoder, "__init__", no_torch)
    again = load_encoder(spec, backend="auto")  # auto: a cached export is used
    assert isinstance(again, ox.OnnxEncoder) and type(again.base).__name__ == "_ExportedParts"
    assert (again.id, again.dim, again.supports_text, again.input_size) == \
        (first.id, first.dim, first.supports_text, first.input_size)
    assert np.array_equal(again.encode_images(images), want)
    for image in images[:3]:
        assert torch.equal(again.preprocess(image), first.preprocess(image))
    if first.supports_text:
        assert np.array_equal(again.encode_texts(TEXTS), first.encode_texts(TEXTS))
    else:
        with pytest.raises(pixseek.errors.UnsupportedQueryError):
            again.encode_texts(["a cat"])
    # torch asked for explicitly still builds the torch model
    with pytest.raises(AssertionError, match="torch model was built"):
        load_encoder(spec, backend="torch")
