"""The rules that say two pictures are the same: each a small function over :class:`PairFeatures`.

A pair's evidence is an :class:`Edge`: its tier (``exact`` / ``copy`` / ``similar``), the rule that
fired and the scores behind it. The rules, in the order they are tried (the first that fires wins):

- ``copy``/``hash``: pHash within ``hash_phash`` bits, grey thumbnails correlate ``>= hash_grey``
  (or, for a very close embedding, pHash within ``close_phash``), colours agree (or one side is
  grey), embedding ``>= hash_gate_cos``;
- ``copy``/``crop``: embedding ``>= crop_cos``, the grey thumbnail matches a light crop of the
  other's ``>= crop_aligned``, pHash within ``crop_phash``, colours agree (loosely, as crop cells no
  longer line up, unless the whole thumbnails line up: then it is no crop);
- a *blank* picture (grey thumbnail spread below ``flat_contrast`` levels) has no structure for the
  hash and crop rules: two blank pictures that hash alike are the same picture only if their
  decoded pixels are (:func:`settle_pixels`);
- ``similar``/``embedding`` (only when asked): embedding ``>= similar_cos``.

A copy of the same size whose pHash is within ``pixels_phash`` bits has its decoded pixels compared:
equal pixels make it ``exact``/``same-pixels``.

The features hold arrays, one entry per candidate pair, so every rule runs vectorised over a chunk
of pairs: a large collection has millions of candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..encoders.base import ModelSpec

RANK = {"exact": 3, "copy": 2, "similar": 1}
RULE_RANK = {"same-bytes": 4, "same-pixels": 3, "hash": 2, "crop": 1}


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds. Defaults: calibrated for ``timm:tf_efficientnet_lite0`` on the labelled
    set of ``bench/dedup_eval.py`` for pairwise precision >= 0.99 (docs/dedup.md)."""

    embed_gate: float = 0.70  # embedding candidates
    hash_gate_cos: float = 0.50
    hash_phash: int = 12
    hash_grey: float = 0.92
    close_cos: float = 0.97  # with pHash within close_phash, instead of the grey correlation
    close_phash: int = 8
    crop_cos: float = 0.90
    crop_aligned: float = 0.85
    crop_phash: int = 24
    color: float = 0.07  # mean r:g:b share distance allowed between two colour pictures (hash rule)
    crop_color: float = 0.12  # ... for a crop (its thumbnail cells no longer line up)
    grey_saturation: float = 6.0  # below this a picture counts as grey (any colour test passes)
    flat_contrast: float = 2.0  # grey thumbnail spread (levels) below which a picture is blank
    similar_cos: float = 0.80
    pixels_phash: int = 4  # below this (and same size) the decoded pixels are compared
    near_phash: int = 4  # "near-identical" (a re-save: re-encode, resize, format): evidence that
    near_grey: float = 0.97  # carries over, A = A' and A' ~ C links A ~ C (see grouping)
    near_cos: float = 0.90
    use_embedding: bool = True  # False: pHash alone (the baseline of bench/dedup_eval.py)
    phash_only: int = 10  # pHash alone: copy when within this many bits


# Encoder-specific cosines; the rest of the rules do not depend on the encoder. Models without an
# entry use the defaults, calibrated on EfficientNet-Lite0 (CLIP cosines are not calibrated yet).
PROFILES: dict[str, Thresholds] = {"timm:tf_efficientnet_lite0": Thresholds()}


def thresholds_for(model_id: str | None) -> Thresholds:
    """The calibrated thresholds for an encoder id (``name|tag``), else the defaults."""
    return PROFILES.get(ModelSpec.parse(model_id or "").model, Thresholds())


@dataclass(frozen=True)
class Edge:
    """The evidence that links two pictures."""

    tier: str
    rule: str
    scores: dict[str, float]
    near: bool = False  # the same picture re-saved: exact, or a hash match within `near_*`
    pixels_only: bool = False  # blank pictures: evidence only if their decoded pixels are equal

    @property
    def strength(self) -> tuple[int, int, float]:
        return RANK[self.tier], RULE_RANK.get(self.rule, 0), self.scores.get("cosine", 1.0)


@dataclass(frozen=True)
class PairFeatures:
    """What the rules look at, for a chunk of candidate pairs (entry ``k`` is pair ``k``).

    Thumbnail measures are only taken for pairs that may pass a hash or crop rule; elsewhere they
    hold values no rule accepts (``grey`` 0, ``color`` inf, ``aligned`` 0)."""

    cos: np.ndarray  # embedding cosine (nan: pHash alone)
    hashed: np.ndarray  # both pictures have perceptual hashes
    phash: np.ndarray  # pHash distance in bits (64 when not hashed)
    grey: np.ndarray  # correlation of the whole grey thumbnails
    color: np.ndarray  # distance of the colour shares
    greyish: np.ndarray  # one side is grey: its colours cannot be checked
    blank: np.ndarray  # one side is blank: its hashes and thumbnails say nothing
    aligned: np.ndarray  # best correlation of one thumbnail with a light crop of the other


# -- gates: which pairs are worth measuring ------------------------------------------------------------
def may_be_hash_copy(f: PairFeatures, th: Thresholds) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return f.hashed & (f.phash <= th.hash_phash) & (f.cos >= th.hash_gate_cos)


