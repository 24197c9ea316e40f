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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .access import resolves_inside
from .catalog import Catalog
from .config import default_db_dir
from .encoders import Encoder, ModelSpec, load_encoder
from .errors import ImageDecodeError, ModelMismatchError, PixseekError, UnsupportedQueryError
from .evaluation.retrieval import RetrievalReport, evaluate_retrieval, read_captions
from .explore import Embeddings, load_embeddings
from .indexing import Pipeline
from .indexing.signals import eager_signals, signal_coverage
from .indexing.sources import IndexPlan, plan_index
from .search import CopyGroups, ExactCopies, Query, Searcher
from .settings import LibrarySettings
from .stores.base import VectorStore
from .stores.keeper import StoreKeeper
from .thumbs import GALLERY_SIZE, ThumbnailCache
from .tuning import batch_size_for, decode_workers_for
from .types import (ActionReport, ProgressFn, SignalCoverage, CrawlProblem, DuplicateGroup, EncodedQuery, Hit, ImageInfo, IndexReport,
                    LibraryStatus, PhotoWord, SearchResults, SkippedFile)

CATALOG_FILE = "catalog.sqlite"
MANIFEST_DIR = "manifests"
THUMBS_DIR = "thumbs"
ImageQuery = str | os.PathLike | bytes


