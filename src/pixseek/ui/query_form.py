"""The search form, as data: what the fields of the Search tab say, turned into a library
:class:`~pixseek.search.Query`. This is the UI's only query code, and it only translates: weights,
filters, the strong cut-off, paging and collapsed copies are all the library's.

    >>> form = SearchForm(text="a beach", negatives="people, umbrellas", orientation="landscape", strong=True)
    >>> form.query(photo=None).negatives
    ('people', 'umbrellas')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import QueryError
from ..search import ORIENTATIONS, Filters, Query
from ..types import EncodedQuery

ANY_ORIENTATION = "any"
ORIENTATION_CHOICES = [ANY_ORIENTATION, *ORIENTATIONS]
MAX_PAGE = 96  # the "Results per page" slider's top; API callers get the same bound
MODE_CHOICES = ["auto", "hybrid", "words", "visual"]  # auto: the library's default (hybrid when there are words)


@dataclass(frozen=True)
class SearchForm:
    """The Search tab's fields. Empty strings mean "not set"; ``negatives`` is comma-separated.

    ``photo_weight`` is the photo's weight against the words (weight 1); ``not_weight`` is how much
    of each "not" term is subtracted (see docs/search.md for the formula).
    """

    text: str = ""
    k: int = 24
    negatives: str = ""
    photo_weight: float = 1.0
    not_weight: float = 1.0
    under: str = ""
    since: str = ""
    until: str = ""
    orientation: str = ANY_ORIENTATION
    min_size: str = ""
    strong: bool = False
    all_copies: bool = False
    mode: str = "auto"  # "auto" (hybrid when the index has words), "hybrid", "words", "visual"

    def __post_init__(self) -> None:
        # Values come from the page or from an API client as JSON: normalise types and blanks here.
        for name in ("text", "negatives", "under", "since", "until", "min_size"):
            object.__setattr__(self, name, str(getattr(self, name) or "").strip())
        object.__setattr__(self, "orientation", str(self.orientation or ANY_ORIENTATION).strip().lower())
        try:
            k = int(self.k)
            weights = float(self.photo_weight), float(self.not_weight)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"results per page and weights must be numbers ({exc})") from exc
        if not 1 <= k <= MAX_PAGE:
            raise QueryError(f"results per page must be between 1 and {MAX_PAGE}, not {k}")
        if not all(math.isfinite(w) for w in weights):
            raise QueryError("weights must be finite numbers")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "photo_weight", weights[0])
        object.__setattr__(self, "not_weight", weights[1])
        object.__setattr__(self, "strong", bool(self.strong))
        object.__setattr__(self, "all_copies", bool(self.all_copies))
        object.__setattr__(self, "mode", str(self.mode or "auto").strip().lower())
        if self.mode not in MODE_CHOICES:
            raise QueryError(f"the search mode must be one of {', '.join(MODE_CHOICES)}, not {self.mode!r}")

    def negative_terms(self) -> list[str]:
        """``"people, umbrellas"`` -> ``["people", "umbrellas"]`` (blank parts dropped)."""
        return [part.strip() for part in self.negatives.split(",") if part.strip()]

    def filters(self) -> Filters:
        """The filters the form sets; a bad value raises QueryError (one line, from the library)."""
        orientation = None if self.orientation == ANY_ORIENTATION else self.orientation
        return Filters(under=self.under or (), since=self.since or None, until=self.until or None,
                       orientation=orientation, min_size=self.min_size or None)

    def has_terms(self, photo: EncodedQuery | None) -> bool:
        """True when there is something to look for (words or a photo); "not" alone only steers."""
        return bool(self.text) or photo is not None

    def query(self, photo: EncodedQuery | None, offset: int = 0) -> Query:
        """The library query: words, the photo (as its vector), "not" terms, weights, filters, the
        first page (or ``offset``), the strong cut-off and copy collapsing."""
        negatives = self.negative_terms()
        images = [photo.vector] if photo is not None else []
        weights = None
        if self.photo_weight != 1 or self.not_weight != 1:
            # Query wants one weight per term, in the order text, images, negatives.
            weights = ([1.0] if self.text else []) + [self.photo_weight] * len(images) \
                + [self.not_weight] * len(negatives)
        return Query(text=self.text or None, images=images, negatives=negatives, weights=weights,
                     filters=self.filters(), k=self.k, offset=offset, strong=self.strong,
                     collapse=not self.all_copies, mode=None if self.mode == "auto" else self.mode)


@dataclass(frozen=True)
class ActiveSearch:
    """The query behind the results on screen, kept per browser session for "load more": the next
    page is the same query from ``next_offset`` (the same ranking, filters and cut-off)."""

    query: Query
    exclude: tuple[int, ...] = ()  # the query photo's id, when it is an indexed photo
    label: str = ""  # what was asked, for the status line
    next_offset: int = 0

    def next_page(self, k: int) -> Query:
        return replace(self.query, offset=self.next_offset, k=int(k))
