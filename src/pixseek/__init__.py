"""pixseek: local image search. Find photos by words, by example, and find their duplicates.

>>> import pixseek
>>> lib = pixseek.open("/tmp/my-index")                  # doctest: +SKIP
>>> lib.index(["~/Pictures"])                            # doctest: +SKIP
>>> [h.path for h in lib.search("a dog on the beach")]   # doctest: +SKIP
"""

from .errors import PixseekError
from .library import Library, open_library
from .search import Filters, Query
from .settings import LibrarySettings
from .types import Hit, IndexReport, LibraryStatus, SearchResults

open = open_library  # noqa: A001 - `pixseek.open(db)` is the documented entry point

__version__ = "0.1.0"
__all__ = ["Filters", "Hit", "IndexReport", "Library", "LibrarySettings", "LibraryStatus", "PixseekError", "Query",
           "SearchResults", "open", "open_library"]
