"""Finding duplicates: the whole run, from the catalogue to groups with evidence and a keeper each.

How a run goes (docs/dedup.md has the measurements behind every number):

1. Files with the same content hash are one *unit* (``exact``, same bytes); units are compared by
   one representative (:class:`~.grouping.Unit`).
2. Candidates (:mod:`.candidates`): pairs of units whose vectors score ``>= embed_gate`` (the
   similarity join of :mod:`.simjoin`; no N x N matrix), plus pairs whose pHashes share a 16-bit band.
3. Each candidate pair is measured (:mod:`.features`) and judged on its own evidence by the rules
   of :mod:`.rules` (exact / copy by hash or crop / similar; blank pictures only by their pixels).
4. Groups without chains (:mod:`.grouping`): A~B and B~C never pull A and C together unless B is
   the anchor both are copies of. Pairs the user marked "not duplicates" have no evidence.
5. Each group gets a keeper by policy (:mod:`.keeper`); ``--protect`` folders and links are
   marked, never acted on.

Photographers' shots (:mod:`pixseek.shots`): the two halves of a RAW+JPEG pair are one unit (the
RAW follows its JPEG, compared by the JPEG alone), so a pair is never a group by itself and never
split; with ``similar``, the frames of a burst are linked to each other (``similar``, rule
``burst``), so a burst is one group, and its sharpest frame is the keeper.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from ..catalog import Catalog, FileRow
from ..errors import ImageDecodeError
from ..hashing import PIXEL_HASH_VERSION, ImageHashes, perceptual_hashes, pixel_hash
from ..imaging import decode_image
from ..indexing.signals import PERCEPTUAL
from ..paths import norm_dir
from ..shots import find_shots
from ..stores.base import VectorStore
from ..types import DuplicateGroup
from ..types import StageProgressFn as ProgressFn
from . import rules
from .candidates import candidate_pairs
from .features import Pictures, measure
from .grouping import Unit, cluster, make_group, pictures
from .keeper import KeepPolicy
from .rules import RANK, Edge, Thresholds, thresholds_for

PAIR_CHUNK = 8192  # candidate pairs measured and judged at once


def find_duplicates(catalog: Catalog, store: Callable[[], VectorStore] | None, *,
                    roots: Sequence[str] | None = None, similar: bool = False,
                    keep: KeepPolicy | str | None = None, protect: Iterable[str] = (),
                    thresholds: Thresholds | None = None, exact_max: int | None = None,
                    progress: ProgressFn | None = None) -> list[DuplicateGroup]:
    """Duplicate groups among the indexed files under ``roots`` (all when None), best first.

    ``store`` is a zero-argument callable giving the vector store (loaded only when the exact
    range search is used).

    >>> groups = find_duplicates(lib.catalog, lambda: lib.store, similar=True)   # doctest: +SKIP
    >>> groups[0].kind, groups[0].keep, groups[0].evidence[0].describe()      # doctest: +SKIP
    """
    th = thresholds or thresholds_for(catalog.get_meta("model"))
    policy = keep if isinstance(keep, KeepPolicy) else KeepPolicy.parse(keep)
    protect_dirs = [norm_dir(p) for p in protect]
    rows = list(catalog.rows_under(roots) if roots else catalog.ok_rows())
    ok = [r for r in rows if r.status == "ok" and r.sha]
    ok_ids = {r.id for r in ok}
    facts = [f for f in catalog.shot_facts() if f.id in ok_ids]
    shots = find_shots(facts)
    units = _join_pairs(_units(ok), shots.pairs)
    reps = [u.rep for u in units]
    pics = Pictures(catalog, reps, _hashes(catalog, reps, progress))
    edges, grey = _judge(pics, store, th, similar, exact_max, progress) if len(reps) > 1 else ({}, set())
    if similar:
        _link_bursts(shots.bursts, units, edges)
    for a, b in catalog.not_duplicates():
        for key in ((a, b), (b, a)):
            edges.pop(key, None)
    by_sha = {u.rep.sha: u for u in units}
    sharp = {f.sha: f.sharpness for f in facts if f.sharpness is not None} if similar else {}
    burst_of = _burst_of(shots.bursts, units) if similar else {}
    groups = [make_group(shas, by_sha, edges, policy, protect_dirs, sharp, burst_of)
              for shas in cluster([u.rep.sha for u in units], edges, similar, grey)
              if pictures(shas, by_sha) >= 2]
    groups.sort(key=lambda g: (-RANK[g.kind], -len(g.members), g.keep))
    return groups


def _units(rows: list[FileRow]) -> list[Unit]:
    by_sha: dict[str, list[FileRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.id):
        by_sha[r.sha].append(r)
    return [Unit(v) for v in by_sha.values()]


def _join_pairs(units: list[Unit], pairs: dict[int, int]) -> list[Unit]:
    """The RAW half of each pair leaves its own unit and follows its JPEG's; a unit left empty goes."""
    unit_of = {r.id: u for u in units for r in u.rows}
    for u in units:
        for r in list(u.rows):
            partner = pairs.get(r.id)
            if partner is None or r.format == "RAW" or partner not in unit_of or r.id not in unit_of:
                continue
            raw_unit = unit_of[partner]
            if raw_unit is u:
                continue
            raw_row = next(x for x in raw_unit.rows if x.id == partner)
            raw_unit.rows.remove(raw_row)
            u.partners[r.id] = raw_row
            del unit_of[partner]
    return [u for u in units if u.rows]


