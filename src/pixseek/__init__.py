"""pixseek: local image search. Find photos by words, by example, and find their duplicates.

>>> import pixseek
>>> lib = pixseek.open("/tmp/my-index")                  # doctest: +SKIP
>>> lib.index(["~/Pictures"])                            # doctest: +SKIP
>>> [h.path for h in lib.search("a dog on the beach")]   # doctest: +SKIP

The library (numpy, SQLite, the stores) loads on first use of one of its names, so that a command
answered by a running service (``pixseek.service``) starts in a few milliseconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import PixseekError
from .types import Hit, IndexReport, LibraryStatus, SearchResults

if TYPE_CHECKING:
    from .library import Library, open_library
    from .search import Filters, Query
    from .settings import LibrarySettings

__version__ = "0.1.0"
__all__ = ["Filters", "Hit", "IndexReport", "Library", "LibrarySettings", "LibraryStatus", "PixseekError", "Query",
           "SearchResults", "open", "open_library"]

_LAZY = {"Library": "library", "open_library": "library", "open": "library", "Filters": "search",
         "Query": "search", "LibrarySettings": "settings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, "open_library" if name == "open" else name)
        globals()[name] = value
        return value
    try:  # `pixseek.search`, `pixseek.indexing`... as before, when they were loaded by the package
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
