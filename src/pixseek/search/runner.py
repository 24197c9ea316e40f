"""Running a :class:`Query` against one library: term vectors -> query vector -> filtered store
search -> strong cut-off -> collapsed copies -> one page of hits.

The ``Searcher`` keeps small caches so that paging ("load more") and a changed filter re-use the
work already done: text vectors, the vectors of example images given as bytes, and the background
sample of the strong cut-off (until the collection changes).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..catalog import Catalog
from ..encoders.base import Encoder
from ..errors import ImageDecodeError, QueryError, UnsupportedQueryError
from ..imaging import decode_image
from ..stores.base import VectorStore
from ..types import Hit, SearchResults
from .copies import CopyGroups, collapse
from .cutoff import STRONG_Z, Cutoff, background_sample, strong_cutoff
from .fusion import VECTOR_DEPTH, rrf
from .query import Query, Term, combine

TEXT_CACHE = 256
IMAGE_CACHE = 32
Entry = tuple[int, float, tuple[int, ...]]  # (id, score, copy ids)


class Searcher:
    """Runs queries for one library. ``store``, ``encoder`` and ``copies`` are zero-argument
    callables, so that nothing is loaded before a query needs it (an image-only query on indexed
    photos never loads the model)."""

    def __init__(self, catalog: Catalog, store: Callable[[], VectorStore], encoder: Callable[[], Encoder],
                 copies: Callable[[], CopyGroups], *, lock: threading.RLock | None = None,
                 model_label: str = "this model") -> None:
        self.catalog = catalog
        self._store = store
        self._encoder = encoder
        self._copies = copies
        self._lock = lock or threading.RLock()
        self.model_label = model_label
        self._cache_lock = threading.Lock()  # the UI runs queries from several threads
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self._background: tuple[tuple, np.ndarray] | None = None

    # -- the query vector --------------------------------------------------------------------------
    def vector(self, terms: Sequence[Term]) -> tuple[np.ndarray, list[int]]:
        """The (1, dim) query vector, and the ids of example images that are indexed."""
        texts = [t.value for t in terms if t.kind == "text"]
        if texts:
            self._require_text()
        text_vecs = dict(zip(texts, self._text_vectors(texts))) if texts else {}
        rows, example_ids = [], []
        for term in terms:
            if term.kind == "text":
                rows.append(text_vecs[term.value])
            else:
                vec, fid = self.image_vector(term.value)
                rows.append(vec)
                if fid is not None and term.weight > 0:
                    example_ids.append(fid)
        return combine(np.stack(rows), [t.weight for t in terms]), example_ids

    def _require_text(self) -> None:
        if not self._encoder().supports_text:
            raise UnsupportedQueryError(
                f"this index was built with {self.model_label}, which encodes images only: search by example "
                "with `pixseek search --image PHOTO`, or re-index with a CLIP model (--model ViT-B-32 --reindex) "
                "for text search"
            )

    def _text_vectors(self, texts: list[str]) -> list[np.ndarray]:
        with self._cache_lock:
            found = {t: self._texts[t] for t in texts if t in self._texts}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            found.update(zip(missing, self._encoder().encode_texts(missing)))
            with self._cache_lock:
                for text in missing:
                    _remember(self._texts, text, found[text], TEXT_CACHE)
        return [found[t] for t in texts]

    def image_vector(self, value) -> tuple[np.ndarray, int | None]:
        """(vector (dim,), id or None). An indexed path uses its stored vector; a numpy vector is an
        image encoded earlier (the UI keeps that, not the uploaded file); anything else is read,
        decoded and encoded."""
        if isinstance(value, np.ndarray):
            return np.asarray(value, dtype=np.float32).reshape(-1), None
        if isinstance(value, bytes):
            return self._encode_bytes(value, "given as bytes"), None
        path = os.path.abspath(os.path.expanduser(os.fspath(value)))
        row = self.catalog.row_by_path(path)
        if row is not None and row.status == "ok":
            return self.catalog.vectors([row.id])[0], row.id
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise QueryError(f"cannot read the query image {path}: {exc.strerror or exc}") from exc
        return self._encode_bytes(data, path), None

    def _encode_bytes(self, data: bytes, label: str) -> np.ndarray:
        key = hashlib.blake2b(data, digest_size=16).hexdigest()
        with self._cache_lock:
            vec = self._images.get(key)
        if vec is None:
            encoder = self._encoder()
            try:
                decoded = decode_image(data, min_side=encoder.input_size)
            except ImageDecodeError as exc:
                raise QueryError(f"the query image {label} cannot be used: {exc}") from exc
            vec = encoder.encode_images([decoded.image])[0]
            with self._cache_lock:
                _remember(self._images, key, vec, IMAGE_CACHE)
        return vec

    # -- running -------------------------------------------------------------------------------------
    def mode_for(self, query: Query) -> str:
        """The mode ``query`` runs in: its own, else hybrid for a text on an index with words."""
        if query.mode is not None:
            return query.mode if query.text or query.mode == "visual" else "visual"
        from ..words.store import has_words

        return "hybrid" if query.text and has_words(self.catalog.db) else "visual"

    def run(self, query: Query, *, exclude_examples: bool = False, exclude_ids: Iterable[int] = ()) -> SearchResults:
        """One page of ``query``'s results. ``exclude_examples`` leaves indexed example images out,
        ``exclude_ids`` these files."""
        mode = self.mode_for(query)
        if mode != "visual":
            return self._run_fused(query, mode, exclude_examples=exclude_examples, exclude_ids=exclude_ids)
        vec, example_ids = self.vector(query.terms())
        exclude = frozenset(example_ids) if exclude_examples else frozenset()
        exclude |= frozenset(int(i) for i in exclude_ids)
        allowed = query.filters.matching_ids(self.catalog.db) if query.filters.active else None
        matched = None if allowed is None else len(allowed)
        if allowed is not None and not len(allowed):
            return SearchResults([], offset=query.offset, matched=0,
                                 message=f"no indexed image matches the filters ({query.filters.describe()})")
        cutoff = None
        if query.strong is not False:
            cutoff = self.cutoff(vec, STRONG_Z if query.strong is True else float(query.strong))
        prefer = frozenset(example_ids)
        if cutoff is None:
            entries = self._ranking(vec, query, allowed, exclude, prefer)
        else:
            entries = self._strong_ranking(vec, query, cutoff, allowed, exclude, prefer)
        page = entries[query.offset:query.offset + query.k]
        hits = [replace(h, why=(f"looks like the query ({h.score:.2f})",)) for h in self._hits(page)]
        return SearchResults(
            hits, offset=query.offset, more=len(entries) > query.offset + query.k, matched=matched,
            strong=len(entries) if cutoff else None, threshold=cutoff.threshold if cutoff else None,
            message=None if hits else _why_empty(query, entries, cutoff, exclude),
        )

    def _run_fused(self, query: Query, mode: str, *, exclude_examples: bool, exclude_ids: Iterable[int]) -> SearchResults:
        """``words`` or ``hybrid``: the words side, and the vector side for hybrid, fused by
        reciprocal rank (``fusion.py``); then filters, strong cut-off (vector side), collapse, page."""
        from ..words.search import search_words

        terms, note = query.terms(), None
        vec, example_ids = None, []
        if mode == "hybrid":
            vterms = terms
            if any(t.kind == "text" for t in terms) and not self._encoder().supports_text:
                vterms = [t for t in terms if t.kind == "image"]
                note = (f"{self.model_label} encodes images only: the text is matched against the words in and "
                        "about the photos (OCR, names, keywords)")
            if any(t.weight > 0 for t in vterms):
                vec, example_ids = self.vector(vterms)
        exclude = frozenset(example_ids) if exclude_examples else frozenset()
        exclude |= frozenset(int(i) for i in exclude_ids)
        allowed = query.filters.matching_ids(self.catalog.db) if query.filters.active else None
        matched = None if allowed is None else len(allowed)
        if allowed is not None and not len(allowed):
            return SearchResults([], offset=query.offset, matched=0, mode=mode, note=note,
                                 message=f"no indexed image matches the filters ({query.filters.describe()})")
        words = search_words(self.catalog.db, query.text or "", allowed=allowed, exclude=exclude)
        prefer = frozenset(example_ids)
        cutoff, looks = None, []
        if vec is not None:
            if query.strong is not False:
                cutoff = self.cutoff(vec, STRONG_Z if query.strong is True else float(query.strong))
                with self._lock:
                    ids, scores = self._store().range_search(vec, cutoff.threshold)[0]
                got = list(zip(ids.tolist(), scores.tolist()))
            else:
                with self._lock:
                    store = self._store()
                    n = min(max(2 * (query.offset + query.k + 1) + len(exclude), VECTOR_DEPTH), len(store))
                    scores, ids = store.search(vec, max(n, 1), allowed)
                found = ids[0] >= 0
                got = list(zip(ids[0][found].tolist(), scores[0][found].tolist()))
            keep = _member_test(allowed, exclude)
            looks = _order([(i, s) for i, s in got if keep(i)], prefer)
        fused = rrf([[i for i, _ in looks], [m.file_id for m in words]])
        # a photo whose words hold every word of the query is literal evidence: those come first,
        # in fused order, then the rest (see fusion.py)
        complete = frozenset(m.file_id for m in words if m.complete)
        ranked = sorted(fused.items(), key=lambda r: (r[0] not in complete, -round(r[1], 6), r[0] not in prefer, r[0]))
        if query.collapse:
            entries = collapse(ranked, self._copies().groups_of([i for i, _ in ranked]), _member_test(allowed, exclude))
        else:
            entries = [(i, s, ()) for i, s in ranked]
        page = entries[query.offset:query.offset + query.k]
        cosine, by_id = dict(looks), {m.file_id: m for m in words}
        hits = []
        copies_of = {fid: copies for fid, _, copies in page}
        for hit in self._hits(page):
            why: tuple[str, ...] = ()
            match = next((by_id[i] for i in (hit.id, *copies_of.get(hit.id, ())) if i in by_id), None)
            if match is not None:
                why += match.why(query.text or "")
            if hit.id in cosine:
                why += (f"looks like the query ({cosine[hit.id]:.2f})",)
            hits.append(replace(hit, why=why))
        message = None
        if not hits:
            message = (_why_empty(query, entries, cutoff, exclude) if entries or vec is not None
                       else "no photo has these words in or about it" + (" (among those that match the filters)"
                                                                       if query.filters.active else ""))
        return SearchResults(hits, offset=query.offset, more=len(entries) > query.offset + query.k,
                             matched=matched, strong=len(entries) if cutoff else None,
                             threshold=cutoff.threshold if cutoff else None, message=message, mode=mode, note=note)

    def cutoff(self, vec: np.ndarray, z: float = STRONG_Z) -> Cutoff:
        """The strong-match threshold for a query vector (see ``cutoff.py``)."""
        with self._lock:
            store = self._store()
            ids = store.ids()
            # ids are never reused, so count, ends and sum change whenever the collection does
            fingerprint = (len(ids), int(ids[0]) if len(ids) else -1, int(ids[-1]) if len(ids) else -1,
                           int(ids.sum()))
            if self._background is None or self._background[0] != fingerprint:
                self._background = (fingerprint, background_sample(store))
            background = self._background[1]
        return strong_cutoff(vec, background, z)

    def _ranking(self, vec: np.ndarray, query: Query, allowed: np.ndarray | None, exclude: frozenset[int],
                 prefer: frozenset[int]) -> list[Entry]:
        """Results best first, up to one past the page (to know whether another page follows).
        Fetches more from the store while excluded ids or collapsed copies leave too few."""
        want = query.offset + query.k + 1
        with self._lock:
            total = len(self._store())
        # twice the page from the start: a flat or IVF scan costs the same for 20 or 40 results,
        # and copies rarely take more than half of them
        n = min(2 * want + len(exclude), total)
        while True:
            with self._lock:
                scores, ids = self._store().search(vec, max(n, 1), allowed)
            found = ids[0] >= 0
            got = list(zip(ids[0][found].tolist(), scores[0][found].tolist()))
            entries = self._entries(got, query, allowed, exclude, prefer)
            if len(entries) >= want or len(got) < n or n >= total:
                return entries
            n = min(2 * n, total)

    def _strong_ranking(self, vec: np.ndarray, query: Query, cutoff: Cutoff, allowed: np.ndarray | None,
                        exclude: frozenset[int], prefer: frozenset[int]) -> list[Entry]:
        """Every result at or above the cut-off, best first: one range search gives them all, so
        their count (the "N strong matches") costs nothing more."""
        with self._lock:
            ids, scores = self._store().range_search(vec, cutoff.threshold)[0]
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        return self._entries(list(zip(ids.tolist(), scores.tolist())), query, allowed, exclude, prefer)

    def _entries(self, got: list[tuple[int, float]], query: Query, allowed: np.ndarray | None,
                 exclude: frozenset[int], prefer: frozenset[int]) -> list[Entry]:
        ranked = _order([(i, s) for i, s in got if i not in exclude], prefer)
        if not query.collapse:
            return [(i, s, ()) for i, s in ranked]
        groups = self._copies().groups_of([i for i, _ in ranked])
        return collapse(ranked, groups, _member_test(allowed, exclude))

    def _hits(self, entries: list[Entry]) -> list[Hit]:
        rows = self.catalog.rows_by_ids({i for fid, _, copies in entries for i in (fid, *copies)})
        hits = []
        for fid, score, copies in entries:
            row = rows.get(fid)
            if row is None:  # removed by an index run since the search
                continue
            copy_paths = tuple(sorted(rows[c].path for c in copies if c in rows))
            hits.append(Hit(path=row.path, score=float(score), id=row.id, width=row.width, height=row.height,
                            taken_at=row.taken_at, copies=copy_paths))
        return hits


def _order(ranked: list[tuple[int, float]], prefer: frozenset[int]) -> list[tuple[int, float]]:
    """Best first; among equal scores (copies share a vector) the example images, then lower ids,
    so that the order is the same on every run and an example image comes before its copies."""
    return sorted(ranked, key=lambda r: (-round(r[1], 6), r[0] not in prefer, r[0]))


def _member_test(allowed: np.ndarray | None, exclude: frozenset[int]) -> Callable[[int], bool]:
    def keep(fid: int) -> bool:
        if fid in exclude:
            return False
        if allowed is None:
            return True
        pos = int(np.searchsorted(allowed, fid))
        return pos < len(allowed) and int(allowed[pos]) == fid
    return keep


def _why_empty(query: Query, entries: list[Entry], cutoff: Cutoff | None, exclude: frozenset[int]) -> str:
    if entries and query.offset >= len(entries):
        return f"no results past the first {len(entries)}: that is all this query has"
    if cutoff is not None:
        return (f"no strong matches: nothing stands out for this query (it would need a score of "
                f"{cutoff.threshold:.3f}; a typical image scores {cutoff.typical:.3f}); "
                "without --strong you get the closest images anyway")
    if exclude:
        return "no matches: the index holds no other image" + ("s that match the filters" if query.filters.active else "s")
    return "no matches"


def _remember(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