def may_be_crop(f: PairFeatures, th: Thresholds) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return f.hashed & (f.phash <= th.crop_phash) & (f.cos >= th.crop_cos)


def colours_agree(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """The colour test that keeps a dark or recoloured variant of a design apart from a brightened
    or grey copy: those move the grey structure too little for pHash or the embedding to tell."""
    return (f.color <= th.color) | f.greyish


def crop_colours_agree(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """A crop's colour cells no longer line up, hence its looser colour test; but two pictures
    whose whole thumbnails already line up are not a crop of each other, and get the strict one,
    unless their pHashes say the very same structure (brightening clips highlights, which moves
    the colour shares of an exact copy a little)."""
    uncropped = (f.grey >= th.hash_grey) & (f.phash > th.near_phash)
    return np.where(uncropped, colours_agree(f, th), f.color <= th.crop_color) | f.greyish


def needs_alignment(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """Pairs the crop rule would accept if a crop of one lined up with the other (measured then)."""
    return may_be_crop(f, th) & crop_colours_agree(f, th) & ~is_hash_copy(f, th) & ~f.blank


# -- the rules -------------------------------------------------------------------------------------------
def is_hash_copy(f: PairFeatures, th: Thresholds) -> np.ndarray:
    # a very close embedding stands in for the grey thumbnail, which aliasing spoils when a fine
    # texture is shrunk a lot
    with np.errstate(invalid="ignore"):
        close = (f.cos >= th.close_cos) & (f.phash <= th.close_phash)
    return may_be_hash_copy(f, th) & colours_agree(f, th) & ((f.grey >= th.hash_grey) | close) & ~f.blank


def is_crop(f: PairFeatures, th: Thresholds) -> np.ndarray:
    return needs_alignment(f, th) & (f.aligned >= th.crop_aligned)


def is_blank_twin(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """Blank pictures that hash alike: the same picture only if their pixels are."""
    return (f.blank & may_be_hash_copy(f, th) & (f.phash <= th.pixels_phash) & ~is_hash_copy(f, th)
            & ~is_crop(f, th))


def is_similar(f: PairFeatures, th: Thresholds) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return f.cos >= th.similar_cos


def is_near(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """A hash copy this close is a re-save of the same picture (see grouping)."""
    with np.errstate(invalid="ignore"):
        return ((f.phash <= th.near_phash) & (f.grey >= th.near_grey) & (f.color <= th.color)
                & (f.cos >= th.near_cos))


def is_phash_copy(f: PairFeatures, th: Thresholds) -> np.ndarray:
    """pHash alone (``use_embedding=False``, the evaluation's baseline)."""
    return f.phash <= th.phash_only


# -- evidence ----------------------------------------------------------------------------------------------
def edges(f: PairFeatures, th: Thresholds, similar: bool) -> list[tuple[int, Edge]]:
    """``(k, evidence)`` for every pair ``k`` some rule accepts: the first rule that fires."""
    if not th.use_embedding:
        return [(int(k), Edge("copy", "phash", {"phash": int(f.phash[k])}))
                for k in np.flatnonzero(is_phash_copy(f, th))]
    near = is_near(f, th)
    fired: list[tuple[np.ndarray, Callable[[int], Edge]]] = [
        (is_hash_copy(f, th), lambda k: Edge("copy", "hash", _scores(f, k), bool(near[k]))),
        (is_crop(f, th), lambda k: Edge("copy", "crop", _scores(f, k))),
        (is_blank_twin(f, th), lambda k: Edge("copy", "hash", _scores(f, k), pixels_only=True)),
    ]
    if similar:
        fired.append((is_similar(f, th), lambda k: Edge("similar", "embedding", _scores(f, k))))
    out = []
    for k in np.flatnonzero(np.logical_or.reduce([mask for mask, _ in fired])):
        make = next(make for mask, make in fired if mask[k])
        out.append((int(k), make(int(k))))
    return out


def _scores(f: PairFeatures, k: int) -> dict[str, float]:
    scores: dict[str, float] = {"cosine": round(float(f.cos[k]), 4)}
    if f.hashed[k]:
        scores["phash"] = int(f.phash[k])
    if np.isfinite(f.color[k]):
        scores.update(grey=round(float(f.grey[k]), 4), color=round(float(f.color[k]), 4))
    if f.aligned[k]:
        scores["aligned"] = round(float(f.aligned[k]), 4)
    return scores


def may_have_same_pixels(size_a: tuple, size_b: tuple, edge: Edge, th: Thresholds) -> bool:
    """A copy worth decoding in full: same size, and pHashes within ``pixels_phash`` bits."""
    return size_a == size_b and size_a[0] is not None and edge.scores.get("phash", 99) <= th.pixels_phash


def settle_pixels(edge: Edge, same_pixels: bool, th: Thresholds, similar: bool) -> Edge | None:
    """A copy whose decoded pixels were compared: ``exact`` when equal; a blank twin that is not
    equal is only ``similar`` (when asked), else no evidence at all."""
    if same_pixels:
        return Edge("exact", "same-pixels", edge.scores, True)
    if edge.pixels_only:
        return Edge("similar", "embedding", edge.scores) if similar and edge.scores["cosine"] >= th.similar_cos \
            else None
    return edge
