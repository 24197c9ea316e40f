"""Groups without chains, from the evidence between pairs of contents; and the group a user sees.

Files with the same content hash are one :class:`Unit` (``exact``, same bytes); the evidence links
units (one picture each). See :func:`cluster` for how groups form.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace

from ..catalog import FileRow
from ..paths import is_under
from ..types import DuplicateGroup, DuplicateMember, Evidence
from .keeper import KeepPolicy, choose_keeper
from .rules import RANK, Edge

MAX_GROUP = 1000  # complete linkage is quadratic in a group: beyond this, groups stop growing


@dataclass
class Unit:
    """The indexed files of one content (same bytes), and the other halves of their RAW+JPEG pairs
    (``partners``: one photo with them; they follow the unit and are never compared on their own)."""

    rows: list[FileRow]
    partners: dict[int, FileRow] = field(default_factory=dict)  # row id -> its pair's other half

    @property
    def rep(self) -> FileRow:
        return self.rows[0]


def cluster(nodes: list[str], edges: dict[tuple[str, str], Edge], similar: bool,
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
    clusters = complete_linkage(nodes, near, min_rank=RANK["copy"])
    clusters = _stars(clusters, edges, grey)
    if similar:
        clusters = _merge_clusters(clusters, edges, RANK["similar"])
    return clusters


def _stars(clusters: list[list[str]], edges: dict[tuple[str, str], Edge],
           grey: set[str] = frozenset()) -> list[list[str]]:
    where = {m: k for k, c in enumerate(clusters) for m in c}
    links: dict[int, dict[int, tuple]] = defaultdict(dict)
    touching: dict[tuple[int, int], set[str]] = defaultdict(set)  # (anchor, other) -> anchor units linked
    for (a, b), e in edges.items():
        ka, kb = where[a], where[b]
        if ka != kb and RANK[e.tier] >= RANK["copy"]:
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


def _merge_clusters(clusters: list[list[str]], edges: dict[tuple[str, str], Edge],
                    min_rank: int) -> list[list[str]]:
    where = {m: k for k, c in enumerate(clusters) for m in c}
    lifted: dict[tuple[int, int], Edge] = {}
    for (a, b), e in edges.items():
        ka, kb = where[a], where[b]
        if ka == kb or RANK[e.tier] < min_rank:
            continue
        current = lifted.get((ka, kb))
        if current is None or e.strength > current.strength:
            lifted[(ka, kb)] = e
    merged = complete_linkage(list(range(len(clusters))), lifted, min_rank=min_rank)
    return [[m for k in ks for m in clusters[k]] for ks in merged]


def complete_linkage(nodes: list[str], edges: dict[tuple[str, str], Edge], *, min_rank: int,
                      start: list[list[str]] | None = None) -> list[list[str]]:
    """Greedy complete linkage: strongest evidence first; two clusters merge only when every cross
    pair has an edge of at least ``min_rank``."""
    clusters: dict[int, list[str]] = {}
    where: dict[str, int] = {}
    for k, members in enumerate(start if start is not None else [[n] for n in nodes]):
        clusters[k] = list(members)
        for m in members:
            where[m] = k
    ordered = sorted(((e.strength, a, b) for (a, b), e in edges.items() if a < b and RANK[e.tier] >= min_rank),
                     reverse=True)
    for _, a, b in ordered:
        ca, cb = where[a], where[b]
        if ca == cb:
            continue
        xa, xb = clusters[ca], clusters[cb]
        if len(xa) + len(xb) > MAX_GROUP:
            continue
        if all((x, y) in edges and RANK[edges[(x, y)].tier] >= min_rank for x in xa for y in xb):
            if len(xa) < len(xb):
                ca, cb, xa, xb = cb, ca, xb, xa
            xa.extend(xb)
            for m in xb:
                where[m] = ca
            del clusters[cb]
    return list(clusters.values())


def pictures(shas: list[str], by_sha: dict[str, Unit]) -> int:
    """Files in a group, a RAW+JPEG pair counting once."""
    return sum(len(by_sha[sha].rows) for sha in shas)


def make_group(shas: list[str], by_sha: dict[str, Unit], edges: dict[tuple[str, str], Edge],
           policy: KeepPolicy, protect_dirs: list[str], sharpness: dict[str, float] | None = None,
           bursts: dict[str, int] | None = None) -> DuplicateGroup:
    """One group as the user sees it; ``bursts`` (content hash -> burst number): a group that is
    one burst's frames keeps its sharpest (``sharpness``, content hash -> value)."""
    sharpness, bursts = sharpness or {}, bursts or {}
    members = []
    for sha in shas:
        unit = by_sha[sha]
        for r in unit.rows:
            partner = unit.partners.get(r.id)
            members.append(_member(r, protect_dirs, partner.path if partner else None, sharpness.get(r.sha or "")))
            if partner is not None:
                members.append(_member(partner, protect_dirs, r.path, sharpness.get(partner.sha or "")))
    evidence: list[Evidence] = []
    for sha in shas:
        unit = by_sha[sha].rows
        for other in unit[1:]:
            evidence.append(Evidence(unit[0].path, other.path, "exact", "same-bytes", {}))
        for fid, partner in by_sha[sha].partners.items():
            evidence.append(Evidence(next(r.path for r in unit if r.id == fid), partner.path, "pair", "raw+jpeg", {}))
    tiers = {"exact"}
    for x in range(len(shas)):
        for y in range(x + 1, len(shas)):
            e = edges.get((shas[x], shas[y]))
            if e is None:  # linked through a near-identical member (see cluster)
                continue
            tiers.add(e.tier)
            evidence.append(Evidence(by_sha[shas[x]].rep.path, by_sha[shas[y]].rep.path, e.tier, e.rule,
                                     dict(e.scores)))
    burst_ids = {bursts.get(sha) for sha in shas}
    burst = len(shas) >= 2 and len(burst_ids) == 1 and None not in burst_ids
    if burst:
        first = by_sha[shas[0]].rep.path
        evidence += [Evidence(first, by_sha[sha].rep.path, "similar", "burst", {}) for sha in shas[1:]]
        tiers.add("similar")
    kind = min(tiers, key=lambda t: RANK[t])
    keeper = choose_keeper(members, policy, sharpest=burst)
    return DuplicateGroup(kind, keeper.path, _mark_links(members, keeper), evidence)


def _member(row: FileRow, protect_dirs: list[str], pair: str | None = None,
            sharpness: float | None = None) -> DuplicateMember:
    protected = any(is_under(row.path, d) for d in protect_dirs)
    return DuplicateMember(row.path, row.id, row.size, row.width, row.height, row.taken_at, row.format,
                           row.mtime_ns, row.sha or "", protected=protected, pair=pair, sharpness=sharpness)


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
