"""Photographers' shots: RAW+JPEG pairs and bursts, worked out from catalogue facts when needed.

- A **RAW+JPEG pair** is a camera RAW file and a picture of the same shot that the camera wrote
  next to it: the same folder and file stem (``IMG_0001.CR2`` + ``IMG_0001.JPG``), else the same
  capture time (to the sub-second when recorded) and camera, one RAW and one not, each unpaired
  otherwise. A pair is one photo: search shows it once ("RAW+JPEG"), dedup never splits it.
- A **burst** is two or more shots by one camera, each within ``BURST_GAP_S`` of the next (capture
  time plus EXIF SubSecTimeOriginal; frames with the camera's frame numbers must be consecutive).
  Search collapses a burst like copies; ``dedup --similar`` reports it as one group, keeping the
  sharpest frame.

Nothing here is stored: pairs and bursts follow from the files' paths, capture times and cameras
(``Catalog.shot_facts``), so they stay right when files come, go or move.

    >>> from pixseek.catalog import ShotFacts as F
    >>> s = find_shots([F(1, "/a/IMG_1.CR2", "x", None, "RAW"), F(2, "/a/IMG_1.JPG", "y", None, "JPEG")])
    >>> s.pairs
    {1: 2, 2: 1}
    >>> s.label([1])
    'RAW+JPEG'
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .catalog import Catalog, ShotFacts

BURST_GAP_S = 2.0  # at most this many seconds from one frame of a burst to the next
RAW_FORMAT = "RAW"
PAIR_LABEL = "RAW+JPEG"


@dataclass
class Shots:
    """Pairs (file id -> its partner's id, both ways) and bursts (lists of file ids, in time order)."""

    pairs: dict[int, int] = field(default_factory=dict)
    bursts: list[list[int]] = field(default_factory=list)
    facts: dict[int, ShotFacts] = field(default_factory=dict, repr=False)

    def burst_of(self) -> dict[int, list[int]]:
        return {fid: b for b in self.bursts for fid in b}

    def label(self, ids: Iterable[int]) -> str:
        """"RAW+JPEG", "burst of 5", or both, for a search result standing for ``ids``."""
        ids = set(ids)
        parts = []
        if any(i in self.pairs for i in ids):
            parts.append(PAIR_LABEL)
        bursts = [b for b in self.bursts if ids & set(b)]
        if bursts:
            frames = max(len(_shot_keys([self.facts[i] for i in b if i in self.facts], self.pairs)) for b in bursts)
            parts.append(f"burst of {frames}")
        return " · ".join(parts)


def find_shots(facts: Sequence[ShotFacts]) -> Shots:
    """Pairs and bursts among ``facts`` (see the module docstring)."""
    pairs = _pairs(facts)
    return Shots(pairs, _bursts(facts, pairs), {f.id: f for f in facts})


def is_raw(f: ShotFacts) -> bool:
    return (f.format or "").upper() == RAW_FORMAT


def _stem(path: str) -> str:
    return os.path.splitext(path)[0].lower()


def _pairs(facts: Sequence[ShotFacts]) -> dict[int, int]:
    pairs: dict[int, int] = {}
    by_stem: dict[str, list[ShotFacts]] = defaultdict(list)
    for f in facts:
        by_stem[_stem(f.path)].append(f)
    for group in by_stem.values():
        _pair_one_to_one(group, pairs)
    # the same shot in two folders (two card slots): same camera and capture time, unpaired so far
    paired_shas = {f.sha for f in facts if f.id in pairs}
    by_moment: dict[tuple, list[ShotFacts]] = defaultdict(list)
    for f in facts:
        if f.id not in pairs and f.sha not in paired_shas and f.camera and f.taken_at:
            by_moment[(f.camera, f.taken_at, f.subsec)].append(f)
    for group in by_moment.values():
        _pair_one_to_one(group, pairs)
    return pairs


def _pair_one_to_one(group: list[ShotFacts], pairs: dict[int, int]) -> None:
    """One RAW and one other picture, and nothing else, make a pair."""
    raws = [f for f in group if is_raw(f)]
    others = [f for f in group if not is_raw(f)]
    if len(raws) == 1 and len(others) == 1:
        pairs[raws[0].id], pairs[others[0].id] = others[0].id, raws[0].id


def moment(f: ShotFacts) -> datetime | None:
    """Capture time with its sub-second, or None."""
    if not f.taken_at:
        return None
    try:
        t = datetime.fromisoformat(f.taken_at)
    except ValueError:
        return None
    return t + timedelta(seconds=f.subsec or 0.0)


def _bursts(facts: Sequence[ShotFacts], pairs: dict[int, int]) -> list[list[int]]:
    by_camera: dict[str, list[tuple[datetime, ShotFacts]]] = defaultdict(list)
    for f in facts:
        t = moment(f)
        if t is not None and f.camera:
            by_camera[f.camera].append((t, f))
    out: list[list[int]] = []
    for frames in by_camera.values():
        frames.sort(key=lambda tf: (tf[0], tf[1].id))
        run = [frames[0]]
        for prev, cur in zip(frames, frames[1:]):
            if _same_burst(prev, cur):
                run.append(cur)
            else:
                _close(run, pairs, out)
                run = [cur]
        _close(run, pairs, out)
    return out


def _same_burst(prev: tuple[datetime, ShotFacts], cur: tuple[datetime, ShotFacts]) -> bool:
    if (cur[0] - prev[0]).total_seconds() > BURST_GAP_S:
        return False
    a, b = prev[1].sequence, cur[1].sequence
    return a is None or b is None or b - a in (0, 1)  # 0: the two halves of a pair


def _close(run: list[tuple[datetime, ShotFacts]], pairs: dict[int, int], out: list[list[int]]) -> None:
    if len(_shot_keys([f for _, f in run], pairs)) >= 2:  # copies of one file, or a pair, are no burst
        out.append([f.id for _, f in run])


def _shot_keys(frames: Sequence[ShotFacts], pairs: dict[int, int]) -> set[str]:
    """One key per shot: copies share their content hash, a pair's halves share the smaller one."""
    sha_of = {f.id: f.sha for f in frames}
    return {min(f.sha, sha_of.get(pairs.get(f.id, -1), f.sha)) for f in frames}


def shots_near(catalog: Catalog, ids: Sequence[int], max_rounds: int = 20) -> Shots:
    """Pairs and bursts that files ``ids`` belong to, from the catalogue rows around them only
    (same stems; same camera within ``BURST_GAP_S``, widened until the bursts are whole)."""
    known: dict[int, ShotFacts] = {f.id: f for f in catalog.shot_facts(ids)}
    for f in list(known.values()):
        for g in catalog.shot_facts(paths_from=os.path.splitext(f.path)[0] + "."):
            known.setdefault(g.id, g)
    done: set[tuple[str, str, str]] = set()
    for _ in range(max_rounds):
        spans = _spans(known.values())
        todo = [s for s in spans if s not in done]
        if not todo:
            break
        for camera, lo, hi in todo:
            done.add((camera, lo, hi))
            for g in catalog.shot_facts(camera=camera, between=(lo, hi)):
                known.setdefault(g.id, g)
    return find_shots(list(known.values()))


def _spans(facts: Iterable[ShotFacts]) -> list[tuple[str, str, str]]:
    """Per camera, the capture-time spans of the known frames (frames closer than the burst gap
    share one), each widened by the gap: where the rest of their bursts can be."""
    times: dict[str, set[datetime]] = defaultdict(set)
    for f in facts:
        t = moment(f)
        if t is not None and f.camera:
            times[f.camera].add(t.replace(microsecond=0))
    pad = timedelta(seconds=int(BURST_GAP_S) + 1)
    out = []
    for camera, ts in times.items():
        ordered = sorted(ts)
        lo = hi = ordered[0]
        for t in ordered[1:]:
            if t - hi > 2 * pad:
                out.append((camera, (lo - pad).isoformat(), (hi + pad).isoformat()))
                lo = t
            hi = t
        out.append((camera, (lo - pad).isoformat(), (hi + pad).isoformat()))
    return out
