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
    ``FaissStore`` (``ann_threshold``, ``nprobe``, ``threads``). ``milvus-lite:FILE.db`` and
    ``milvus://HOST:PORT[/COLLECTION]`` mean Milvus; ``options`` go to ``MilvusStore`` (``auth``,
    ``id_range``, ``create``).
    """
    text = str(spec)
    from pixseek.stores.milvus import is_milvus_spec  # no pymilvus import until a store opens

    if is_milvus_spec(text):
        from pixseek.stores.milvus import MilvusStore

        return MilvusStore(text, dim, **options)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"unsupported vector store {text!r}: no back end for {scheme!r} yet")
    from pixseek.stores.faiss import FaissStore  # imported here: FAISS loads only when used

    return FaissStore(Path(spec), dim, **options)
