"""Tuning the vector space to the user's labels: a small adapter on top of the frozen encoder.

- ``adapter.py``: :class:`Adapter`, ``x -> normalize(x + A (B x))`` (a residual low-rank linear map,
  zero at the start), its file next to the catalogue and the meta key that names it;
- ``space.py``: the store side: a store that holds adapted vectors (``AdaptedStore``), and the meta
  key that says which space the store holds (so an interrupted rebuild is finished on open);
- ``labels.py``: where labels come from (folders as albums, a labels CSV, captions, duplicates, tags);
- ``train.py``: the supervised contrastive (SupCon / InfoNCE) training in torch, on stored vectors;
- ``metrics.py``: kNN precision@10, mAP, recall@k on a held-out split;
- ``tune.py``: ``tune(lib, ...)`` and ``tune_off(lib)``, what ``Library.tune`` runs.

The catalogue keeps the model's own vectors; the store holds adapted ones; queries pass through the
adapter (``VectorStore.to_space``); ``tune --off`` rebuilds the store from the catalogue as it was.
"""

from .adapter import Adapter
from .space import AdaptedStore

__all__ = ["Adapter", "AdaptedStore"]
