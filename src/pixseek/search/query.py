"""What a query asks for: texts and example images with weights, minus negative terms, plus the
filters, the page and the options that shape the result list.

The query vector is the weighted sum of the terms' unit vectors (a negative term's weight is
subtracted), renormalised: ``q = normalize(sum_i w_i v_i)``. With one term it is that term's vector.

    >>> Query(text="a dog on the beach", images=["dog.jpg"], negatives=["people"],
    ...       weights=[1, 0.5, 1]).terms()                                     # doctest: +SKIP
    [Term('text', 'a dog on the beach', 1.0), Term('image', 'dog.jpg', 0.5), Term('text', 'people', -1.0)]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import QueryError
from .filters import Filters

ImageQuery = str | os.PathLike | bytes
MAX_K = 10_000  # one page; more is a mistake (and a big allocation in the store)


@dataclass(frozen=True)
class Term:
    """One part of a query: a text or an example image, with a signed weight (< 0 subtracts)."""

    kind: Literal["text", "image"]
    value: str | os.PathLike | bytes
    weight: float = 1.0

    def __repr__(self) -> str:
        value = f"<{len(self.value)} bytes>" if isinstance(self.value, bytes) else repr(os.fspath(self.value))
        return f"Term({self.kind!r}, {value}, {self.weight})"


@dataclass(frozen=True)
class Query:
    """A search request. Everything but one text or one image is optional.

    - ``text``: what the photo shows; ``images``: example photos (paths, or an image file's bytes);
      ``negatives``: texts to steer away from ("people", "night").
    - ``weights``: one number >= 0 per term, in the order text, images..., negatives...
      (default 1 each). A negative term's weight is how much of it is subtracted.
    - ``template``: e.g. ``"a photo of {}"``, applied to every text term (off by default).
    - ``filters``: see :class:`Filters`; applied inside the store search.
    - ``k``/``offset``: the page: results ``offset .. offset + k - 1`` of one ranking.
    - ``strong``: keep only results that stand out for this query (see ``cutoff.py``); True uses
      ``STRONG_Z``, a number is the z to use instead (higher: stricter).
    - ``collapse``: one result per group of copies, the others listed in ``Hit.copies``.
    - ``mode``: ``visual`` (the vector side only), ``words`` (the words in and about the photos
      only: OCR, names, keywords; see ``pixseek.words``) or ``hybrid`` (both, fused; see
      ``fusion.py``); None: hybrid when the index has words and the query a text, else visual.
    """

    text: str | None = None
    images: Sequence[ImageQuery] = ()
    negatives: Sequence[str] = ()
    weights: Sequence[float] | None = None
    template: str | None = None
    filters: Filters = field(default_factory=Filters)
    k: int = 10
    offset: int = 0
    strong: bool | float = False
    collapse: bool = True
    mode: str | None = None  # "hybrid", "words", "visual"; None: hybrid when the index has words

    MODES = ("hybrid", "words", "visual")

    def __post_init__(self) -> None:
        images = (self.images,) if isinstance(self.images, (str, bytes, os.PathLike)) else tuple(self.images)
        negatives = (self.negatives,) if isinstance(self.negatives, str) else tuple(self.negatives)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "negatives", tuple(n.strip() for n in negatives))
        object.__setattr__(self, "text", self.text.strip() if isinstance(self.text, str) else self.text)
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if not isinstance(self.filters, Filters):
            raise QueryError("filters must be a pixseek Filters object")
        if not 1 <= self.k <= MAX_K:
            raise QueryError(f"-k must be between 1 and {MAX_K}, not {self.k}")
        if self.offset < 0:
            raise QueryError(f"--offset must be 0 or more, not {self.offset}")
        if self.template is not None and self.template.count("{}") != 1:
            raise QueryError(f"--template {self.template!r} must contain {{}} once, where the text goes "
                             "(e.g. \"a photo of {}\")")
        if not isinstance(self.strong, bool) and not (math.isfinite(self.strong) and self.strong > 0):
            raise QueryError(f"--strong-z must be a number above 0, not {self.strong}")
        if self.mode is not None and self.mode not in self.MODES:
            raise QueryError(f"--mode must be one of {', '.join(self.MODES)}, not {self.mode!r}")
        if self.mode == "words" and not self.text:
            raise QueryError("--mode words needs a text to look for in and about the photos")
        if any(not n for n in self.negatives):
            raise QueryError("a --not term is empty: say what to steer away from")

    def terms(self) -> list[Term]:
        """The terms with their signed weights, templates applied; raises QueryError when the
        query has nothing to look for or its weights do not fit."""
        positive: list[tuple[str, str | os.PathLike | bytes]] = []
        if self.text:
            positive.append(("text", self.text))
        positive += [("image", im) for im in self.images]
        if not positive:
            raise QueryError("the query is empty: type what the photo shows, or give an example image "
                             "(--not only steers away)")
        negative = [("text", n) for n in self.negatives]
        weights = self.weights if self.weights is not None else (1.0,) * (len(positive) + len(negative))
        if len(weights) != len(positive) + len(negative):
            n = len(positive) + len(negative)
            raise QueryError(
                f"{len(weights)} weight{'s' * (len(weights) != 1)} for {n} term{'s' * (n != 1)}: give one "
                "--weight per term, in the order text, --image..., --not..."
            )
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise QueryError("weights must be finite numbers >= 0 (a --not term is subtracted with its weight)")
        if not any(w > 0 for w in weights[:len(positive)]):
            raise QueryError("every positive term has weight 0: give the text or an image a weight above 0")
        terms = [Term(kind, self._templated(kind, value), w) for (kind, value), w in zip(positive, weights)]
        terms += [Term(kind, self._templated(kind, value), -w)
                  for (kind, value), w in zip(negative, weights[len(positive):])]
        return [t for t in terms if t.weight != 0]

    def _templated(self, kind: str, value):
        if kind == "text" and self.template:
            return self.template.replace("{}", value)
        return value


def combine(vectors: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``normalize(sum_i w_i v_i)`` as a (1, dim) float32 row; QueryError when the terms cancel out.

    >>> combine(np.eye(2, dtype=np.float32), [1, 1]).round(3)
    array([[0.707, 0.707]], dtype=float32)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32).reshape(-1, 1)
    q = (vectors * w).sum(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if norm < 1e-6:
        raise QueryError("the query's terms cancel each other out: lower the --not weights, or change a term")
    return (q / norm).astype(np.float32).reshape(1, -1)
