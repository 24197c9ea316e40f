"""Queries: text and example images with weights and negative terms, filters applied inside the
store search, paging, a relevance cut-off that adapts to the query, and collapsed copies.

    >>> from pixseek import Filters, Query
    >>> results = lib.query(Query(text="a dog on the beach", negatives=["people"],
    ...                           filters=Filters(since="2021-06", orientation="landscape"),
    ...                           k=20, strong=True))                      # doctest: +SKIP
    >>> results.strong, [h.path for h in results]                          # doctest: +SKIP

Modules: ``query`` (what is asked, the query vector), ``filters`` (SQL over the catalogue),
``cutoff`` (``--strong``), ``copies`` (collapsing), ``runner`` (putting them together).
"""

from .copies import CopyGroups, ExactCopies, PhotoGroups, collapse
from .cutoff import STRONG_Z, Cutoff, strong_cutoff
from .filters import ORIENTATIONS, Filters
from .query import ImageQuery, Query, Term, combine
from .runner import Searcher

__all__ = ["ORIENTATIONS", "STRONG_Z", "CopyGroups", "Cutoff", "ExactCopies", "PhotoGroups", "Filters", "ImageQuery", "Query",
           "Searcher", "Term", "collapse", "combine", "strong_cutoff"]
