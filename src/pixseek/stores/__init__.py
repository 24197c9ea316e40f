"""Vector stores: the ``VectorStore`` interface, store specs, and ``open_store``, which picks one.

A spec names a store: ``faiss`` (the FAISS file in an index folder; for ``open_store``, a folder or
a ``.faiss`` file), ``milvus-lite:FILE.db`` (Milvus Lite), or ``milvus://HOST:PORT[/COLLECTION]``
(a Milvus server). This module is the one place that tells them apart; ``stores.milvus`` parses the
Milvus ones.

Example::

    from pixseek.stores import open_store

    store = open_store(library_dir, dim=512)   # FAISS file library_dir/vectors.faiss
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pixseek.stores.base import StoreError, VectorStore
from pixseek.stores.milvus import is_milvus_spec, parse_milvus_spec  # no pymilvus import until a store opens

__all__ = ["FAISS", "StoreError", "VectorStore", "normalize_spec", "open_store"]

FAISS = "faiss"
LITE_DEFAULT_FILE = "vectors.milvus.db"


def normalize_spec(spec: str | os.PathLike, db_dir: str | os.PathLike) -> str:
    """The canonical spec of an index's store: ``faiss``, or a Milvus spec with an absolute Lite path
    and no defaults.

    ``milvus-lite`` (or ``milvus-lite:``) alone means ``DB_DIR/vectors.milvus.db``; a relative Lite
    path is taken from the current folder.

    >>> normalize_spec("milvus://gpu-box", "/tmp/db")
    'milvus://gpu-box:19530/pixseek'
    """
    text = os.fspath(spec).strip()
    if text in ("", FAISS, "faiss:"):
        return FAISS
    if text in ("milvus-lite", "milvus-lite:"):
        text = "milvus-lite:" + str(Path(db_dir) / LITE_DEFAULT_FILE)
    if is_milvus_spec(text):
        return parse_milvus_spec(text).spec
    raise StoreError(f"unknown vector store {text!r}: use faiss, milvus-lite:FILE.db or milvus://HOST:PORT")


def open_store(spec: str | Path, dim: int, **options: Any) -> VectorStore:
    """Open (or prepare to create) the store named by ``spec``.

    A folder, or a file ending in ``.faiss``, means the FAISS store; ``options`` go to
    ``FaissStore`` (``ann_threshold``, ``nprobe``, ``threads``, ``id_range``). ``milvus-lite:FILE.db``
    and ``milvus://HOST:PORT[/COLLECTION]`` mean Milvus; ``options`` go to ``MilvusStore`` (``auth``,
    ``id_range``, ``create``).
    """
    text = str(spec)
    if is_milvus_spec(text):
        from pixseek.stores.milvus import MilvusStore

        return MilvusStore(text, dim, **options)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"unsupported vector store {text!r}: no back end for {scheme!r} yet")
    from pixseek.stores.faiss import FaissStore  # imported here: FAISS loads only when used

    return FaissStore(Path(spec), dim, **options)
