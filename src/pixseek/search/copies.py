"""Collapsing copies: one result per group of copies, the others listed with it ("+2 copies").

Where the groups come from is pluggable (:class:`CopyGroups`). :class:`ExactCopies` groups files
with the same content hash (byte-identical copies, which also share one vector); :class:`PhotoGroups`
(the library's default) adds RAW+JPEG pairs and bursts (``shots.py``) and labels them. The
duplicate finder (``dedup``) can feed its own groups (re-saved, resized, edited copies) by setting
``Library.copy_groups`` to any object with a ``groups_of`` method.

    >>> collapse([(7, 0.9), (9, 0.9), (4, 0.5)], {7: (7, 9), 9: (7, 9)})
    [(7, 0.9, (9,)), (4, 0.5, ())]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class CopyGroups(Protocol):
    """Groups of copies: a partition of the indexed files (a file is in at most one group)."""

    def groups_of(self, ids: Sequence[int]) -> Mapping[int, Sequence[int]]:
        """For each of ``ids`` in a group: all ids of its group, itself included. Ids in no group
        may be left out (they stand alone)."""
        ...


class ExactCopies:
    """Files with the same content hash (blake2b of the bytes), from the catalogue."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog

    def groups_of(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        ids = [int(i) for i in ids]
        db = self.catalog.db
        sha_of: dict[int, str] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            sha_of.update(db.execute(f"SELECT id, sha FROM files WHERE id IN ({marks}) AND sha IS NOT NULL",
                                     chunk).fetchall())
        members: dict[str, list[int]] = {}
        shas = sorted(set(sha_of.values()))
        for chunk in _chunks(shas):
            marks = ",".join("?" * len(chunk))
            for fid, sha in db.execute(
                f"SELECT id, sha FROM files WHERE sha IN ({marks}) AND status = 'ok'", chunk
            ):
                members.setdefault(sha, []).append(fid)
        out: dict[int, tuple[int, ...]] = {}
        for fid, sha in sha_of.items():
            group = members.get(sha, [])
            if len(group) > 1:
                out[fid] = tuple(sorted(group))
        return out


class PhotoGroups:
    """Exact copies, RAW+JPEG pairs and bursts (``shots.py``) as one partition: a result stands
    for its copies, its pair's other half and the other frames of its burst. ``base``: the copy
    groups they join (same bytes by default; while a watcher runs, its live copies,
    ``dedup.live.LiveCopies``)."""

    def __init__(self, catalog, base: CopyGroups | None = None) -> None:
        self.catalog = catalog
        self.exact = base if base is not None else ExactCopies(catalog)

    def groups_of(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        return self._groups(ids)[0]

    def labels(self, ids: Sequence[int]) -> dict[int, str]:
        """``"RAW+JPEG"``, ``"burst of N"`` (or both) for results that stand for a pair or a burst."""
        groups, shots = self._groups(ids)
        out = {}
        for fid in ids:
            label = shots.label(groups.get(int(fid), (int(fid),))) if shots else ""
            if label:
                out[int(fid)] = label
        return out

    def _groups(self, ids: Sequence[int]):
        from ..shots import shots_near

        ids = [int(i) for i in ids]
        if not ids:
            return {}, None
        shots = shots_near(self.catalog, ids)
        links: list[Sequence[int]] = [(a, b) for a, b in shots.pairs.items()] + list(shots.bursts)
        members = set(ids) | {m for group in links for m in group}
        links += list(self.exact.groups_of(sorted(members)).values())
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        for group in links:
            root = find(group[0])
            for m in group[1:]:
                other = find(m)
                if other != root:
                    parent[other] = root
        by_root: dict[int, list[int]] = {}
        for m in {g for group in links for g in group}:
            by_root.setdefault(find(m), []).append(m)
        out: dict[int, tuple[int, ...]] = {}
        for fid in ids:
            group = by_root.get(find(fid), [fid])
            if len(group) > 1:
                out[fid] = tuple(sorted(group))
        return out, shots


def collapse(ranked: Sequence[tuple[int, float]], groups: Mapping[int, Sequence[int]],
             keep: Callable[[int], bool] = lambda _id: True) -> list[tuple[int, float, tuple[int, ...]]]:
    """``(id, score)`` best first -> ``(id, score, copy_ids)``, one per group, at its best member's
    rank. ``copy_ids`` are the group's other members for which ``keep`` is true (those passing the
    query's filters), whether or not they were in ``ranked``."""
    seen: set[int] = set()
    out = []
    for fid, score in ranked:
        members = groups.get(fid) or (fid,)
        key = min(members)
        if key in seen:
            continue
        seen.add(key)
        out.append((fid, score, tuple(m for m in members if m != fid and keep(m))))
    return out


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]
