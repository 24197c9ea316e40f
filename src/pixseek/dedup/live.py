"""Live duplicates: each photo the watcher indexes is checked against the library as it arrives.

:class:`LiveCopies` finds, for new rows, the indexed files that are the same picture: the same
bytes (``exact``) or a copy (re-saved, resized, converted, cropped: the ``copy`` rules of
:mod:`.rules`, judged on the few nearest vectors, never the whole library). It remembers the copy
links it found and is a :class:`~pixseek.search.CopyGroups`, so search results collapse these
copies at once, without a `pixseek dedup` run (same-bytes copies collapse as before).

    >>> live = LiveCopies(lib.catalog, lambda: lib.store)     # doctest: +SKIP
    >>> live.check([lib.catalog.row_by_path("/p/new.jpg")])   # doctest: +SKIP
    {42: [('/p/old.jpg', 'copy')]}
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..catalog import Catalog, FileRow
from ..search.copies import ExactCopies
from ..stores.base import VectorStore
from . import rules
from .features import Pictures, measure
from .rules import thresholds_for

NEIGHBOURS = 8  # nearest vectors judged per arrival


class LiveCopies:
    """Copy links found as photos arrive, plus the catalogue's same-bytes groups."""

    def __init__(self, catalog: Catalog, store: Callable[[], VectorStore]) -> None:
        self.catalog = catalog
        self.store = store
        self.exact = ExactCopies(catalog)
        self._links: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def check(self, rows: Sequence[FileRow], forget: Iterable[int] = ()) -> dict[int, list[tuple[str, str]]]:
        """For each new indexed row: ``[(path, "exact" | "copy"), ...]`` of the other indexed files
        that are the same picture. ``forget``: ids that left the index."""
        self._forget(forget)
        rows = [r for r in rows if r.status == "ok" and r.sha]
        if not rows:
            return {}
        out: dict[int, list[tuple[str, str]]] = {r.id: [] for r in rows}
        groups = self.exact.groups_of([r.id for r in rows])
        others = self.catalog.rows_by_ids({m for r in rows for m in groups.get(r.id, ()) if m != r.id})
        for r in rows:
            out[r.id] += [(others[m].path, "exact") for m in groups.get(r.id, ()) if m in others]
        th = thresholds_for(self.catalog.get_meta("model"))
        vecs = self.catalog.vectors([r.id for r in rows])
        store = self.store()
        scores, ids = store.search(np.asarray(vecs, dtype=np.float32), NEIGHBOURS + 1)
        kept_apart = self.catalog.not_duplicates()
        for i, row in enumerate(rows):
            near = [(int(f), float(s)) for f, s in zip(ids[i], scores[i]) if f >= 0 and int(f) != row.id
                    and s >= th.embed_gate]
            cands = self.catalog.rows_by_ids([f for f, _ in near])
            pairs = [(cands[f], s) for f, s in near if f in cands and cands[f].sha != row.sha
                     and tuple(sorted((row.sha, cands[f].sha))) not in kept_apart]
            for other in self._judge(row, pairs, th):
                out[row.id].append((other.path, "copy"))
                self._link(row.id, other.id)
        return out

    def _judge(self, row: FileRow, pairs: list[tuple[FileRow, float]], th: rules.Thresholds) -> list[FileRow]:
        if not pairs:
            return []
        reps = [row, *(r for r, _ in pairs)]
        pics = Pictures(self.catalog, reps, self.catalog.hashes_for((r.sha for r in reps), thumbnails=False))
        idx = np.array([(0, j) for j in range(1, len(reps))], dtype=np.int64)
        features, _grey = measure(pics, idx, np.array([s for _, s in pairs], dtype=np.float32), th)
        return [reps[int(idx[k, 1])] for k, edge in rules.edges(features, th, similar=False)
                if edge.tier in ("exact", "copy")]

    def _link(self, a: int, b: int) -> None:
        with self._lock:
            group = self._links.get(a, {a}) | self._links.get(b, {b})
            for m in group:
                self._links[m] = group

    def _forget(self, ids: Iterable[int]) -> None:
        with self._lock:
            for fid in ids:
                group = self._links.pop(int(fid), None)
                if group is not None:
                    group.discard(int(fid))

    # -- CopyGroups ----------------------------------------------------------------------------------
    def groups_of(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        exact = self.exact.groups_of(ids)
        with self._lock:
            linked = {int(i): set(self._links[int(i)]) for i in ids if int(i) in self._links}
        if not linked:
            return exact
        # a copy's own same-bytes twins belong to the group too
        extra = self.exact.groups_of(sorted({m for g in linked.values() for m in g}))
        out = dict(exact)
        for fid in ids:
            fid = int(fid)
            members = set(exact.get(fid, (fid,)))
            for m in linked.get(fid, ()):
                members |= set(extra.get(m, (m,)))
            if len(members) > 1:
                out[fid] = tuple(sorted(members))
        return out
