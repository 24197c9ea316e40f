"""Model specs in, encoders out: ``timm:NAME`` goes to timm, everything else to open_clip."""

from __future__ import annotations

from collections.abc import Callable

from .base import Encoder, ModelSpec

_FACTORIES: dict[str, Callable[[ModelSpec], Encoder]] = {}


def register(prefix: str, factory: Callable[[ModelSpec], Encoder]) -> None:
    """Route model names starting with ``prefix`` (e.g. ``"fake:"``) to ``factory``; tests use this."""
    _FACTORIES[prefix] = factory


def normalize_spec(spec: ModelSpec) -> ModelSpec:
    """Fill in the default pretrained tag for bare open_clip names, so the recorded id is explicit."""
    # hub and local folders have no default tag: no open_clip (torch) import to learn that
    if spec.pretrained is None and not any(spec.model.startswith(p) for p in _FACTORIES) \
            and not spec.model.startswith(("timm:", "hf-hub:", "local-dir:")):
        from .openclip import default_pretrained

        return ModelSpec(spec.model, default_pretrained(spec.model), spec.device)
    return spec


def load_encoder(spec: ModelSpec, backend: str = "torch", precision: str = "fp32") -> Encoder:
    """Build the encoder for ``spec``; raises ModelLoadError with a one-line reason.

    ``backend`` ``torch``, ``onnx`` or ``auto`` and ``precision`` ``fp32`` or ``int8``: see
    ``encoders.onnx`` (int8 and ONNX Runtime apply to open_clip and timm models on the CPU).
    """
    if backend == "torch" and precision == "fp32":
        return _load_torch(spec)
    from .onnx import load_accelerated
    from .switching import SwitchingEncoder

    return load_accelerated(_load_torch, spec, backend, precision, _expected_id(spec), until_exported=SwitchingEncoder)


def _expected_id(spec: ModelSpec) -> str | None:
    """The ``id`` ``_load_torch(spec)`` will have, without loading it (None for test factories)."""
    if any(spec.model.startswith(p) for p in _FACTORIES):
        return None
    if spec.model.startswith("timm:"):
        from .timm import encoder_id

        return encoder_id(spec)
    return normalize_spec(spec).id


def _load_torch(spec: ModelSpec) -> Encoder:
    for prefix, factory in _FACTORIES.items():
        if spec.model.startswith(prefix):
            return factory(spec)
    if spec.model.startswith("timm:"):
        from .timm import TimmEncoder

        return TimmEncoder(spec)
    from .openclip import OpenClipEncoder

    return OpenClipEncoder(normalize_spec(spec))
