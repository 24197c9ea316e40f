"""The facade every client uses: one catalogue, one vector store, one encoder spec.

>>> import pixseek
>>> lib = pixseek.open("~/.local/share/pixseek/default")      # doctest: +SKIP
>>> lib.index(["~/Pictures"])                                 # doctest: +SKIP
>>> lib.search("a red bicycle against a brick wall", k=5)     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .catalog import Catalog
from .config import DEFAULT_MODEL, default_db_dir
from .encoders import Encoder, ModelSpec, load_encoder, normalize_spec
from .errors import ImageDecodeError, ModelMismatchError, PixseekError, UnsupportedQueryError
from .imaging import decode_image
from .indexer import Indexer, ProgressFn
from .stores import open_store
from .stores.base import VectorStore
from .types import ActionReport, CrawlProblem, DuplicateGroup, Hit, IndexReport, LibraryStatus

CATALOG_FILE = "catalog.sqlite"
MANIFEST_DIR = "manifests"
STORE_FILE = "vectors.faiss"
ImageQuery = str | os.PathLike | bytes


class Library:
    """A searchable photo library stored in ``db_dir``.

    ``model``/``pretrained`` choose the encoder for a new index; an existing index remembers its
    encoder, and asking for another one is refused (``index(reindex=True)`` rebuilds instead).
    """

    def __init__(self, db_dir: str | os.PathLike | None = None, *, model: str | None = None,
                 pretrained: str | None = None, device: str = "auto") -> None:
        self.db_dir = Path(os.path.expanduser(db_dir)) if db_dir else default_db_dir()
        try:
            self.db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PixseekError(f"cannot create the index folder {self.db_dir}: {exc.strerror}") from exc
        self.catalog = Catalog(self.db_dir / CATALOG_FILE)
        self.device = device
        recorded = self.catalog.get_meta("model")
        self.recorded_model = recorded
        if model is None and pretrained is None and recorded:
            name, _, tag = recorded.partition("|")
            self.spec = ModelSpec(name, tag or None, device)
        else:
            self.spec = normalize_spec(ModelSpec(model or DEFAULT_MODEL, pretrained, device))
        self._encoder: Encoder | None = None
        self._store: VectorStore | None = None
        self._lock = threading.RLock()

    # -- parts, loaded lazily ------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder(self.spec)
            return self._encoder

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                dim = self.catalog.get_meta("dim")
                if dim is None:
                    raise PixseekError(f"the index in {self.db_dir} is empty: run `pixseek index FOLDER` first")
                self._store = open_store(self.db_dir / STORE_FILE, int(dim))
                self._reconcile(self._store)
            return self._store

    def _reconcile(self, store: VectorStore) -> None:
        """Make the store hold exactly the catalogue's vectors (after a crash they can differ)."""
        in_catalog = self.catalog.ids_with_vectors()
        in_store = store.ids()
        extra = np.setdiff1d(in_store, in_catalog, assume_unique=True)
        missing = np.setdiff1d(in_catalog, in_store, assume_unique=True)
        if extra.size:
            store.remove(extra)
        for start in range(0, missing.size, 10_000):
            chunk = missing[start:start + 10_000]
            store.add(chunk, self.catalog.vectors(chunk.tolist()))
        if extra.size or missing.size:
            store.save()

    def _check_model(self, reindex: bool = False) -> None:
        recorded = self.catalog.get_meta("model")
        if recorded and recorded != self.spec.id and not reindex:
            raise ModelMismatchError(
                f"this index was built with {_show(recorded)}, not {_show(self.spec.id)}: "
                "use the same --model, or --reindex to rebuild it with the new one"
            )

    # -- indexing --------------------------------------------------------------------------------------
    def index(self, paths: Iterable[str | os.PathLike] | None = None, *, reindex: bool = False,
              batch_size: int = 32, workers: int | None = None, include_hidden: bool = False,
              exact_decode: bool = False, progress: ProgressFn | None = None,
              on_problem: Callable[[CrawlProblem], None] | None = None) -> IndexReport:
        """Index ``paths`` (folders or files); with no paths, refresh every folder indexed before."""
        roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in (paths or [])]
        roots = roots or self.catalog.roots()
        if not roots:
            raise PixseekError("nothing to index: name a folder, e.g. `pixseek index ~/Pictures`")
        self._check_model(reindex)
        with self._writer_lock(), self._lock:
            if reindex and self.catalog.get_meta("model") not in (None, self.spec.id):
                self._drop_index()
            if self.catalog.get_meta("model") is None:
                dim = self.encoder.dim
                with self.catalog.transaction() as db:
                    self.catalog.set_meta(db, "model", self.spec.id)
                    self.catalog.set_meta(db, "dim", str(dim))
                self.recorded_model = self.spec.id
            self.catalog.add_roots(roots)
            indexer = Indexer(self.catalog, self.store, lambda: self.encoder, batch_size=batch_size,
                              workers=workers, include_hidden=include_hidden, progress=progress,
                              exact_decode=exact_decode,
                              on_problem=on_problem)
            return indexer.run(roots)

    def _drop_index(self) -> None:
        with self.catalog.transaction() as db:
            self.catalog.drop_vectors(db)
            db.execute("DELETE FROM meta WHERE key IN ('model', 'dim')")
        if self._store is not None:
            self._store.close()
            self._store = None
        for name in os.listdir(self.db_dir):
            if name.startswith(STORE_FILE):
                os.remove(self.db_dir / name)

    @contextlib.contextmanager
    def _writer_lock(self):
        """One writer per index folder, across processes."""
        fh = open(self.db_dir / "index.lock", "w")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise PixseekError(f"another pixseek is indexing {self.db_dir}: wait for it to finish") from exc
            yield
        finally:
            fh.close()

    # -- queries -------------------------------------------------------------------------------------
    def search(self, text: str, k: int = 10) -> list[Hit]:
        """Photos that match a description, best first."""
        if not text or not text.strip():
            raise PixseekError("the query is empty: type what the photo shows")
        self._check_model()
        self._require_images()
        if not self.encoder.supports_text:
            raise UnsupportedQueryError(
                f"this index was built with {_show(self.spec.id)}, which encodes images only: "
                "search by example with `pixseek similar PHOTO`, or re-index with a CLIP model "
                "(--model ViT-B-32 --reindex) for text search"
            )
        return self._hits(self.encoder.encode_texts([text.strip()]), k)

    def similar(self, image: ImageQuery, k: int = 10) -> list[Hit]:
        """Photos that look like ``image`` (a path, or the bytes of an image file), best first.
        An indexed path uses its stored vector and is left out of its own results."""
        self._check_model()
        self._require_images()
        exclude: set[int] = set()
        vec = None
        if not isinstance(image, bytes):
            path = os.path.abspath(os.path.expanduser(os.fspath(image)))
            row = self.catalog.row_by_path(path)
            if row is not None and row.status == "ok":
                vec = self.catalog.vectors([row.id])
                exclude.add(row.id)
            else:
                try:
                    with open(path, "rb") as fh:
                        image = fh.read()
                except OSError as exc:
                    raise PixseekError(f"cannot read the query image {path}: {exc.strerror}") from exc
        if vec is None:
            vec = self.encode_image(image)
        hits = self._hits(vec, k + len(exclude))
        return [h for h in hits if h.id not in exclude][:k]

    def encode_image(self, data: bytes) -> np.ndarray:
        """One image file's bytes -> its (1, dim) vector."""
        try:
            decoded = decode_image(data, min_side=self.encoder.input_size)
        except ImageDecodeError as exc:
            raise PixseekError(f"the query image cannot be used: {exc}") from exc
        return self.encoder.encode_images([decoded.image])

    def _require_images(self) -> None:
        if self.catalog.count_images() == 0:
            raise PixseekError(f"the index in {self.db_dir} has no images yet: run `pixseek index FOLDER` first")

    def _hits(self, query: np.ndarray, k: int) -> list[Hit]:
        if k < 1:
            raise PixseekError("-k must be at least 1")
        with self._lock:
            scores, ids = self.store.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        rows = self.catalog.rows_by_ids(int(i) for i in ids[0] if i >= 0)
        hits = []
        for score, fid in zip(scores[0], ids[0]):
            row = rows.get(int(fid))
            if row is None:
                continue
            hits.append(Hit(path=row.path, score=float(score), id=row.id, width=row.width,
                            height=row.height, taken_at=row.taken_at))
        return hits

    # -- duplicates (dedup.py, actions.py) -------------------------------------------------------------
    def duplicates(self, paths: Iterable[str | os.PathLike] | None = None, *, similar: bool = False,
                   keep: str | None = None, protect: Iterable[str | os.PathLike] = (),
                   progress: Callable[[str, int, int], None] | None = None) -> list[DuplicateGroup]:
        """Groups of duplicate files among the indexed ones (under ``paths``, else all), each with
        its kind (exact / copy / similar with ``similar=True``), suggested keeper and evidence.

        ``keep``: ``largest``, ``oldest``, ``newest`` or ``path:DIR`` (default: highest resolution,
        then lossless, least compressed, oldest, shortest path). ``protect``: folders never touched.
        """
        from .dedup import find_duplicates

        roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in (paths or [])]
        for root in roots:
            if not os.path.exists(root):
                raise PixseekError(f"not found: {root}")
        self._require_images()
        return find_duplicates(self.catalog, lambda: self.store, roots=roots or None, similar=similar,
                               keep=keep, protect=[os.fspath(p) for p in protect], progress=progress)

    def not_duplicate(self, a: str | os.PathLike, b: str | os.PathLike) -> None:
        """Remember that ``a`` and ``b`` are not duplicates: later runs keep them apart (by content,
        so the decision survives renames)."""
        rows = []
        for p in (a, b):
            path = os.path.abspath(os.path.expanduser(os.fspath(p)))
            row = self.catalog.row_by_path(path)
            if row is None or row.status != "ok" or not row.sha:
                raise PixseekError(f"{path} is not indexed: run `pixseek index` on its folder first")
            rows.append(row)
        if rows[0].sha == rows[1].sha:
            raise PixseekError("these two files have the same bytes: they are duplicates whatever we remember")
        self.catalog.add_not_duplicate(rows[0].sha, rows[1].sha)

    def apply(self, groups: Iterable[DuplicateGroup], action: str, *, move_to: str | os.PathLike | None = None,
              progress: ProgressFn | None = None) -> ActionReport:
        """``move`` (to ``move_to``, keeping relative paths), ``hardlink`` or ``delete`` (to the
        trash) every non-keeper of ``groups``, after re-checking each file. Writes a manifest
        first (``report.manifest``) that :meth:`undo` reverses."""
        from .actions import apply_action

        with self._writer_lock(), self._lock:
            return apply_action(self.catalog, lambda: self.store, list(groups), action,
                                manifest_dir=self.db_dir.absolute() / MANIFEST_DIR, move_to=move_to, progress=progress)

    def undo(self, manifest: str | os.PathLike, *, progress: ProgressFn | None = None) -> ActionReport:
        """Restore every file an action moved, linked or trashed, bit-identical, and re-index it."""
        from .actions import undo_manifest

        with self._writer_lock(), self._lock:
            return undo_manifest(self.catalog, lambda: self.store, os.path.expanduser(os.fspath(manifest)),
                                 progress=progress)

    def manifests(self) -> list[str]:
        """Manifests of past actions, newest first (what the UI offers to undo)."""
        from .actions import manifests

        return [str(p) for p in manifests(self.db_dir / MANIFEST_DIR)]

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        dim = self.catalog.get_meta("dim")
        return LibraryStatus(images=self.catalog.count_images(), model=self.catalog.get_meta("model"),
                             dim=int(dim) if dim else None, roots=self.catalog.roots(),
                             skipped=self.catalog.skipped(), db=str(self.db_dir))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self.catalog.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _show(model_id: str) -> str:
    name, _, tag = model_id.partition("|")
    return f"{name} ({tag})" if tag else name


def open_library(db_dir: str | os.PathLike | None = None, *, model: str | None = None,
         pretrained: str | None = None, device: str = "auto") -> Library:
    """Open (or create) the library in ``db_dir`` (default: the user data folder)."""
    return Library(db_dir, model=model, pretrained=pretrained, device=device)