class Library:
    """A searchable photo library stored in ``db_dir``, opened with ``settings``.

    ``settings.model``/``pretrained`` choose the encoder for a new index; an existing index remembers
    its encoder, and asking for another one is refused (``index(reindex=True)`` rebuilds instead).
    ``settings.store`` chooses where a new index keeps its vectors (``faiss``, ``milvus-lite:FILE.db``,
    ``milvus://HOST:PORT[/COLLECTION]``); an index remembers it (``pixseek.migrate`` moves them).
    """

    def __init__(self, db_dir: str | os.PathLike | None = None, settings: LibrarySettings | None = None) -> None:
        self.settings = settings or LibrarySettings()
        self.db_dir = Path(os.path.expanduser(db_dir)) if db_dir else default_db_dir()
        try:
            self.db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PixseekError(f"cannot create the index folder {self.db_dir}: {exc.strerror}") from exc
        self.catalog = Catalog(self.db_dir / CATALOG_FILE)
        self.recorded_model = self.catalog.get_meta("model")
        self.spec = self.settings.model_spec(self.recorded_model)
        self._encoder: Encoder | None = None
        self._lock = threading.RLock()  # guards lazy loading and closing, never held during a run
        self._index_lock = threading.Lock()  # one index run at a time within this process
        # Which files count as copies of one picture when results are collapsed: same bytes for now;
        # the duplicate finder can put its own groups here (anything with ``groups_of(ids)``).
        self.copy_groups: CopyGroups = ExactCopies(self.catalog)
        self._searcher: Searcher | None = None
        self.stores = StoreKeeper(self.catalog, self.db_dir, self.settings.store, auth=self.settings.store_auth,
                                  lock=self._lock)

    # -- parts, loaded lazily ------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder(self.spec, self.settings.backend, self.settings.precision)
            return self._encoder

    @property
    def store(self) -> VectorStore:
        """The vector store, opened on first use and reconciled with the catalogue (``self.stores``)."""
        return self.stores.store

    @property
    def store_spec(self) -> str:
        """Where the vectors are: ``faiss``, or a canonical Milvus spec."""
        return self.stores.spec

    def reload_model(self) -> None:
        """Use the encoder the catalogue records (after another index's rows were merged in)."""
        self.recorded_model = self.catalog.get_meta("model")
        if self.recorded_model:
            spec = ModelSpec.parse(self.recorded_model, self.settings.device)
            if spec != self.spec:
                self.spec, self._encoder = spec, None

    def _check_model(self, reindex: bool = False) -> None:
        recorded = self.catalog.get_meta("model")
        if recorded and recorded != self.spec.id and not reindex:
            raise ModelMismatchError(
                f"this index was built with {ModelSpec.parse(recorded).label}, not {self.spec.label}: "
                "use the same --model, or --reindex to rebuild it with the new one"
            )

    # -- indexing --------------------------------------------------------------------------------------
    def index(self, paths: Iterable[str | os.PathLike] | None = None, *, reindex: bool = False,
              batch_size: int | None = None, workers: int | None = None, include_hidden: bool = False,
              exact_decode: bool = False, progress: ProgressFn | None = None,
              on_problem: Callable[[CrawlProblem], None] | None = None,
              shard: str | None = None, moves: Iterable[tuple[str | os.PathLike, str | os.PathLike]] = ()
              ) -> IndexReport:
        """Index ``paths``; with no paths, refresh every folder indexed before.

        A folder is crawled and recorded as an indexed folder. A file inside an indexed folder is
        indexed on its own (a file elsewhere is recorded like a folder). A path that no longer
        exists removes what was indexed at or under it. ``moves`` are ``(old, new)`` paths of files
        or folders that moved: they keep their ids and vectors. ``shard="I/N"`` indexes only the
        files of shard I of N (``pixseek.shard``).

        >>> lib.index(["~/Pictures/new.jpg", "~/Pictures/deleted.jpg"])  # doctest: +SKIP
        """
        moves = [(_absolute(a), _absolute(b)) for a, b in moves]
        roots = [_absolute(p) for p in (paths or [])]
        if not roots and not moves:
            roots = self.catalog.roots()
            if not roots:
                raise PixseekError("nothing to index: name a folder, e.g. `pixseek index ~/Pictures`")
        self._check_model(reindex)
        with self.writing():
            shard_spec = self.stores.before_index(shard)
            if reindex and self.catalog.get_meta("model") not in (None, self.spec.id):
                self._drop_index()
            if self.catalog.get_meta("model") is None:
                dim = self.encoder.dim
                with self.catalog.transaction() as db:
                    self.catalog.set_meta(db, "model", self.spec.id)
                    self.catalog.set_meta(db, "dim", str(dim))
                self.recorded_model = self.spec.id
            plan = self.plan_index(roots)  # before recording: a typo must not become an indexed folder
            self.catalog.add_roots(plan.new_roots)
            self.catalog.remove_roots(plan.gone_roots)
            # defaults per device: 32 and a worker per core on a CPU, 256 on a GPU (tuning.py)
            pipeline = Pipeline(self.catalog, self.store, lambda: self.encoder,
                                batch_size=batch_size or batch_size_for(self.settings.device),
                                workers=workers or decode_workers_for(self.settings.device),
                                exact_decode=exact_decode, progress=progress,
                                signals=eager_signals(self._ocr_mode(record=True)))
            stale = pipeline.stale_signals()
            sources = plan.sources(self.catalog, moves=moves, stale=stale, include_hidden=include_hidden,
                                   file_filter=shard_spec.owns if shard_spec else None, on_problem=on_problem)
            self.stores.begin_writes()
            report = pipeline.run(sources, stale)
            self.stores.after_index()
            self._sync_path_words(report)
            return report

    # -- words in and about photos (pixseek.words) ------------------------------------------------------
    def _ocr_mode(self, record: bool = False) -> str:
        """``settings.ocr`` when given (recorded in the index with ``record``), else the index's own,
        else ``$PIXSEEK_OCR``, else ``auto``."""
        from .words.ocr import OCR_MODES

        asked = self.settings.ocr
        if asked is None:
            mode = self.catalog.get_meta("ocr") or os.environ.get("PIXSEEK_OCR") or "auto"
            if mode not in OCR_MODES:
                raise PixseekError(f"PIXSEEK_OCR must be one of {', '.join(OCR_MODES)}, not {mode!r}")
            return mode
        if asked not in OCR_MODES:
            raise PixseekError(f"--ocr must be one of {', '.join(OCR_MODES)}, not {asked!r}")
        if record and self.catalog.get_meta("ocr") != asked:
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, "ocr", asked)
        return asked

    def _sync_path_words(self, report: IndexReport) -> None:
        from .words.paths import sync_path_words

        changed = sync_path_words(self.catalog)
        if changed and not (report.added or report.updated):
            report.notes.append(f"words of names and sidecars brought up to date for {changed} files")

    def words_for(self, path: str | os.PathLike, query: str | None = None) -> list[PhotoWord]:
        """The words in and about an indexed photo (OCR lines with their boxes and confidence,
        names, keywords, camera, ...); with ``query``, the words that match it have ``matched``.

        >>> [w.text for w in lib.words_for("~/Pictures/router.png", "login") if w.matched]  # doctest: +SKIP
        ['Router Login admin']
        """
        from .words.search import highlight
        from .words.store import words_of_file

        row = self.catalog.row_by_path(_absolute(path))
        if row is None or row.status != "ok":
            raise PixseekError(f"not an indexed photo: {path}")
        words = words_of_file(self.catalog.db, row.id, row.sha)
        return highlight(words, query) if query else words

    def word_problems(self) -> list[tuple[str, str]]:
        """``(owner, reason)`` for metadata, sidecars and OCR that could not be read (owner: a path,
        or ``ocr:``/``metadata:`` and a content hash)."""
        from .words.store import problems

        return problems(self.catalog.db)

    def plan_index(self, paths: Sequence[str | os.PathLike]) -> IndexPlan:
        """What :meth:`index` would do with ``paths`` (folders to crawl, single paths to diff);
        raises :class:`PixseekError` for what it would refuse (a typo, a non-image file)."""
        return plan_index(self.catalog, [_absolute(p) for p in paths])

    def _drop_index(self) -> None:
        self.stores.clear_for_reindex()
        with self.catalog.transaction() as db:
            self.catalog.drop_vectors(db)
            db.execute("DELETE FROM meta WHERE key IN ('model', 'dim')")
        self.stores.close()
        self.stores.remove_faiss_file()

    @contextlib.contextmanager
    def writing(self):
        """One writer per index folder, across processes and threads; raises ``PixseekError`` when
        another holds it. Searches are not blocked.

        >>> with lib.writing():                                       # doctest: +SKIP
        ...     migrate_the_vectors(lib)
        """
        busy = PixseekError(f"another pixseek is indexing {self.db_dir}: wait for it to finish")
        if not self._index_lock.acquire(blocking=False):
            raise busy
        fh = open(self.db_dir / "index.lock", "w")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise busy from exc
            yield
        finally:
            fh.close()
            self._index_lock.release()

    # -- queries -------------------------------------------------------------------------------------
    @property
    def searcher(self) -> Searcher:
        with self._lock:
            if self._searcher is None:
                self._searcher = Searcher(self.catalog, lambda: self.store, lambda: self.encoder,
                                          lambda: self.copy_groups, lock=self._lock,
                                          model_label=self.spec.label)
            return self._searcher

    def query(self, query: Query, *, exclude_examples: bool = False,
              exclude_ids: Iterable[int] = ()) -> SearchResults:
        """One page of results for a :class:`~pixseek.search.Query` (texts, example images, weights,
        negatives, filters, paging, strong cut-off, collapsed copies). ``exclude_examples`` leaves
        indexed example images out of their own results.

        >>> lib.query(Query(text="a red bicycle", negatives=["people"], k=20, strong=True))  # doctest: +SKIP
        """
        query.terms()  # a malformed query fails before anything is loaded
        self._check_model()
        self._require_images()
        return self.searcher.run(query, exclude_examples=exclude_examples, exclude_ids=exclude_ids)

    def search(self, text: str | None = None, k: int = 10, mode: str | None = None, **options) -> list[Hit]:
        """Photos that match a description, best first. ``mode``: ``hybrid`` (the default when
        the index has words: what the photo shows and the words in and about it, fused),
        ``words`` or ``visual``; each hit says ``why``. ``options`` are :class:`Query` fields
        (``images``, ``negatives``, ``weights``, ``template``, ``filters``, ``offset``, ``strong``,
        ``collapse``); an example image that is indexed comes first in its own results.

        >>> lib.search("router login", mode="words")[0].why  # doctest: +SKIP
        ('text in photo: "Router Login admin"',)
        """
        return self.query(Query(text=text, k=k, mode=mode, **options)).hits

    def similar(self, image: ImageQuery, k: int = 10, **options) -> list[Hit]:
        """Photos that look like ``image`` (a path, or the bytes of an image file), best first.
        An indexed path uses its stored vector and is left out of its own results. ``options`` are
        :class:`Query` fields (``filters``, ``offset``, ``strong``, ``collapse``, ...)."""
        return self.query(Query(images=(image,), k=k, **options), exclude_examples=True).hits

    def vector_for(self, path: str | os.PathLike) -> tuple[np.ndarray, int | None]:
        """The (1, dim) vector of an image file, and its id when it is indexed (its stored vector
        is used then: no decoding)."""
        vec, fid = self.searcher.image_vector(path)
        return vec[None, :], fid

    def _require_images(self) -> None:
        # The store holds exactly the catalogue's vectors; counting them in SQLite reads every blob
        # (0.3-0.4 s per query at 100k images); the store knows its size for free.
        if self.catalog.get_meta("dim") is None or len(self.store) == 0:
            raise PixseekError(f"the index in {self.db_dir} has no images yet: run `pixseek index FOLDER` first")

    def evaluate_retrieval(self, captions_csv: str | os.PathLike, ks: Sequence[int] = (1, 5, 10),
                           progress: ProgressFn | None = None) -> RetrievalReport:
        """Recall@K for text->image and image->text on captioned photos (see ``evaluation``).
        ``progress(done, total)`` counts images, then captions, as they are encoded."""
        self._check_model()
        if not self.encoder.supports_text:
            raise UnsupportedQueryError(f"{self.spec.label} encodes images only: retrieval evaluation "
                                        "needs a text+image model such as ViT-B-32")
        rows = read_captions(captions_csv)
        paths = list(dict.fromkeys(r.path for r in rows))
        where = {p: i for i, p in enumerate(paths)}
        tick = progress or (lambda done, total: None)
        total = len(paths) + len(rows)
        images = []
        for i, p in enumerate(paths):
            images.append(self.vector_for(p)[0])
            tick(i + 1, total)
        captions = [r.caption for r in rows]
        texts = []
        for i in range(0, len(captions), 256):
            texts.append(self.encoder.encode_texts(captions[i:i + 256]))
            tick(len(paths) + min(i + 256, len(captions)), total)
        return evaluate_retrieval(np.concatenate(images), np.concatenate(texts), [where[r.path] for r in rows], ks)

    def embeddings(self, paths: Iterable[str | os.PathLike] | None = None) -> Embeddings:
        """Every indexed photo's vector (under ``paths`` when given), for maps, clusters and
        outliers (see :mod:`pixseek.explore`)."""
        self._require_images()
        return load_embeddings(self.catalog, [os.path.expanduser(os.fspath(p)) for p in paths] if paths else None)

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
        from .dedup import apply_action

        with self.writing(), self._lock:
            return apply_action(self.catalog, lambda: self.store, list(groups), action,
                                manifest_dir=self.db_dir.absolute() / MANIFEST_DIR, move_to=move_to, progress=progress)

    def undo(self, manifest: str | os.PathLike, *, progress: ProgressFn | None = None) -> ActionReport:
        """Restore every file an action moved, linked or trashed, bit-identical, and re-index it."""
        from .dedup import undo_manifest

        with self.writing(), self._lock:
            return undo_manifest(self.catalog, lambda: self.store, os.path.expanduser(os.fspath(manifest)),
                                 progress=progress)

    def manifests(self) -> list[str]:
        """Manifests of past actions, newest first (what the UI offers to undo)."""
        from .dedup import manifests

        return [str(p) for p in manifests(self.db_dir / MANIFEST_DIR)]

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        from .words.store import count_words

        dim = self.catalog.get_meta("dim")
        model = ModelSpec.parse(self.catalog.get_meta("model") or "")
        return LibraryStatus(images=self.catalog.count_images(), model=model.model or None,
                             pretrained=model.pretrained, dim=int(dim) if dim else None, roots=self.catalog.roots(),
                             skipped=self.catalog.skipped(), db=str(self.db_dir),
                             store=self.stores.line(), signals=self.signal_coverage(),
                             words=count_words(self.catalog.db),
                             word_problems=[SkippedFile(owner, reason) for owner, reason in self.word_problems()])

    def signal_coverage(self) -> list[SignalCoverage]:
        """Each per-photo signal (``indexing.signals``) and how many indexed pictures have it: a new
        signal or version is filled in by the next ``index`` run."""
        return signal_coverage(self.catalog, self._ocr_mode())

    def close(self) -> None:
        with self._lock:
            self.stores.close()
            self.catalog.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for clients that show photos (the web UI) ---------------------------------------------------
    @property
    def thumb_cache(self) -> ThumbnailCache:
        """Thumbnails, kept next to the index in ``DB/thumbs``."""
        return ThumbnailCache(self.db_dir / THUMBS_DIR)

    @property
    def supports_text(self) -> bool:
        """Whether the index's model reads text (loads the model if needed)."""
        return self.encoder.supports_text

    def is_servable(self, path: str | os.PathLike) -> bool:
        """True when a client may show ``path``: an indexed photo that resolves inside an indexed
        folder (see :mod:`pixseek.access`)."""
        return self._servable_row(path) is not None

    def image_info(self, path: str | os.PathLike) -> ImageInfo:
        """Path, dimensions, file size, capture and modification dates of an indexed photo."""
        row = self._servable_row(path, required=True)
        try:
            st = os.stat(row.path)
        except OSError as exc:
            raise PixseekError(f"cannot read {row.path}: {exc.strerror}") from exc
        modified = datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")
        return ImageInfo(path=row.path, name=os.path.basename(row.path), width=row.width, height=row.height,
                         bytes=st.st_size, taken_at=row.taken_at, modified=modified, format=row.format)

    def thumbnail(self, path: str | os.PathLike, size: int = GALLERY_SIZE) -> Path:
        """An upright JPEG of an indexed photo, longer side <= ``size``, made once and cached."""
        row = self._servable_row(path, required=True)
        try:
            return self.thumb_cache.get(row.path, row.sha, size)
        except ImageDecodeError as exc:
            raise PixseekError(f"cannot show {row.path}: {exc}") from exc
        except OSError as exc:
            raise PixseekError(f"cannot write a thumbnail in {self.thumb_cache.folder}: {exc.strerror}") from exc

    def _servable_row(self, path: str | os.PathLike, required: bool = False):
        try:
            # abspath also folds `..`: ROOT/../etc/passwd becomes /etc/passwd, which is no indexed row
            abs_path = os.path.abspath(os.fspath(path))
            row = self.catalog.row_by_path(abs_path)
        except (TypeError, ValueError):
            row = None
        if row is not None and row.status == "ok" and resolves_inside(row.path, self.catalog.roots()):
            return row
        if required:
            raise PixseekError(f"not an indexed photo: {path}")
        return None

    def encode_query(self, text: str | None = None, image: ImageQuery | EncodedQuery | None = None,
                     image_name: str | None = None) -> EncodedQuery:
        """One vector for a text, an image (a path, a file's bytes, or an earlier EncodedQuery of
        one), or both (equal weights; see :class:`Query`). A client keeps it for "load more"
        instead of the query photo. An indexed query photo is left out of its own results."""
        exclude: tuple[int, ...] = ()
        if isinstance(image, EncodedQuery):
            exclude, image_name = image.exclude, image_name or image.image
            image = np.asarray(image.vector, dtype=np.float32)
        elif image is not None and not isinstance(image, bytes):
            image_name = image_name or os.path.abspath(os.path.expanduser(os.fspath(image)))
        query = Query(text=text, images=() if image is None else [image])
        terms = query.terms()  # an empty query fails here, before anything is loaded
        self._check_model()
        self._require_images()
        vector, example_ids = self.searcher.vector(terms)
        return EncodedQuery(vector=vector[0], exclude=exclude + tuple(example_ids), text=query.text,
                            image=image_name)


def _absolute(path: str | os.PathLike) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def open_library(db_dir: str | os.PathLike | None = None, **settings: Any) -> Library:
    """Open (or create) the library in ``db_dir`` (default: the user data folder). ``settings`` are
    :class:`~pixseek.settings.LibrarySettings` fields (``model``, ``pretrained``, ``device``,
    ``store``, ``store_auth``, ``backend``, ``precision``); another keyword is a ``TypeError``.

    >>> pixseek.open("~/photos-index", model="timm:tf_efficientnet_lite0", pretrained="wheel")  # doctest: +SKIP
    """
    return Library(db_dir, LibrarySettings.of(**settings))
