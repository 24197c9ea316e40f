"""Measuring candidate pairs: pHash distances for all, thumbnail measures (grey correlation,
colours, blankness) for the pairs a hash or crop rule may accept, crop alignment for the few the
crop rule still needs it for. The measures go into a :class:`~.rules.PairFeatures` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..catalog import Catalog, FileRow
from ..hashing import ImageHashes, chromaticity, colour_distance, contrast, grey_views, hamming_many
from .rules import PairFeatures, Thresholds, may_be_crop, may_be_hash_copy, needs_alignment

CROP_BATCH = 1024  # pairs whose 19 crop views are compared at once


@dataclass(frozen=True)
class Pictures:
    """The pictures being compared, one file per content (``reps``), with their perceptual hashes
    (thumbnails are loaded from the catalogue when needed, and not kept)."""

    catalog: Catalog
    reps: list[FileRow]
    hashes: dict[str, ImageHashes]

    @cached_property
    def has_hashes(self) -> np.ndarray:
        return np.array([r.sha in self.hashes for r in self.reps], dtype=bool)

    @cached_property
    def phashes(self) -> np.ndarray:
        return np.array([self.hashes[r.sha].phash if r.sha in self.hashes else 0 for r in self.reps],
                        dtype=np.uint64)

    def thumbnails(self, units: list[int]) -> list[ImageHashes]:
        """The hashes of ``reps[u]`` for each ``u``, with their thumbnails."""
        shas = [self.reps[u].sha for u in units]
        out = {s: self.hashes[s] for s in shas if self.hashes[s].grey}
        out.update(self.catalog.hashes_for([s for s in shas if s not in out]))
        return [out[s] for s in shas]


def measure(pics: Pictures, pairs: np.ndarray, cos: np.ndarray, th: Thresholds) -> tuple[PairFeatures, set[str]]:
    """Features of candidate pairs ``pairs[k] = (i, j)`` (indices into ``pics.reps``) whose
    embeddings score ``cos[k]``; and the content hashes of grey pictures met on the way (their
    colours cannot be checked)."""
    I, J = pairs[:, 0], pairs[:, 1]
    n = len(I)
    has, phashes = pics.has_hashes, pics.phashes  # computed once, for all chunks
    hashed = has[I] & has[J]
    ph = np.full(n, 64, dtype=np.int64)
    h = np.flatnonzero(hashed)
    if len(h):
        ph[h] = hamming_many(phashes[I[h]], phashes[J[h]])
    f = PairFeatures(cos=cos, hashed=hashed, phash=ph, grey=np.zeros(n, np.float32),
                     color=np.full(n, np.inf, np.float32), greyish=np.zeros(n, bool), blank=np.zeros(n, bool),
                     aligned=np.zeros(n, np.float32))
    if not th.use_embedding:
        return f, set()
    look = np.flatnonzero(may_be_hash_copy(f, th) | may_be_crop(f, th))
    if not len(look):
        return f, set()
    units = sorted({int(x) for x in I[look]} | {int(x) for x in J[look]})
    pos = {u: k for k, u in enumerate(units)}
    thumbs = pics.thumbnails(units)
    va = np.array([pos[int(x)] for x in I[look]])
    vb = np.array([pos[int(x)] for x in J[look]])
    f, grey_units = _thumbnail_measures(f, look, thumbs, va, vb, th)
    crop = np.flatnonzero(needs_alignment(f, th))
    if len(crop):
        at = np.searchsorted(look, crop)  # every pair that needs it is in `look`
        f = replace(f, aligned=_alignment(n, crop, thumbs, va[at], vb[at]))
    return f, {pics.reps[units[k]].sha for k in grey_units}


def _thumbnail_measures(f: PairFeatures, look: np.ndarray, thumbs: list[ImageHashes], va: np.ndarray,
                        vb: np.ndarray, th: Thresholds) -> tuple[PairFeatures, np.ndarray]:
    """Grey correlation, colour distance, greyness and blankness of the pairs ``look`` (pair
    ``look[p]`` joins ``thumbs[va[p]]`` and ``thumbs[vb[p]]``); and which thumbnails are grey."""
    whole = grey_views([t.grey for t in thumbs], whole_only=True)[:, 0]
    flat = contrast([t.grey for t in thumbs]) < th.flat_contrast
    shares, bright, colourful = chromaticity([t.color for t in thumbs])
    grey, color, greyish, blank = f.grey.copy(), f.color.copy(), f.greyish.copy(), f.blank.copy()
    grey[look] = np.einsum("pk,pk->p", whole[va], whole[vb])
    color[look] = colour_distance(shares[va], bright[va], shares[vb], bright[vb])
    greyish[look] = np.minimum(colourful[va], colourful[vb]) < th.grey_saturation
    blank[look] = flat[va] | flat[vb]
    measured = replace(f, grey=grey, color=color, greyish=greyish, blank=blank)
    return measured, np.flatnonzero(colourful < th.grey_saturation)


def _alignment(n: int, crop: np.ndarray, thumbs: list[ImageHashes], va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """For the pairs ``crop`` (pair ``crop[p]`` joins ``thumbs[va[p]]`` and ``thumbs[vb[p]]``): the
    best correlation of one whole grey thumbnail with a light crop of the other, either way round."""
    aligned = np.zeros(n, np.float32)
    for start in range(0, len(crop), CROP_BATCH):  # the 19 views, for these few pairs only
        c = slice(start, start + CROP_BATCH)
        crop_units = sorted(set(va[c].tolist()) | set(vb[c].tolist()))
        cpos = {u: k for k, u in enumerate(crop_units)}
        views = grey_views([thumbs[u].grey for u in crop_units])
        ca, cb = np.array([cpos[u] for u in va[c]]), np.array([cpos[u] for u in vb[c]])
        a_to_b = np.einsum("pvk,pk->pv", views[ca], views[cb, 0]).max(axis=1)
        b_to_a = np.einsum("pk,pvk->pv", views[ca, 0], views[cb]).max(axis=1)
        aligned[crop[c]] = np.maximum(a_to_b, b_to_a)
    return aligned
