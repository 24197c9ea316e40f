"""Indexing: change sources feed one pipeline, which runs every registered per-photo signal.

- :mod:`.sources`: :class:`FolderScan` (crawl + diff against the catalogue) and
  :class:`PathChanges` (explicit created/changed/deleted paths and moves) yield :class:`Change` items;
- :mod:`.pipeline`: :class:`Pipeline` reads each file once, hashes, decodes, runs the signals in
  decode threads, encodes vectors in batches and commits per batch (crash-safe);
- :mod:`.signals`: the :class:`Signal` interface and the registry (vector, facts, perceptual hashes,
  pixel hash; next: words, tags).
"""

from .pipeline import Pipeline
from .signals import SIGNALS, Photo, Signal, VectorSignal, register, unregister
from .sources import Change, ChangeSource, FolderScan, PathChanges

__all__ = ["Change", "ChangeSource", "FolderScan", "PathChanges", "Photo", "Pipeline", "SIGNALS", "Signal",
           "VectorSignal", "register", "unregister"]
