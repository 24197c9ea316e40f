"""Duplicate groups with evidence: exact, copy and (on request) similar; a suggested keeper each.

How a run goes (docs/dedup.md has the measurements behind every number):

1. Files with the same content hash are one *unit* (``exact``, same bytes); units are compared by
   one representative.
2. Candidates: every pair of units whose vectors score ``>= embed_gate`` (``simjoin``: the store's
   range search, or an IVF self-join at scale; no N x N matrix), plus pairs whose pHashes share a
   16-bit band (a grey copy can score low on the embedding, never on pHash).
3. Each candidate pair is judged on its own evidence:

   - ``exact``/``same-pixels``: same size and the decoded pixels hash equal;
   - ``copy``/``hash``: pHash within ``hash_phash`` bits, grey thumbnails correlate
     ``>= hash_grey``, colours agree (or one side is grey), embedding ``>= hash_gate_cos``;
   - ``copy``/``crop``: embedding ``>= crop_cos``, the grey thumbnail matches a light crop of the
     other's ``>= crop_aligned``, pHash within ``crop_phash``, colours agree (loosely, as crop
     cells no longer line up, unless the whole thumbnails line up: then it is no crop);
   - ``similar``/``embedding`` (only when asked): embedding ``>= similar_cos``;
   - a *blank* picture (grey thumbnail spread below ``flat_contrast`` levels: a solid colour, or a
     pattern drawn only in transparency and flattened on white) has no structure for the hash and
     crop rules to compare: it is a copy of nothing, only ``exact`` (same bytes, or same decoded
     pixels, alpha included) of an equal one.

   The colour test is what keeps a dark or recoloured variant of a design apart from a brightened
   or grey copy: those move the grey structure too little for pHash or the embedding to tell.
4. Groups without chains (``_groups``): near-identical clusters by complete linkage; copy groups
   as one-hop stars around an anchor (every member has direct evidence with the anchor); similar
   groups by complete linkage of whole copy groups. A~B and B~C never pull A and C together
   unless B is the anchor both are copies of. Pairs the user marked "not duplicates" have no
   evidence.
5. Each group gets a keeper by policy; ``--protect`` folders and links are marked, never acted on.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .catalog import Catalog, FileRow
from .errors import ImageDecodeError, PixseekError
from .hashing import (PIXEL_HASH_VERSION, ImageHashes, chromaticity, colour_distance, contrast, grey_views,
                      hamming_many, perceptual_hashes, pixel_hash)
from .imaging import decode_image
from .simjoin import EXACT_MAX, similar_pairs
from .stores.base import VectorStore
from .types import DuplicateGroup, DuplicateMember, Evidence
from .types import StageProgressFn as ProgressFn


TIERS = ("exact", "copy", "similar")
_RANK = {"exact": 3, "copy": 2, "similar": 1}
_RULE_RANK = {"same-bytes": 4, "same-pixels": 3, "hash": 2, "crop": 1}
PAIR_CHUNK = 8192
LOSSLESS = frozenset({"PNG", "TIFF", "BMP", "GIF", "PPM"})
BAND_BUCKET_MAX = 64  # a pHash band shared by more units than this is a flat or blank picture
MAX_GROUP = 1000  # complete linkage is quadratic in a group: beyond this, groups stop growing


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
    near_grey: float = 0.97  # carries over, A = A' and A' ~ C links A ~ C (see _groups)
    near_cos: float = 0.90
    use_embedding: bool = True  # False: pHash alone (the baseline of bench/dedup_eval.py)
    phash_only: int = 10  # pHash alone: copy when within this many bits


# Encoder-specific cosines; the rest of the rules do not depend on the encoder. Models without an
# entry use the defaults, calibrated on EfficientNet-Lite0 (CLIP cosines are not calibrated yet).
PROFILES: dict[str, Thresholds] = {"timm:tf_efficientnet_lite0": Thresholds()}


def thresholds_for(model_id: str | None) -> Thresholds:
    """The calibrated thresholds for an encoder id (``name|tag``), else the defaults."""
    name = (model_id or "").partition("|")[0]
    return PROFILES.get(name, Thresholds())


@dataclass(frozen=True)
class KeepPolicy:
    """``default`` (resolution, lossless, least compressed, oldest, shortest path), ``largest``
    (most bytes), ``oldest`` / ``newest`` (capture date, else file time), or ``path:DIR``."""

    name: str = "default"
    folder: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "KeepPolicy":
        text = (text or "default").strip()
        if text.startswith("path:"):
            folder = text[5:]
            if not folder:
                raise PixseekError("--keep path:DIR needs a folder, e.g. --keep path:~/Pictures/originals")
            return cls("path", _norm_dir(folder))
        if text not in ("default", "largest", "oldest", "newest"):
            raise PixseekError(f"unknown --keep {text!r}: use largest, oldest, newest or path:DIR")
        return cls(text)


@dataclass
class _Unit:
    rows: list[FileRow]

    @property
    def rep(self) -> FileRow:
        return self.rows[0]


@dataclass(frozen=True)
class _Edge:
    tier: str
    rule: str
    scores: dict[str, float]
    near: bool = False  # the same picture re-saved: exact, or a hash match within `near_*`
    pixels_only: bool = False  # blank pictures: evidence only if their decoded pixels are equal

    @property
    def strength(self) -> tuple[int, int, float]:
        return _RANK[self.tier], _RULE_RANK.get(self.rule, 0), self.scores.get("cosine", 1.0)


# -- the whole run -----------------------------------------------------------------------------------
def find_duplicates(catalog: Catalog, store: Callable[[], VectorStore] | None, *,
                    roots: Sequence[str] | None = None, similar: bool = False,
                    keep: KeepPolicy | str | None = None, protect: Iterable[str] = (),
                    thresholds: Thresholds | None = None, exact_max: int | None = None,
                    progress: ProgressFn | None = None) -> list[DuplicateGroup]:
    """Duplicate groups among the indexed files under ``roots`` (all when None), best first.

    ``store`` is a zero-argument callable giving the vector store (loaded only when the exact
    range search is used).
    """
    th = thresholds or thresholds_for(catalog.get_meta("model"))
    policy = keep if isinstance(keep, KeepPolicy) else KeepPolicy.parse(keep)
    protect_dirs = [_norm_dir(p) for p in protect]
    rows = list(catalog.rows_under(roots) if roots else catalog.ok_rows())
    units = _units([r for r in rows if r.status == "ok" and r.sha])
    reps = [u.rep for u in units]
    hashes = _hashes(catalog, reps, progress)
    edges, grey = _judge(catalog, store, reps, hashes, th, similar, exact_max, progress) if len(reps) > 1 \
        else ({}, set())
    for a, b in catalog.not_duplicates():
        for key in ((a, b), (b, a)):
            edges.pop(key, None)
    by_sha = {u.rep.sha: u for u in units}
    clusters = _groups([u.rep.sha for u in units], edges, similar, grey)
    groups = []
    for shas in clusters:
        members = [r for sha in shas for r in by_sha[sha].rows]
        if len(members) < 2:
            continue
        groups.append(_group(shas, by_sha, edges, policy, protect_dirs))
    groups.sort(key=lambda g: (-_RANK[g.kind], -len(g.members), g.keep))
    return groups


def _units(rows: list[FileRow]) -> list[_Unit]:
    by_sha: dict[str, list[FileRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.id):
        by_sha[r.sha].append(r)
    return [_Unit(v) for v in by_sha.values()]


def _hashes(catalog: Catalog, reps: list[FileRow], progress: ProgressFn | None) -> dict[str, ImageHashes]:
    """Stored hashes; files indexed before hashes existed are decoded once and their hashes kept."""
    have = catalog.hashes_for((r.sha for r in reps), thumbnails=False)  # thumbnails: when needed
    missing = [r for r in reps if r.sha not in have]
    fresh: dict[str, ImageHashes] = {}
    for i, row in enumerate(missing):
        try:
            st = os.stat(row.path)
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                continue  # changed since indexing: these would be another content's hashes
            fresh[row.sha] = perceptual_hashes(decode_image(row.path, min_side=64).image)
        except (ImageDecodeError, OSError):
            continue  # gone or unreadable: judged on its vector alone
        if len(fresh) >= 200 or i == len(missing) - 1:
            with catalog.transaction() as db:
                for sha, h in fresh.items():
                    catalog.set_hashes(db, sha, h)
            have.update(fresh)
            fresh = {}
        if progress:
            progress("hashing", i + 1, len(missing))
    if fresh:
        with catalog.transaction() as db:
            for sha, h in fresh.items():
                catalog.set_hashes(db, sha, h)
        have.update(fresh)
    return have


# -- judging pairs -----------------------------------------------------------------------------------
def _judge(catalog: Catalog, store: Callable[[], VectorStore] | None, reps: list[FileRow],
           hashes: dict[str, ImageHashes], th: Thresholds, similar: bool, exact_max: int | None,
           progress: ProgressFn | None) -> tuple[dict[tuple[str, str], _Edge], set[str]]:
    """Evidence for every candidate pair that passes a rule, both ways round; and the content
    hashes of grey pictures met on the way (their colours cannot be checked)."""
    ids = np.array([r.id for r in reps], dtype=np.int64)
    index_of = {int(i): k for k, i in enumerate(ids)}
    cand: dict[tuple[int, int], float] = {}
    exact_max = EXACT_MAX if exact_max is None else exact_max
    vectors_of: Callable[[list[int]], np.ndarray] = catalog.vectors
    if len(ids) > exact_max:  # the join reads every vector: one pass over the table beats lookups
        all_ids, all_vecs = catalog.all_vectors()

        def from_memory(wanted: list[int]) -> np.ndarray:
            return all_vecs[np.searchsorted(all_ids, np.asarray(wanted, np.int64))]
        vectors_of = from_memory
    if th.use_embedding:
        gate = min(th.embed_gate, th.similar_cos if similar else 1.0, th.crop_cos)
        kwargs = {"exact_max": exact_max}
        vector_store = store() if store and len(ids) <= exact_max else None
        pairs = similar_pairs(ids, vectors_of, gate, store=vector_store,
                              progress=(lambda d, t: progress("comparing", d, t)) if progress else None,
                              **kwargs)
        for a, b, s in zip(pairs.a.tolist(), pairs.b.tolist(), pairs.score.tolist()):
            cand[(index_of[a], index_of[b])] = s
    band = _band_pairs(reps, hashes) if th.use_embedding else _all_hash_pairs(reps, hashes, th.phash_only)
    extra = [p for p in band if p not in cand]
    if extra and th.use_embedding:
        for (i, j), s in zip(extra, _cosines(vectors_of, ids, extra)):
            cand[(i, j)] = s
    elif extra:
        for p in extra:
            cand[p] = float("nan")
    if not cand:
        return {}, set()
    keys = np.array(list(cand.keys()), dtype=np.int64).reshape(-1, 2)
    cos = np.array(list(cand.values()), dtype=np.float32)
    has = np.array([r.sha in hashes for r in reps], dtype=bool)
    phashes = np.array([hashes[r.sha].phash if r.sha in hashes else 0 for r in reps], dtype=np.uint64)
    edges: dict[tuple[str, str], _Edge] = {}
    grey: set[str] = set()
    pix_cache: dict[str, str | None] = {}
    for start in range(0, len(keys), PAIR_CHUNK):
        chunk_edges = _judge_chunk(catalog, reps, hashes, has, phashes, keys[start:start + PAIR_CHUNK, 0],
                                   keys[start:start + PAIR_CHUNK, 1], cos[start:start + PAIR_CHUNK], th, similar,
                                   grey)
        for i, j, edge in chunk_edges:
            if edge.tier == "copy" and (edge.pixels_only or _maybe_same_pixels(reps[i], reps[j], edge, th)):
                same_size = (reps[i].width, reps[i].height) == (reps[j].width, reps[j].height)
                pa = _pixels(catalog, reps[i], pix_cache) if same_size else None
                pb = _pixels(catalog, reps[j], pix_cache) if same_size else None
                if pa is not None and pa == pb:
                    edge = _Edge("exact", "same-pixels", edge.scores, True)
                elif edge.pixels_only and similar and edge.scores["cosine"] >= th.similar_cos:
                    edge = _Edge("similar", "embedding", edge.scores)
                elif edge.pixels_only:
                    continue
            edges[(reps[i].sha, reps[j].sha)] = edge
            edges[(reps[j].sha, reps[i].sha)] = edge
        if progress:
            progress("judging", min(start + PAIR_CHUNK, len(keys)), len(keys))
    return edges, grey


def _judge_chunk(catalog: Catalog, reps: list[FileRow], hashes: dict[str, ImageHashes], has: np.ndarray,
                 phashes: np.ndarray, I: np.ndarray, J: np.ndarray, cos: np.ndarray, th: Thresholds,
                 similar: bool, grey_out: set[str]) -> list[tuple[int, int, _Edge]]:
    """The rules of the module docstring, vectorised over candidate pairs ``(I[k], J[k])``."""
    n = len(I)
    hashed = has[I] & has[J]
    ph = np.full(n, 64, dtype=np.int64)
    grey = np.zeros(n, np.float32)
    aligned = np.zeros(n, np.float32)
    color = np.full(n, np.inf, np.float32)
    greyish = np.zeros(n, bool)
    is_hash = np.zeros(n, bool)
    is_crop = np.zeros(n, bool)
    blank = np.zeros(n, bool)  # one side is blank: its hashes and thumbnails say nothing
    h = np.flatnonzero(hashed)
    if len(h):
        ph[h] = hamming_many(phashes[I[h]], phashes[J[h]])
    if not th.use_embedding:
        return [(int(i), int(j), _Edge("copy", "phash", {"phash": int(d)}))
                for i, j, d in zip(I, J, ph) if d <= th.phash_only]
    with np.errstate(invalid="ignore"):
        maybe_hash = hashed & (ph <= th.hash_phash) & (cos >= th.hash_gate_cos)
        maybe_crop = hashed & (ph <= th.crop_phash) & (cos >= th.crop_cos)
    look = np.flatnonzero(maybe_hash | maybe_crop)
    if len(look):
        units = sorted({int(x) for x in I[look]} | {int(x) for x in J[look]})
        pos = {u: k for k, u in enumerate(units)}
        thumbs = _thumbnails(catalog, hashes, [reps[u].sha for u in units])
        whole = grey_views([thumbs[reps[u].sha].grey for u in units], whole_only=True)[:, 0]
        flat = contrast([thumbs[reps[u].sha].grey for u in units]) < th.flat_contrast
        shares, bright, colourful = chromaticity([thumbs[reps[u].sha].color for u in units])
        grey_out.update(reps[units[k]].sha for k in np.flatnonzero(colourful < th.grey_saturation))
        va = np.array([pos[int(x)] for x in I[look]])
        vb = np.array([pos[int(x)] for x in J[look]])
        grey[look] = np.einsum("pk,pk->p", whole[va], whole[vb])
        color[look] = colour_distance(shares[va], bright[va], shares[vb], bright[vb])
        greyish[look] = np.minimum(colourful[va], colourful[vb]) < th.grey_saturation
        blank[look] = flat[va] | flat[vb]
        agree = (color[look] <= th.color) | greyish[look]
        # a crop's colour cells no longer line up, hence its looser colour test; but two pictures
        # whose whole thumbnails already line up are not a crop of each other, and get the strict
        # one, unless their pHashes say the very same structure (brightening clips highlights,
        # which moves the colour shares of an exact copy a little)
        uncropped = (grey[look] >= th.hash_grey) & (ph[look] > th.near_phash)
        agree_crop = np.where(uncropped, agree, color[look] <= th.crop_color) | greyish[look]
        # a very close embedding stands in for the grey thumbnail, which aliasing spoils when a
        # fine texture is shrunk a lot
        close = (cos[look] >= th.close_cos) & (ph[look] <= th.close_phash)
        is_hash[look] = maybe_hash[look] & agree & ((grey[look] >= th.hash_grey) | close) & ~blank[look]
        try_crop = maybe_crop[look] & agree_crop & ~is_hash[look] & ~blank[look]
        crop_pairs = np.flatnonzero(try_crop)
        for start in range(0, len(crop_pairs), 1024):  # the 19 views, for these few pairs only
            c = crop_pairs[start:start + 1024]
            crop_units = sorted(set(va[c].tolist()) | set(vb[c].tolist()))
            cpos = {u: k for k, u in enumerate(crop_units)}
            views = grey_views([thumbs[reps[units[u]].sha].grey for u in crop_units])
            ca, cb = np.array([cpos[u] for u in va[c]]), np.array([cpos[u] for u in vb[c]])
            a_to_b = np.einsum("pvk,pk->pv", views[ca], views[cb, 0]).max(axis=1)
            b_to_a = np.einsum("pk,pvk->pv", views[ca, 0], views[cb]).max(axis=1)
            aligned[look[c]] = np.maximum(a_to_b, b_to_a)
            is_crop[look[c]] = aligned[look[c]] >= th.crop_aligned
    # blank pictures that hash alike: the same picture only if their pixels are (checked by _judge)
    blank_twins = blank & maybe_hash & (ph <= th.pixels_phash) & ~is_hash & ~is_crop
    out = []
    for k in np.flatnonzero(is_hash | is_crop | blank_twins | ((cos >= th.similar_cos) if similar else False)):
        scores: dict[str, float] = {"cosine": round(float(cos[k]), 4)}
        if hashed[k]:
            scores["phash"] = int(ph[k])
        if np.isfinite(color[k]):
            scores.update(grey=round(float(grey[k]), 4), color=round(float(color[k]), 4))
        if aligned[k]:
            scores["aligned"] = round(float(aligned[k]), 4)
        if is_hash[k]:
            near = (ph[k] <= th.near_phash and grey[k] >= th.near_grey and color[k] <= th.color
                    and cos[k] >= th.near_cos)
            edge = _Edge("copy", "hash", scores, bool(near))
        elif is_crop[k]:
            edge = _Edge("copy", "crop", scores)
        elif blank_twins[k]:
            edge = _Edge("copy", "hash", scores, pixels_only=True)
        else:
            edge = _Edge("similar", "embedding", scores)
        out.append((int(I[k]), int(J[k]), edge))
    return out


def _thumbnails(catalog: Catalog, hashes: dict[str, ImageHashes], shas: list[str]) -> dict[str, ImageHashes]:
    """Hashes with their thumbnails (loaded from the catalogue on demand, not kept)."""
    out = {s: hashes[s] for s in shas if hashes[s].grey}
    out.update(catalog.hashes_for([s for s in shas if s not in out]))
    return out


def _maybe_same_pixels(a: FileRow, b: FileRow, edge: _Edge, th: Thresholds) -> bool:
    return (a.width, a.height) == (b.width, b.height) and a.width is not None \
        and edge.scores.get("phash", 99) <= th.pixels_phash


def _pixels(catalog: Catalog, row: FileRow, cache: dict[str, str | None]) -> str | None:
    if row.sha in cache:
        return cache[row.sha]
    stored = catalog.pixel_hashes([row.sha]).get(row.sha)
    if stored is not None and not stored.startswith(PIXEL_HASH_VERSION):
        stored = None  # made by an older pixseek, which flattened transparency: made again
    if stored is None:
        try:
            stored = pixel_hash(row.path)
        except (ImageDecodeError, OSError):
            stored = None
        if stored is not None:
            with catalog.transaction() as db:
                catalog.set_pixel_hash(db, row.sha, stored)
    cache[row.sha] = stored
    return stored


def _band_pairs(reps: list[FileRow], hashes: dict[str, ImageHashes]) -> set[tuple[int, int]]:
    """Pairs of units whose pHashes agree on one of four 16-bit bands (all pairs within 3 bits,
    most within 12)."""
    idx = [k for k, r in enumerate(reps) if r.sha in hashes]
    if len(idx) < 2:
        return set()
    ph = np.array([hashes[reps[k].sha].phash for k in idx], dtype=np.uint64)
    idx_arr = np.array(idx)
    out: set[tuple[int, int]] = set()
    for band in range(4):
        key = (ph >> np.uint64(16 * band)) & np.uint64(0xFFFF)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        sizes = np.diff(np.r_[starts, len(sk)])
        fits = (sizes >= 2) & (sizes <= BAND_BUCKET_MAX)
        for s, n in zip(starts[fits], sizes[fits]):
            members = np.sort(idx_arr[order[s:s + n]])
            for x in range(n):
                for y in range(x + 1, n):
                    out.add((int(members[x]), int(members[y])))
    return out


def _all_hash_pairs(reps: list[FileRow], hashes: dict[str, ImageHashes], limit: int) -> set[tuple[int, int]]:
    """pHash alone: every pair within ``limit`` bits (quadratic: for the evaluation's baseline)."""
    idx = [k for k, r in enumerate(reps) if r.sha in hashes]
    ph = np.array([hashes[reps[k].sha].phash for k in idx], dtype=np.uint64)
    out = set()
    for x in range(len(idx)):
        d = hamming_many(np.full(len(idx) - x - 1, ph[x], dtype=np.uint64), ph[x + 1:])
        for y in np.flatnonzero(d <= limit):
            out.add((idx[x], idx[x + 1 + int(y)]))
    return out


def _cosines(vectors_of: Callable[[list[int]], np.ndarray], ids: np.ndarray,
             pairs: list[tuple[int, int]]) -> list[float]:
    out = []
    for start in range(0, len(pairs), 5000):
        chunk = pairs[start:start + 5000]
        va = vectors_of([int(ids[i]) for i, _ in chunk])
        vb = vectors_of([int(ids[j]) for _, j in chunk])
        out.extend(np.einsum("ij,ij->i", va, vb).tolist())
    return out


# -- grouping ------------------------------------------------------------------------------------------
def _groups(nodes: list[str], edges: dict[tuple[str, str], _Edge], similar: bool,
            grey: set[str] = frozenset()) -> list[list[str]]:
    """Groups in three steps; none lets a chain A~B~C~D... grow:

    1. *near-identical* clusters (exact, or re-saves: a hash match within the ``near_*``
       thresholds) by complete linkage: every pair linked directly. Members are the same
       picture, so evidence for one holds for all (A = A' and A' ~ C is evidence for A ~ C).
    2. copy groups: stars of radius one. The cluster with copy evidence to the most others is
       an *anchor*; every free cluster with direct copy evidence to it joins it, and nothing
       else does: a copy of a copy that is not itself a copy of the anchor stays out. Two
       edits of one original (a crop and a grey copy) share a group because each is a copy of
       the original; the group's evidence says so. Grey clusters are anchors last: a grey
       picture matches every colour variant of a design, so it must not gather them.
    3. with ``similar``: copy groups merge by complete linkage on similar-or-better evidence
       (every pair of copy groups linked), so bursts never chain into one another.
    """
    near = {k: e for k, e in edges.items() if e.tier == "exact" or e.near}
    clusters = _complete_linkage(nodes, near, min_rank=_RANK["copy"])
    clusters = _stars(clusters, edges, grey)
    if similar:
        clusters = _merge_clusters(clusters, edges, _RANK["similar"])
    return clusters


def _stars(clusters: list[list[str]], edges: dict[tuple[str, str], _Edge],
           grey: set[str] = frozenset()) -> list[list[str]]:
    where = {m: k for k, c in enumerate(clusters) for m in c}
    links: dict[int, dict[int, tuple]] = defaultdict(dict)
    touching: dict[tuple[int, int], set[str]] = defaultdict(set)  # (anchor, other) -> anchor units linked
    for (a, b), e in edges.items():
        ka, kb = where[a], where[b]
        if ka != kb and _RANK[e.tier] >= _RANK["copy"]:
            touching[(ka, kb)].add(a)
            if e.strength > links[ka].get(kb, (0,)):
                links[ka][kb] = e.strength
    # A cluster joins an anchor only with evidence to at least half of the anchor's units (its
    # re-saves): one stray match with one re-save of a look-alike is not enough.
    for (ka, kb), units in touching.items():
        if 2 * len(units) < len(clusters[ka]):
            links[ka].pop(kb, None)
    order = sorted(range(len(clusters)), key=lambda k: (all(m in grey for m in clusters[k]), -len(links[k]),
                                                         -len(clusters[k]),
                                                         -max(links[k].values(), default=(0, 0, 0))[2], k))
    taken: set[int] = set()
    out = []
    for anchor in order:
        if anchor in taken:
            continue
        taken.add(anchor)
        group = list(clusters[anchor])
        for other in sorted(links[anchor], key=lambda k: links[anchor][k], reverse=True):
            if other not in taken and len(group) + len(clusters[other]) <= MAX_GROUP:
                taken.add(other)
                group.extend(clusters[other])
        out.append(group)
    return out


def _merge_clusters(clusters: list[list[str]], edges: dict[tuple[str, str], _Edge],
                    min_rank: int) -> list[list[str]]:
    where = {m: k for k, c in enumerate(clusters) for m in c}
    lifted: dict[tuple[int, int], _Edge] = {}
    for (a, b), e in edges.items():
        ka, kb = where[a], where[b]
        if ka == kb or _RANK[e.tier] < min_rank:
            continue
        current = lifted.get((ka, kb))
        if current is None or e.strength > current.strength:
            lifted[(ka, kb)] = e
    merged = _complete_linkage(list(range(len(clusters))), lifted, min_rank=min_rank)
    return [[m for k in ks for m in clusters[k]] for ks in merged]


def _complete_linkage(nodes: list[str], edges: dict[tuple[str, str], _Edge], *, min_rank: int,
                      start: list[list[str]] | None = None) -> list[list[str]]:
    """Greedy complete linkage: strongest evidence first; two clusters merge only when every cross
    pair has an edge of at least ``min_rank``."""
    clusters: dict[int, list[str]] = {}
    where: dict[str, int] = {}
    for k, members in enumerate(start if start is not None else [[n] for n in nodes]):
        clusters[k] = list(members)
        for m in members:
            where[m] = k
    ordered = sorted(((e.strength, a, b) for (a, b), e in edges.items() if a < b and _RANK[e.tier] >= min_rank),
                     reverse=True)
    for _, a, b in ordered:
        ca, cb = where[a], where[b]
        if ca == cb:
            continue
        xa, xb = clusters[ca], clusters[cb]
        if len(xa) + len(xb) > MAX_GROUP:
            continue
        if all((x, y) in edges and _RANK[edges[(x, y)].tier] >= min_rank for x in xa for y in xb):
            if len(xa) < len(xb):
                ca, cb, xa, xb = cb, ca, xb, xa
            xa.extend(xb)
            for m in xb:
                where[m] = ca
            del clusters[cb]
    return list(clusters.values())


def _group(shas: list[str], by_sha: dict[str, _Unit], edges: dict[tuple[str, str], _Edge],
           policy: KeepPolicy, protect_dirs: list[str]) -> DuplicateGroup:
    rows = [r for sha in shas for r in by_sha[sha].rows]
    members = [_member(r, protect_dirs) for r in rows]
    evidence: list[Evidence] = []
    for sha in shas:
        unit = by_sha[sha].rows
        for other in unit[1:]:
            evidence.append(Evidence(unit[0].path, other.path, "exact", "same-bytes", {}))
    tiers = {"exact"}
    for x in range(len(shas)):
        for y in range(x + 1, len(shas)):
            e = edges.get((shas[x], shas[y]))
            if e is None:  # linked through a near-identical member (see _groups)
                continue
            tiers.add(e.tier)
            evidence.append(Evidence(by_sha[shas[x]].rep.path, by_sha[shas[y]].rep.path, e.tier, e.rule,
                                     dict(e.scores)))
    kind = min(tiers, key=lambda t: _RANK[t])
    keeper = choose_keeper(members, policy)
    return DuplicateGroup(kind, keeper.path, _mark_links(members, keeper), evidence)


def _member(row: FileRow, protect_dirs: list[str]) -> DuplicateMember:
    protected = any(_under(row.path, d) for d in protect_dirs)
    return DuplicateMember(row.path, row.id, row.size, row.width, row.height, row.taken_at, row.format,
                           row.mtime_ns, row.sha or "", protected=protected)


def _mark_links(members: list[DuplicateMember], keeper: DuplicateMember) -> list[DuplicateMember]:
    """Mark members no action may touch: a symlink (acting on it frees nothing), the keeper's own
    file under another name (a hard link, or the target of a symlink keeper), and the target of
    a symlink member (trashing it would leave that link pointing at nothing)."""
    try:
        kst = os.stat(keeper.path)
    except OSError:
        return members
    targets = set()
    for m in members:
        if os.path.islink(m.path):
            with contextlib.suppress(OSError):
                targets.add(os.path.realpath(m.path))
    out = []
    for m in members:
        link = None
        if m.path != keeper.path:
            try:
                st = os.stat(m.path)
                if os.path.islink(m.path):
                    link = "symlink"
                elif (st.st_dev, st.st_ino) == (kst.st_dev, kst.st_ino):
                    link = "symlink" if os.path.islink(keeper.path) else "hardlink"
                elif os.path.realpath(m.path) in targets:
                    link = "symlink-target"
            except OSError:
                link = None
        out.append(replace(m, link=link) if link else m)
    return out


# -- keeper ------------------------------------------------------------------------------------------
def choose_keeper(members: list[DuplicateMember], policy: KeepPolicy) -> DuplicateMember:
    """The member to keep: never a symlink when a real file is there; then by ``policy``."""
    real = [m for m in members if not os.path.islink(m.path)] or members

    def default_key(m: DuplicateMember) -> tuple:
        pixels = (m.width or 0) * (m.height or 0)
        lossless = (m.format or "").upper() in LOSSLESS
        bytes_per_pixel = m.size / pixels if pixels else 0.0
        return (-pixels, not lossless, -bytes_per_pixel, m.taken_at or "9999", len(m.path), m.path)

    def when(m: DuplicateMember) -> str:
        return m.taken_at or _iso(m.mtime_ns)

    ordered = sorted(real, key=default_key)  # ties below go to the default order
    if policy.name == "largest":
        return max(ordered, key=lambda m: m.size)
    if policy.name == "oldest":
        return min(ordered, key=when)
    if policy.name == "newest":
        return max(ordered, key=when)
    if policy.name == "path":
        return min(real, key=lambda m: (not _under(m.path, policy.folder or ""), default_key(m)))
    return min(real, key=default_key)


def _iso(mtime_ns: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(mtime_ns / 1e9).isoformat(timespec="seconds")


def _norm_dir(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path)).rstrip(os.sep) or os.sep


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
