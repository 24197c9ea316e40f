"""open_clip encoders: text and images in one space."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import ModelLoadError
from .base import Encoder, ModelSpec, l2_normalize
from .device import resolve_device
from .pixels import ModelTransform
from .towers import cut_tokens, gpu_autocast, to_device

DEFAULT_TAGS = {"ViT-B-32": "laion2b_s34b_b79k"}
RANDOM = "random"  # seeded random init: for tests and throughput benchmarks only


def default_pretrained(model: str) -> str | None:
    """The tag a bare built-in name gets: a name alone should never mean random weights."""
    if model.startswith(("hf-hub:", "local-dir:")):
        return None
    if model in DEFAULT_TAGS:
        return DEFAULT_TAGS[model]
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model)
    return tags[0] if tags else None


def _weights_hint(spec: ModelSpec) -> str:
    return (
        "point at local weights with --pretrained /path/to/open_clip_model.safetensors "
        "or --model local-dir:/path/to/folder (open_clip_config.json + weights)"
    )


class OpenClipEncoder(Encoder):
    """An open_clip model; ``spec.model`` is a built-in name, ``hf-hub:ORG/REPO`` or ``local-dir:PATH``."""

    supports_text = True

    def __init__(self, spec: ModelSpec) -> None:
        import open_clip
        import torch

        self.spec = spec
        self.id = spec.id
        self.device = resolve_device(spec.device)
        name = spec.model
        if name.startswith("local-dir:"):
            path = os.path.abspath(os.path.expanduser(name[len("local-dir:"):]))
            if not os.path.isfile(os.path.join(path, "open_clip_config.json")):
                raise ModelLoadError(f"no open_clip_config.json in {path} (needed by --model local-dir:PATH)")
            name = "local-dir:" + path
        elif not name.startswith("hf-hub:") and name not in open_clip.list_models():
            raise ModelLoadError(
                f"unknown open_clip model {name!r}; `python -c \"import open_clip; print(open_clip.list_models())\"` "
                "lists them, timm image models are named timm:NAME"
            )
        pretrained = spec.pretrained
        if pretrained and pretrained != RANDOM and not name.startswith(("hf-hub:", "local-dir:")):
            known = open_clip.list_pretrained_tags_by_model(name)
            if pretrained not in known and not os.path.isfile(os.path.expanduser(pretrained)):
                raise ModelLoadError(
                    f"--pretrained {pretrained!r} is neither a tag of {name} ({', '.join(known) or 'none'}) "
                    "nor an existing checkpoint file"
                )
            pretrained = os.path.expanduser(pretrained) if pretrained not in known else pretrained
        if pretrained == RANDOM:
            torch.manual_seed(0)
            pretrained = None
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=self.device
            )
            self.tokenizer = open_clip.get_tokenizer(name)
            self.tokenizer_name = name  # what an ONNX export records to rebuild the tokenizer alone
        except ModelLoadError:
            raise
        except Exception as exc:  # network, hub, file and format errors all end here
            if "install transformers" in str(exc) or (isinstance(exc, ImportError) and "transformers" in str(exc)):
                # multilingual models (xlm-roberta-base-ViT-B-32, ...) have a Hugging Face text tower
                raise ModelLoadError(
                    f"{spec.model} needs the transformers package for its text tower: "
                    "pip install 'pixseek[multilingual]' (or pip install transformers)"
                ) from exc
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"could not load {spec.model} weights {spec.pretrained or ''} ({first[:200]}); {_weights_hint(spec)}"
            ) from exc
        model.eval()
        self.model = model
        self._text_tower = None
        self._preprocess = ModelTransform(preprocess)  # same pixels, torch's SIMD resize
        self.dim = int(getattr(model.visual, "output_dim", 0) or _probe_dim(model))
        size = getattr(model.visual, "image_size", 224)
        self.input_size = int(size[0] if isinstance(size, (tuple, list)) else size)

    def preprocess(self, image):
        return self._preprocess(image)

    def encode_pixels(self, batch) -> np.ndarray:
        import torch

        with torch.inference_mode(), gpu_autocast(self.device):
            feats = self.model.encode_image(to_device(batch, self.device))
        return l2_normalize(feats.float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._text_tower is None:
            from .towers import TextTower

            self._text_tower = TextTower(self.model)
        # a causal tower runs on the tokens used only: the same vector, ~5x less work
        tokens = cut_tokens(self.tokenizer(list(texts)), self._text_tower.causal).to(self.device)
        with torch.inference_mode(), gpu_autocast(self.device):
            feats = self._text_tower(tokens)
        return l2_normalize(feats.float().cpu().numpy())


def _probe_dim(model) -> int:
    import torch

    with torch.inference_mode():
        size = getattr(model.visual, "image_size", 224)
        size = size[0] if isinstance(size, (tuple, list)) else size
        return int(model.encode_image(torch.zeros(1, 3, size, size)).shape[-1])
