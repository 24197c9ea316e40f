"""Tags from a few examples: a tag is positive examples, counter-examples and a classifier trained on
the stored vectors (:mod:`.classifier`); its suggestions are the likeliest untagged photos, applied
tags live in the catalogue by content hash (:mod:`.book`), filter every query (``Filters(tags=...)``)
and can be written to XMP sidecars (:mod:`.xmp`). See docs/tags.md.

>>> lib.tag("receipt", ["IMG_1.jpg", "IMG_7.jpg", "IMG_9.jpg"])          # doctest: +SKIP
>>> lib.suggest_tag("receipt", k=20)                                      # doctest: +SKIP
>>> lib.apply_tag("receipt", min_probability=0.9, write_xmp=True)         # doctest: +SKIP
"""

from .book import ApplyReport, Suggestion, TagBook, TagInfo, check_name

__all__ = ["ApplyReport", "Suggestion", "TagBook", "TagInfo", "check_name"]
