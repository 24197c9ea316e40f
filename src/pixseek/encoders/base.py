"""The encoder interface: images and texts into one L2-normalised float32 vector space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import UnsupportedQueryError


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for: ``model`` (``ViT-B-32``, ``hf-hub:org/repo``, ``local-dir:PATH``,
    ``timm:NAME``) and ``pretrained`` (a tag, a checkpoint file, or None)."""

    model: str
    pretrained: str | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N (see encoders.device)

    @classmethod
    def parse(cls, model_id: str, device: str = "auto") -> "ModelSpec":
        """The spec an ``id`` (``"NAME|TAG"``, as the catalogue records it) stands for.

        >>> ModelSpec.parse("ViT-B-32|laion2b_s34b_b79k").label
        'ViT-B-32 (laion2b_s34b_b79k)'
        >>> ModelSpec.parse("timm:resnet18|").pretrained is None
        True
        """
        model, _, pretrained = model_id.partition("|")
        return cls(model, pretrained or None, device)

    @property
    def id(self) -> str:
        """Stable identity recorded in the catalogue: two specs with one id give the same vectors."""
        return f"{self.model}|{self.pretrained or ''}"

    @property
    def label(self) -> str:
        """The model for people: ``NAME (TAG)``, or ``NAME`` alone when there is no tag."""
        return f"{self.model} ({self.pretrained})" if self.pretrained else self.model


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation to float32; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


class Encoder(ABC):
    """Puts images (and, when ``supports_text``, texts) into one L2-normalised space.

    ``preprocess(img)`` is the model's own transform (a PIL RGB image in, a CHW tensor out);
    ``input_size`` is the side the transform resizes the shorter edge to, so decoders can
    draft-decode JPEGs down to it without changing the result.
    """

    id: str
    dim: int
    supports_text: bool = False
    input_size: int = 224

    @abstractmethod
    def preprocess(self, image: Image.Image):  # -> torch.Tensor (C, H, W)
        ...

    @abstractmethod
    def encode_pixels(self, batch) -> np.ndarray:
        """A stacked batch of preprocessed tensors (N, C, H, W) -> (N, dim) float32, normalised."""

    def warm_up(self) -> None:
        """Finish loading what the first ``encode_pixels`` would (a no-op unless the back end
        loads lazily). The indexer runs it in a thread while the first photos decode."""

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL RGB images -> (N, dim) float32, L2-normalised."""
        from .pixels import stack

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pixels(stack([self.preprocess(im) for im in images]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, dim) float32, L2-normalised. Image-only encoders refuse."""
        raise UnsupportedQueryError(
            f"the model {ModelSpec.parse(self.id).model} encodes images only: text search needs a CLIP model "
            "(re-index with --model ViT-B-32, for example)"
        )
