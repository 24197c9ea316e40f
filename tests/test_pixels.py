"""The models' eval transforms on torch's uint8 resize: the same tensors as torchvision + Pillow."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from pixseek.encoders.pixels import fast_transform

from conftest import photo_array

SIZES = [(1280, 720), (720, 1280), (224, 224), (300, 224), (225, 500), (257, 256), (640, 427), (100, 60)]


def _open_clip_transform():
    import open_clip

    return open_clip.image_transform(224, is_train=False)


def _timm_transform():
    import timm.data

    return timm.data.create_transform(input_size=(3, 224, 224), interpolation="bicubic",
                                      mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=0.875)


@pytest.mark.parametrize("make", [_open_clip_transform, _timm_transform], ids=["open_clip", "timm"])
def test_same_tensors_as_the_model_transform(make):
    transform = make()
    fast = fast_transform(transform)
    assert fast is not None
    photo = Image.fromarray(photo_array("astronaut"))
    for size in SIZES:  # down- and upscaling, portrait, exact fits, odd crops
        image = photo.resize(size, Image.Resampling.LANCZOS)
        want, got = transform(image), fast(image)
        assert got.shape == want.shape and got.dtype == torch.float32 and got.is_contiguous()
        std = torch.as_tensor(transform.transforms[-1].std).reshape(-1, 1, 1)
        pixels = ((got - want).abs() * std * 255)  # back in 1/255 steps
        assert pixels.max() <= 2.1 and pixels.mean() <= 0.02, (size, pixels.max(), pixels.mean())


def test_grey_and_rgba_images_become_rgb():
    fast = fast_transform(_open_clip_transform())
    grey = Image.fromarray(photo_array("camera")[..., 0])
    assert fast(grey).shape == (3, 224, 224)
    assert torch.equal(fast(grey.convert("RGB")), fast(grey))


def test_other_pipelines_keep_their_own_transform():
    normalize = T.Normalize((0.5,) * 3, (0.5,) * 3)
    assert fast_transform(lambda im: im) is None
    assert fast_transform(T.Compose([T.RandomResizedCrop(224), T.ToTensor(), normalize])) is None
    assert fast_transform(T.Compose([T.Resize(224, interpolation=T.InterpolationMode.NEAREST),
                                     T.CenterCrop(224), T.ToTensor(), normalize])) is None
    assert fast_transform(T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor()])) is None
    assert fast_transform(T.Compose([T.Resize(224, max_size=300), T.CenterCrop(224), T.ToTensor(),
                                     normalize])) is None
    # squash resizing (both sides given) is recognised
    squash = T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(), normalize])
    image = Image.fromarray(photo_array("chelsea"))
    assert torch.allclose(fast_transform(squash)(image), squash(image), atol=2.1 / 255 / 0.5)


def test_encoders_use_it(tiny_clip):
    from pixseek.encoders import ModelSpec, load_encoder

    enc = load_encoder(ModelSpec(tiny_clip))
    image = Image.fromarray(photo_array("coffee"))
    assert enc._preprocess.fast is not None
    assert torch.allclose(enc.preprocess(image), enc._preprocess.original(image), atol=2.1 / 255 / 0.26)
