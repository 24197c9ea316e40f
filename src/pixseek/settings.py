"""How a library is opened: the model, the device, the store and the runtime, as one value.

The CLI builds one from its flags, ``pixseek.open`` from its keywords, and ``Library`` takes it::

    >>> from pixseek.settings import LibrarySettings
    >>> LibrarySettings.of(model="timm:resnet18", device="cpu").model_spec(recorded=None).id
    'timm:resnet18|'
    >>> LibrarySettings.of(modle="ViT-B-32")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: unknown setting 'modle': the settings are model, pretrained, device, store, ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_MODEL
from .encoders import ModelSpec, normalize_spec

if TYPE_CHECKING:
    from .stores.milvus import MilvusAuth


@dataclass(frozen=True)
class LibrarySettings:
    """What a ``Library`` is opened with; every field has a default.

    ``model``/``pretrained`` choose the encoder of a new index (None: the index's own, else
    ViT-B-32); ``device`` ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``store`` where a new index
    keeps its vectors (``faiss``, ``milvus-lite:FILE.db``, ``milvus://HOST:PORT[/COLLECTION]``) and
    ``store_auth`` the Milvus log-in; ``backend`` ``auto``, ``torch`` or ``onnx`` and ``precision``
    ``fp32`` or ``int8`` (see ``encoders.onnx``); ``ocr`` ``auto``, ``on`` or ``off`` reads the
    text in photos (``pixseek.words.ocr``; None: what the index was built with, else ``auto``).
    """

    model: str | None = None
    pretrained: str | None = None
    device: str = "auto"
    store: str | os.PathLike | None = None
    store_auth: MilvusAuth | None = None
    backend: str = "auto"
    precision: str = "fp32"
    ocr: str | None = None  # "auto", "on" or "off": text in photos (None: the index's own, else auto)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def of(cls, **keywords: Any) -> "LibrarySettings":
        """Settings from keywords named like the fields; any other keyword is a ``TypeError`` that
        lists the valid ones (a typo must not open a library with the defaults)."""
        unknown = [k for k in keywords if k not in cls.names()]
        if unknown:
            raise TypeError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                            f"the settings are {', '.join(cls.names())}")
        return cls(**keywords)

    def model_spec(self, recorded: str | None) -> ModelSpec:
        """The encoder to use: the one asked for, else the one the index records (``recorded``, a
        model id), else the default; bare open_clip names get their default tag."""
        if self.model is None and self.pretrained is None and recorded:
            return ModelSpec.parse(recorded, self.device)
        return normalize_spec(ModelSpec(self.model or DEFAULT_MODEL, self.pretrained, self.device))
