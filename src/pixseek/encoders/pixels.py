"""The models' own eval transform, run on torch's SIMD uint8 resize instead of Pillow's.

open_clip and timm both preprocess with a torchvision ``Compose``: ``Resize`` (bicubic or
bilinear, antialiased) -> ``CenterCrop`` -> convert/``ToTensor`` -> ``Normalize``. On a PIL image
torchvision hands the resize to Pillow, whose antialiased bicubic took 7.5 ms for a 1280x720
decode on the 2-core reference machine, the largest cost of preparing a photo after decoding it.
``torch.nn.functional.interpolate`` has the same antialiased filters (ported from Pillow) with an
AVX2 path for uint8 images: 0.9 ms for the same resize, pixels within 1/255 of Pillow's.

:func:`fast_transform` recognises that pipeline and returns an equivalent function, or ``None``
for any other transform (the caller then keeps the transform as it is)::

    >>> fast = fast_transform(preprocess)   # preprocess: from open_clip / timm
    >>> tensor = (fast or preprocess)(image)

:class:`ModelTransform` is that choice made once, on an RGB image, as the encoders use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

_MODES = {"BICUBIC": "bicubic", "BILINEAR": "bilinear"}  # the filters torch's uint8 path has


def fast_transform(transform: Any) -> Callable[[Image.Image], Any] | None:
    """An equivalent of ``transform`` on torch's uint8 resize, or ``None`` when ``transform`` is
    not the plain resize -> centre crop -> to-tensor -> normalise ``Compose`` of open_clip/timm."""
    try:
        from torchvision import transforms as T
    except ImportError:
        return None
    steps = list(getattr(transform, "transforms", None) or [])
    if not steps or not isinstance(steps[0], T.Resize):
        return None
    resize = steps[0]
    mode = _MODES.get(getattr(resize.interpolation, "name", ""))
    size = [resize.size] if isinstance(resize.size, int) else list(resize.size)
    if mode is None or resize.max_size is not None or resize.antialias is False or len(size) not in (1, 2):
        return None
    crop = None
    rest = steps[1:]
    if rest and isinstance(rest[0], T.CenterCrop):
        crop = tuple(rest[0].size) if not isinstance(rest[0].size, int) else (rest[0].size,) * 2
        rest = rest[1:]
    rest = [s for s in rest if not _is_rgb_conversion(s)]
    if len(rest) != 2 or not isinstance(rest[0], T.ToTensor) or not isinstance(rest[1], T.Normalize):
        return None
    norm = rest[1]
    if getattr(norm, "inplace", False):
        return None
    return _Fast(size, mode, crop, norm.mean, norm.std)


class ModelTransform:
    """A model's eval transform as the encoders run it: on the image converted to RGB (timm's
    transforms need it), through :func:`fast_transform`'s equivalent when there is one."""

    def __init__(self, transform: Callable[[Image.Image], Any]) -> None:
        self.original = transform
        self.fast = fast_transform(transform)

    def __call__(self, image: Image.Image):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return (self.fast or self.original)(image)


def _is_rgb_conversion(step: Any) -> bool:
    """open_clip's ``MaybeConvertMode('RGB')`` (``_convert_to_rgb`` in older releases)."""
    if type(step).__name__ == "MaybeConvertMode":
        return getattr(step, "mode", None) == "RGB"
    return getattr(step, "__name__", "") == "_convert_to_rgb"


class _Fast:
    def __init__(self, size: list[int], mode: str, crop: tuple[int, int] | None, mean, std) -> None:
        import torch

        self.size, self.mode, self.crop = size, mode, crop
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)

    def __repr__(self) -> str:
        return f"fast_transform(resize={self.size}, {self.mode}, crop={self.crop})"

    def __call__(self, image: Image.Image):
        import torch
        from torch.nn import functional as F

        if image.mode != "RGB":
            image = image.convert("RGB")
        h, w = image.height, image.width
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # uint8 CHW view of HWC memory
        out_h, out_w = self._resized(h, w)
        if (out_h, out_w) != (h, w):
            x = F.interpolate(x[None], size=(out_h, out_w), mode=self.mode, antialias=True)[0]
        if self.crop is not None:
            x = _center_crop(x, *self.crop)
        x = x.to(torch.float32).div_(255)
        return x.sub_(self.mean).div_(self.std).contiguous()

    def _resized(self, h: int, w: int) -> tuple[int, int]:
        """torchvision's output size: ``[s]`` sets the shorter side (the longer one truncated),
        ``[h, w]`` both."""
        if len(self.size) == 2:
            return self.size[0], self.size[1]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size[0], int(self.size[0] * long / short)
        return (new_long, new_short) if w <= h else (new_short, new_long)


def _center_crop(x, crop_h: int, crop_w: int):
    """torchvision's ``center_crop``, zero padding included when the image is smaller."""
    from torch.nn import functional as F

    h, w = x.shape[-2:]
    if crop_h > h or crop_w > w:
        pad_h, pad_w = max(crop_h - h, 0), max(crop_w - w, 0)
        x = F.pad(x, [pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2])
        h, w = x.shape[-2:]
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return x[..., top:top + crop_h, left:left + crop_w]


class PilTransform:
    """open_clip's eval transform (shortest side -> ``size``, centre crop, to [0, 1], normalise) on
    Pillow and numpy, without torch: torchvision's own ``Compose`` does exactly this on a PIL image
    (``Resize`` hands it to ``PIL.Image.resize``), so the pixels are the model's reference ones and
    within 2/255 of :class:`_Fast`'s. Slower per photo (Pillow's resize) but importing nothing: what
    a cached ONNX export uses for image queries and small runs (``encoders.onnx``)."""

    def __init__(self, size: int, mode: str, mean, std) -> None:
        self.size, self.mode = int(size), mode
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)

    def __repr__(self) -> str:
        return f"PilTransform({self.size}, {self.mode})"

    @classmethod
    def from_open_clip(cls, cfg: dict) -> "PilTransform | None":
        """The transform for an open_clip ``preprocess_cfg``, or None when it is not the plain
        ``shortest`` resize of a square input with a filter Pillow has."""
        size = cfg.get("size")
        size = size if isinstance(size, (list, tuple)) else [size, size]
        mode = cfg.get("interpolation", "bicubic")
        if cfg.get("resize_mode", "shortest") != "shortest" or len(size) != 2 or size[0] != size[1] \
                or mode not in ("bicubic", "bilinear") or not cfg.get("mean") or not cfg.get("std"):
            return None
        return cls(int(size[0]), mode, cfg["mean"], cfg["std"])

    def __call__(self, image: Image.Image) -> np.ndarray:
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        out_w, out_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (out_w, out_h) != (w, h):
            resample = Image.Resampling.BICUBIC if self.mode == "bicubic" else Image.Resampling.BILINEAR
            image = image.resize((out_w, out_h), resample)
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        x = _center_crop_np(x, self.size, self.size)
        return np.ascontiguousarray((x - self.mean) / self.std, dtype=np.float32)


def _center_crop_np(x: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    """torchvision's ``center_crop`` on a CHW array, zero padding included."""
    h, w = x.shape[-2:]
    if crop_h > h or crop_w > w:
        pad_h, pad_w = max(crop_h - h, 0), max(crop_w - w, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2)))
        h, w = x.shape[-2:]
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return x[..., top:top + crop_h, left:left + crop_w]


def stack(tensors):
    """A batch of preprocessed images: numpy arrays stay numpy (no torch import), tensors torch."""
    items = list(tensors)
    if items and isinstance(items[0], np.ndarray):
        return np.stack(items)
    import torch

    return torch.stack(items)
