"""Vector stores: the ``VectorStore`` interface and ``open_store``, which picks one from a spec.

Example::

    from pixseek.stores import open_store

    store = open_store(library_dir, dim=512)   # FAISS file library_dir/vectors.faiss
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixseek.stores.base import StoreError, VectorStore

__all__ = ["StoreError", "VectorStore", "open_store"]


def open_store(spec: str | Path, dim: int, **options: Any) -> VectorStore:
    """Open (or prepare to create) the store named by ``spec``.

    A folder, or a file ending in ``.faiss``, means the FAISS store; ``options`` go to
    ``FaissStore`` (``ann_threshold``, ``nprobe``, ``threads``). URL-like specs
    (``milvus://host:19530/collection``) are reserved for other back ends.
    """
    text = str(spec)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"unsupported vector store {text!r}: no back end for {scheme!r} yet")
    from pixseek.stores.faiss import FaissStore  # imported here: FAISS loads only when used

    return FaissStore(Path(spec), dim, **options)