def _unit_sha(units: list[Unit]) -> dict[int, str]:
    """File id -> the content hash of the unit it is in (a pair's RAW: its JPEG's)."""
    sha_of = {r.id: u.rep.sha for u in units for r in u.rows}
    sha_of.update({p.id: u.rep.sha for u in units for p in u.partners.values()})
    return sha_of


def _burst_of(bursts: list[list[int]], units: list[Unit]) -> dict[str, int]:
    sha_of = _unit_sha(units)
    return {sha_of[i]: k for k, burst in enumerate(bursts) for i in burst if i in sha_of}


def _link_bursts(bursts: list[list[int]], units: list[Unit], edges: dict[tuple[str, str], Edge]) -> None:
    """Every two frames of a burst (their units) are linked as ``similar`` (rule ``burst``)."""
    sha_of = _unit_sha(units)
    for burst in bursts:
        shas = sorted({sha_of[i] for i in burst if i in sha_of})
        for a in shas:
            for b in shas:
                if a != b and (a, b) not in edges:
                    edges[(a, b)] = Edge("similar", "burst", {})


def _hashes(catalog: Catalog, reps: list[FileRow], progress: ProgressFn | None) -> dict[str, ImageHashes]:
    """Stored hashes. Indexing computes them (the ``perceptual`` signal) and fills them in for photos
    indexed before they existed; a photo no index run has seen since is decoded here once."""
    have = catalog.hashes_for((r.sha for r in reps), thumbnails=False)  # thumbnails: when needed
    missing = [r for r in reps if r.sha not in have]
    fresh: dict[str, ImageHashes] = {}
    for i, row in enumerate(missing):
        try:
            st = os.stat(row.path)
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                continue  # changed since indexing: these would be another content's hashes
            fresh[row.sha] = perceptual_hashes(decode_image(row.path, min_side=PERCEPTUAL.min_side).image)
        except (ImageDecodeError, OSError):
            continue  # gone or unreadable: judged on its vector alone
        if len(fresh) >= 200 or i == len(missing) - 1:
            _keep_hashes(catalog, fresh)
            have.update(fresh)
            fresh = {}
        if progress:
            progress("hashing", i + 1, len(missing))
    if fresh:  # the last rows were skipped after some were hashed
        _keep_hashes(catalog, fresh)
        have.update(fresh)
    return have


def _keep_hashes(catalog: Catalog, hashes: dict[str, ImageHashes]) -> None:
    """Store them as indexing would: the signal's value and its version."""
    with catalog.transaction() as db:
        for sha, h in hashes.items():
            PERCEPTUAL.write(catalog, db, sha, h)
            catalog.mark_signals(db, sha, {PERCEPTUAL.name: PERCEPTUAL.version})


def _judge(pics: Pictures, store: Callable[[], VectorStore] | None, th: Thresholds, similar: bool,
           exact_max: int | None, progress: ProgressFn | None) -> tuple[dict[tuple[str, str], Edge], set[str]]:
    """Evidence for every candidate pair that passes a rule, both ways round; and the content
    hashes of grey pictures met on the way (their colours cannot be checked)."""
    pairs, cos = candidate_pairs(pics, store, th, similar, exact_max, progress)
    edges: dict[tuple[str, str], Edge] = {}
    grey: set[str] = set()
    pixels = _PixelHashes(pics.catalog)
    for start in range(0, len(pairs), PAIR_CHUNK):
        chunk = pairs[start:start + PAIR_CHUNK]
        features, chunk_grey = measure(pics, chunk, cos[start:start + PAIR_CHUNK], th)
        grey |= chunk_grey
        for k, edge in rules.edges(features, th, similar):
            a, b = pics.reps[chunk[k, 0]], pics.reps[chunk[k, 1]]
            settled = _settle_pixels(a, b, edge, th, similar, pixels)
            if settled is not None:
                edges[(a.sha, b.sha)] = edges[(b.sha, a.sha)] = settled
        if progress:
            progress("judging", min(start + PAIR_CHUNK, len(pairs)), len(pairs))
    return edges, grey


def _settle_pixels(a: FileRow, b: FileRow, edge: Edge, th: Thresholds, similar: bool,
                   pixels: "_PixelHashes") -> Edge | None:
    """A copy that may be the very same pixels is decoded in full and compared (see
    :func:`.rules.settle_pixels`); other evidence stands as it is."""
    size_a, size_b = (a.width, a.height), (b.width, b.height)
    if edge.tier != "copy" or not (edge.pixels_only or rules.may_have_same_pixels(size_a, size_b, edge, th)):
        return edge
    pa = pixels(a) if size_a == size_b else None
    pb = pixels(b) if size_a == size_b else None
    return rules.settle_pixels(edge, pa is not None and pa == pb, th, similar)


class _PixelHashes:
    """Hashes of decoded pixels, by content: from the catalogue, else made once and stored."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.known: dict[str, str | None] = {}

    def __call__(self, row: FileRow) -> str | None:
        if row.sha not in self.known:
            self.known[row.sha] = self._load_or_make(row)
        return self.known[row.sha]

    def _load_or_make(self, row: FileRow) -> str | None:
        stored = self.catalog.pixel_hashes([row.sha]).get(row.sha)
        if stored is not None and stored.startswith(PIXEL_HASH_VERSION):
            return stored  # older ones flattened transparency: made again
        try:
            made = pixel_hash(row.path)
        except (ImageDecodeError, OSError):
            return None
        if made is not None:
            with self.catalog.transaction() as db:
                self.catalog.set_pixel_hash(db, row.sha, made)
        return made
