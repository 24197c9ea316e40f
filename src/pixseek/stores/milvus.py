"""Milvus vector store: one collection ``(id INT64 primary key, vec FLOAT_VECTOR)``, scored by inner product.

Specs (see ``parse_milvus_spec``):

- ``milvus-lite:PATH.db`` — Milvus Lite, the embedded form: the same client API served from a local
  file by a server inside this process. One process at a time may open a file.
- ``milvus://HOST:PORT`` — a Milvus server or cluster (``milvus+https://`` for TLS).

Both take ``/COLLECTION`` (default ``pixseek``; for Milvus Lite ``?collection=NAME``) and
``?index=FLAT|HNSW|IVF_FLAT|IVF_SQ8|DISKANN|AUTOINDEX`` (default: FLAT on Milvus Lite, HNSW on a
server), used only when the collection is created. Credentials never go into a spec: pass ``token``
or ``user``/``password`` (the CLI reads ``--milvus-token`` or ``PIXSEEK_MILVUS_TOKEN``, ...).

Several pixseek indexes can share one collection (sharded embedding, see ``pixseek.shard``): a
store opened with ``id_range=(lo, hi)`` sees, lists, counts and searches only the ids in
``[lo, hi)``, so reconciling one index with its catalogue never touches another's vectors.

Filters are pushed down: ``search(filter_ids=...)`` becomes ``id in [...]`` (in chunks of
``FILTER_CHUNK`` ids, whose per-chunk top-k are merged: exact, and no expression grows unbounded),
joined with the id range as ``id >= lo and id < hi``.

Example::

    store = MilvusStore("milvus-lite:/tmp/v.db", dim=512)
    store.add(np.array([7, 9]), vecs)
    store.save()                      # flush: Milvus Lite searches unflushed rows slowly
    scores, ids = store.search(vecs[:1], k=2)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import numpy as np

from pixseek.stores.base import (StoreError, VectorStore, as_ids, as_vectors, empty_results, search_queries,
                                 upsert_batch)

LITE_PREFIX = "milvus-lite:"
SERVER_SCHEMES = {"milvus": "http", "milvus+http": "http", "milvus+https": "https"}
DEFAULT_COLLECTION = "pixseek"
DEFAULT_PORT = 19530
INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8", "DISKANN", "AUTOINDEX")
ID_FIELD, VEC_FIELD = "id", "vec"

# Milvus answers at most 16 384 results per query (limit, and offset + limit).
MAX_TOPK = 16_384
# Ids per `id in [...]` expression: ~150 kB of text, far below the gRPC message limit (64 MB), and
# small enough that parsing stays fast on every Milvus version.
FILTER_CHUNK = 10_000
WRITE_CHUNK = 1_000  # rows per upsert: 2 MB at d=512
QUERY_BATCH = 256  # query vectors per search call
RANGE_PAGE_SLACK = 1e-6
RANGE_FIRST_PAGE = 256
LITE_RANGE_PAGES = 5
CONNECT_TIMEOUT_S = 10.0
TOKEN_ENV, USER_ENV, PASSWORD_ENV = "PIXSEEK_MILVUS_TOKEN", "PIXSEEK_MILVUS_USER", "PIXSEEK_MILVUS_PASSWORD"


@dataclass(frozen=True)
class MilvusTarget:
    """Where the vectors go. ``spec`` is canonical (no credentials): safe to record in the catalogue."""

    spec: str
    uri: str  # what MilvusClient takes: a ``.db`` path or ``http(s)://host:port``
    collection: str
    lite: bool
    index_type: str
    db_name: str = ""

    @property
    def where(self) -> str:
        """For messages: ``collection 'pixseek' in Milvus Lite /x/v.db``."""
        place = f"Milvus Lite {self.uri}" if self.lite else f"Milvus at {self.uri}"
        return f"collection {self.collection!r} in {place}"


@dataclass(frozen=True)
class MilvusAuth:
    """Credentials: a token (``user:password`` or an API key), or a user and password."""

    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def resolve(cls, token: str | None = None, user: str | None = None,
                password: str | None = None) -> MilvusAuth:
        """Options win; missing ones come from ``PIXSEEK_MILVUS_TOKEN/USER/PASSWORD``."""
        env = os.environ
        return cls(token or env.get(TOKEN_ENV, ""), user or env.get(USER_ENV, ""),
                   password or env.get(PASSWORD_ENV, ""))


def is_milvus_spec(spec: object) -> bool:
    text = str(spec)
    return text.startswith(LITE_PREFIX) or text.split("://", 1)[0] in SERVER_SCHEMES


def parse_milvus_spec(spec: str, base_dir: str | os.PathLike | None = None) -> MilvusTarget:
    """``milvus-lite:PATH.db[?collection=C&index=I]`` or ``milvus://HOST[:PORT][/C][?index=I&db=D]``.

    A relative Milvus Lite path is taken from ``base_dir`` (default: the current folder).

    >>> parse_milvus_spec("milvus://gpu-box:19530/photos").uri
    'http://gpu-box:19530'
    """
    text = str(spec).strip()
    if text.startswith(LITE_PREFIX):
        path, _, query = text[len(LITE_PREFIX):].partition("?")
        params = _params(query, text, ("collection", "index"))
        if not path:
            raise StoreError(f"{text!r}: name the Milvus Lite file, e.g. milvus-lite:~/photos.db")
        if not path.endswith(".db"):
            raise StoreError(f"{text!r}: a Milvus Lite file name must end in .db, e.g. milvus-lite:{path}.db")
        path = os.path.expanduser(path)
        if base_dir is not None and not os.path.isabs(path):
            path = os.path.join(os.fspath(base_dir), path)
        path = os.path.abspath(path)
        collection = _collection(params.get("collection", DEFAULT_COLLECTION), text)
        index_type = _index_type(params.get("index", "FLAT"), text)
        canonical = LITE_PREFIX + path + _query({"collection": collection if collection != DEFAULT_COLLECTION else None,
                                                  "index": index_type if index_type != "FLAT" else None})
        return MilvusTarget(canonical, path, collection, True, index_type)
    scheme = text.split("://", 1)[0]
    if scheme not in SERVER_SCHEMES:
        raise StoreError(f"{text!r} is not a Milvus store: use milvus://HOST:PORT or milvus-lite:FILE.db")
    parts = urlsplit(text)
    if parts.username or parts.password:
        raise StoreError("put Milvus credentials in --milvus-token (or --milvus-user/--milvus-password, "
                         f"or ${TOKEN_ENV}), not in the store address")
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise StoreError(f"{text!r}: bad port ({exc})") from exc
    if not host:
        raise StoreError(f"{text!r}: name the Milvus host, e.g. milvus://localhost:19530")
    params = _params(parts.query, text, ("index", "db"))
    collection = _collection(parts.path.strip("/") or DEFAULT_COLLECTION, text)
    index_type = _index_type(params.get("index", "HNSW"), text)
    db_name = params.get("db", "")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    canonical = f"{scheme}://{netloc}/{collection}" + _query(
        {"index": index_type if index_type != "HNSW" else None, "db": db_name or None})
    return MilvusTarget(canonical, f"{SERVER_SCHEMES[scheme]}://{netloc}", collection, False, index_type, db_name)


def _params(query: str, text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise StoreError(f"{text!r}: unknown option {unknown[0]!r} (known: {', '.join(allowed)})")
    return params


def _query(params: dict[str, str | None]) -> str:
    kept = [f"{k}={v}" for k, v in params.items() if v]
    return "?" + "&".join(kept) if kept else ""


def _collection(name: str, text: str) -> str:
    # Milvus: letters, digits and underscores, not starting with a digit, at most 255 characters.
    if not name or len(name) > 255 or name[0].isdigit() or not all(c.isalnum() or c == "_" for c in name):
        raise StoreError(f"{text!r}: {name!r} is not a valid collection name (letters, digits, underscores)")
    return name


def _index_type(name: str, text: str) -> str:
    upper = name.upper()
    if upper not in INDEX_TYPES:
        raise StoreError(f"{text!r}: unknown index type {name!r} (known: {', '.join(INDEX_TYPES)})")
    return upper


def _quiet_pymilvus() -> None:
    """pymilvus logs every failed call at ERROR on its own handler; we raise a StoreError instead.
    ``PIXSEEK_LOG_LEVEL`` (as in the CLI) brings its messages back."""
    if not os.environ.get("PIXSEEK_LOG_LEVEL"):
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)
        # Milvus Lite's server runs in this process and logs calls it does not implement (the
        # query iterator's optional AllocTimestamp) with a traceback; the client copes without.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL + 1)


class MilvusStore(VectorStore):
    """A ``VectorStore`` on a Milvus collection (created on first open when absent).

    ``id_range=(lo, hi)`` scopes every read, count and listing to ids in ``[lo, hi)``; ``add`` and
    ``remove`` refuse ids outside it. Writes go to the server at once; ``save()`` flushes them.
    """

    def __init__(self, spec: str | MilvusTarget, dim: int, *, auth: MilvusAuth | None = None,
                 id_range: tuple[int, int] | None = None, create: bool = True) -> None:
        self.target = spec if isinstance(spec, MilvusTarget) else parse_milvus_spec(spec)
        self.dim = int(dim)
        self.id_range = (int(id_range[0]), int(id_range[1])) if id_range else None
        self._lock = threading.RLock()
        self._dirty = False
        self._client = self._connect(auth or MilvusAuth.resolve())
        try:
            self._prepare(create)
        except BaseException:
            self._client.close()
            raise

    # -- connection and schema -----------------------------------------------------------------

    def _connect(self, auth: MilvusAuth):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError("Milvus support is not installed: pip install 'pixseek[milvus]'") from exc
        _quiet_pymilvus()
        t = self.target
        if t.lite:
            try:
                os.makedirs(os.path.dirname(t.uri), exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {t.uri}: {exc.strerror}") from exc
        try:
            return _with_retry(lambda: MilvusClient(uri=t.uri, token=auth.token, user=auth.user,
                                                    password=auth.password, db_name=t.db_name,
                                                    timeout=CONNECT_TIMEOUT_S))
        except Exception as exc:
            if t.lite:
                raise StoreError(
                    f"cannot open the Milvus Lite file {t.uri} ({_reason(exc)}): Milvus Lite allows one "
                    "process per file, so close the other pixseek using it, or use a Milvus server "
                    "(milvus://HOST:PORT) for several") from exc
            raise StoreError(f"cannot connect to Milvus at {t.uri}: {_reason(exc)}") from exc

    def _prepare(self, create: bool) -> None:
        t, c = self.target, self._client
        with self._errors("open"):
            exists = c.has_collection(t.collection)
            if not exists:
                if not create:
                    raise StoreError(f"there is no {t.where}")
                self._create()
            else:
                self._check_schema(c.describe_collection(t.collection))
            c.load_collection(t.collection)

    def _create(self) -> None:
        from pymilvus import DataType

        t, c = self.target, self._client
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(VEC_FIELD, DataType.FLOAT_VECTOR, dim=self.dim)
        index = c.prepare_index_params()
        index.add_index(VEC_FIELD, index_type=t.index_type, metric_type="IP", params=_build_params(t.index_type))
        # Strong consistency: a search sees every write acknowledged before it (read-your-writes).
        c.create_collection(t.collection, schema=schema, index_params=index, consistency_level="Strong")

    def _check_schema(self, desc: dict) -> None:
        fields = {f["name"]: f for f in desc.get("fields", [])}
        pk, vec = fields.get(ID_FIELD), fields.get(VEC_FIELD)
        if pk is None or vec is None or not pk.get("is_primary") or desc.get("auto_id"):
            raise StoreError(f"the {self.target.where} was not made by pixseek (it needs an INT64 primary "
                             f"key {ID_FIELD!r} and a float vector {VEC_FIELD!r}): choose another collection")
        dim = int(vec.get("params", {}).get("dim", -1))
        if dim != self.dim:
            raise StoreError(f"the {self.target.where} holds {dim}-d vectors, but the encoder makes "
                             f"{self.dim}-d ones: choose another collection")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        if self._client is None:
            raise StoreError(f"vector store {self.target.spec} is closed")
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            from pymilvus.exceptions import MilvusException

            if isinstance(exc, (MilvusException, ConnectionError, TimeoutError)) or "grpc" in type(exc).__module__:
                raise StoreError(f"Milvus {action} failed on the {self.target.where}: {_reason(exc)}") from exc
            raise

    # -- expressions -----------------------------------------------------------------------------

    def _scope_expr(self) -> str:
        if self.id_range is None:
            return ""
        lo, hi = self.id_range
        return f"{ID_FIELD} >= {lo} and {ID_FIELD} < {hi}"

    # -- VectorStore ---------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids, vecs = upsert_batch(ids, vecs, self.dim)
        self.require_scope(ids)
        with self._lock, self._errors("upsert"):
            for start in range(0, len(ids), WRITE_CHUNK):
                chunk_ids = ids[start:start + WRITE_CHUNK].tolist()
                chunk_vecs = vecs[start:start + WRITE_CHUNK].tolist()
                rows = [{ID_FIELD: i, VEC_FIELD: v} for i, v in zip(chunk_ids, chunk_vecs)]
                self._client.upsert(self.target.collection, rows)
                self._dirty = True

    def remove(self, ids: np.ndarray) -> int:
        ids = np.unique(as_ids(ids))
        ids = ids[self.in_scope(ids)]
        removed = 0
        with self._lock, self._errors("delete"):
            for start in range(0, len(ids), FILTER_CHUNK):
                present = self._present(ids[start:start + FILTER_CHUNK])
                if present:
                    self._client.delete(self.target.collection, ids=present)
                    removed += len(present)
                    self._dirty = True
        return removed

    def _present(self, ids: np.ndarray) -> list[int]:
        rows = self._client.query(self.target.collection, filter=_in_expr(ids), output_fields=[ID_FIELD],
                                  limit=len(ids))
        return [int(r[ID_FIELD]) for r in rows]

    def search(
        self, queries: np.ndarray, k: int, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = search_queries(queries, k, self.dim)
        if k > MAX_TOPK:
            raise StoreError(f"Milvus returns at most {MAX_TOPK} results per query, not {k}")
        out_scores, out_ids = empty_results(len(queries), k)
        if not k or not len(queries):
            return out_scores, out_ids
        if filter_ids is None:
            exprs = [self._scope_expr()]
        else:
            allowed = np.unique(as_ids(filter_ids))
            allowed = allowed[self.in_scope(allowed)]
            if not len(allowed):
                return out_scores, out_ids
            # The id range is implied: `allowed` was cut to it.
            exprs = [_in_expr(allowed[s:s + FILTER_CHUNK]) for s in range(0, len(allowed), FILTER_CHUNK)]
        with self._lock, self._errors("search"):
            for start in range(0, len(queries), QUERY_BATCH):
                batch = queries[start:start + QUERY_BATCH]
                parts = [self._search(batch, k, expr) for expr in exprs]
                scores, ids = parts[0] if len(parts) == 1 else _merge_top_k(parts, k)
                out_scores[start:start + len(batch)], out_ids[start:start + len(batch)] = scores, ids
        return out_scores, out_ids

    def _search(self, queries: np.ndarray, k: int, expr: str, extra: dict | None = None,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        params = {"metric_type": "IP", "params": {**_search_params(self.target.index_type, k), **(extra or {})}}
        result = self._client.search(self.target.collection, data=queries.tolist(), filter=expr,
                                     limit=limit or k, output_fields=[ID_FIELD], search_params=params,
                                     anns_field=VEC_FIELD)
        width = limit or k
        scores, ids = empty_results(len(queries), width)
        for row, hits in enumerate(result):
            for col, hit in enumerate(hits):
                ids[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, ids

    def range_search(
        self, queries: np.ndarray, min_score: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Milvus range search (``radius < score <= range_filter``), paged below the top-k cap."""
        queries = as_vectors(queries, self.dim)
        # Milvus keeps scores strictly above the radius; we promise >= min_score.
        radius = float(np.nextafter(np.float32(min_score), np.float32(-np.inf)))
        out = []
        with self._lock, self._errors("range search"):
            for start in range(0, len(queries), QUERY_BATCH):
                batch = queries[start:start + QUERY_BATCH]
                # Near-duplicate queries have few results: a small first page is much cheaper
                # (Milvus Lite ranks 5 x limit candidates); a full one is asked again at the cap.
                first = min(RANGE_FIRST_PAGE, MAX_TOPK)
                scores, ids = self._range(batch, radius, 2.0, first)
                for row in range(len(batch)):
                    s, i = scores[row], ids[row]
                    if (i >= 0).sum() == first < MAX_TOPK:
                        s, i = (a[0] for a in self._range(batch[row:row + 1], radius, 2.0, MAX_TOPK))
                    out.append(self._range_rest(batch[row], s, i, radius, min_score))
        return out

    def _range(self, queries: np.ndarray, radius: float, upper: float,
               limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        # range_filter is the inclusive upper bound for IP; 2.0 is above any score of unit vectors.
        limit = limit or MAX_TOPK
        return self._search(queries, limit, self._scope_expr(), {"radius": radius, "range_filter": upper},
                            limit=limit)

    def _range_rest(self, query: np.ndarray, scores: np.ndarray, ids: np.ndarray, radius: float,
                    min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """Complete one query's range results: while a page comes back full, ask again for scores
        up to (and including) the page's lowest, dropping ids already seen (ties at the edge)."""
        got_ids, got_scores = [ids[ids >= 0]], [scores[ids >= 0]]
        seen = set(got_ids[0].tolist())
        pages = 1
        while (ids >= 0).sum() == MAX_TOPK:
            if self.target.lite and pages >= LITE_RANGE_PAGES:
                # Milvus Lite ranks the top 5 x limit and then applies the bounds, so later pages
                # would silently miss vectors.
                raise StoreError(f"Milvus Lite answers at most {LITE_RANGE_PAGES * MAX_TOPK} results per range "
                                 "query: raise the minimum score, or use a Milvus server")
            # A little above the page's lowest score: a score recomputed in another batch may
            # differ in the last bits; the ids seen already are dropped below.
            scores, ids = self._range(query[None, :], radius, float(scores[-1]) + RANGE_PAGE_SLACK)
            pages += 1
            scores, ids = scores[0], ids[0]
            fresh = np.array([i >= 0 and int(i) not in seen for i in ids], bool)
            if not fresh.any() and (ids >= 0).sum() == MAX_TOPK:
                raise StoreError(f"more than {MAX_TOPK} vectors score exactly {float(scores[-1]):.6f}: "
                                 "raise the minimum score")
            got_ids.append(ids[fresh])
            got_scores.append(scores[fresh])
            seen.update(ids[fresh].tolist())
        all_ids, all_scores = np.concatenate(got_ids), np.concatenate(got_scores).astype(np.float32)
        keep = all_scores >= min_score
        all_ids, all_scores = all_ids[keep], all_scores[keep]
        order = np.argsort(-all_scores, kind="stable")
        return all_ids[order].astype(np.int64), all_scores[order]

    def ids(self) -> np.ndarray:
        with self._lock, self._errors("listing ids"):
            it = self._client.query_iterator(self.target.collection, batch_size=FILTER_CHUNK,
                                             filter=self._scope_expr(), output_fields=[ID_FIELD])
            chunks = []
            try:
                while True:
                    rows = it.next()
                    if not rows:
                        break
                    chunks.append(np.fromiter((r[ID_FIELD] for r in rows), np.int64, len(rows)))
            finally:
                it.close()
        return np.unique(np.concatenate(chunks)) if chunks else np.empty(0, np.int64)

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = as_ids(ids)
        found: dict[int, list[float]] = {}
        wanted = np.unique(ids[self.in_scope(ids)])
        with self._lock, self._errors("get"):
            for start in range(0, len(wanted), FILTER_CHUNK):
                rows = self._client.get(self.target.collection, ids=wanted[start:start + FILTER_CHUNK].tolist(),
                                        output_fields=[ID_FIELD, VEC_FIELD])
                found.update((int(r[ID_FIELD]), r[VEC_FIELD]) for r in rows)
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise KeyError(f"{len(missing)} ids not in the store, e.g. {missing[:5]}")
        out = np.empty((len(ids), self.dim), np.float32)
        for row, i in enumerate(ids.tolist()):
            out[row] = found[i]
        return out

    def __len__(self) -> int:
        with self._lock, self._errors("count"):
            rows = self._client.query(self.target.collection, filter=self._scope_expr(),
                                      output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def save(self) -> None:
        """Flush: Milvus keeps acknowledged writes anyway; flushing seals them into segments, and
        Milvus Lite searches unflushed rows by a slow path (~0.3 s per search)."""
        with self._lock:
            if not self._dirty:
                return
            with self._errors("flush"):
                self._client.flush(self.target.collection)
            self._dirty = False

    def clear(self) -> int:
        """Delete every vector in this store's id range (the whole collection without one)."""
        with self._lock:
            return super().clear()

    def count_all(self) -> int:
        """Vectors in the whole collection, every index sharing it included."""
        with self._lock, self._errors("count"):
            rows = self._client.query(self.target.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def destroy(self) -> None:
        """Drop the whole collection (every index sharing it loses its vectors), then close."""
        with self._lock, self._errors("drop"):
            self._client.drop_collection(self.target.collection)
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def describe(self) -> str:
        """One line: ``Milvus HNSW, collection 'pixseek' at http://host:19530``."""
        scope = f", ids [{self.id_range[0]}, {self.id_range[1]})" if self.id_range else ""
        return f"Milvus {self.target.index_type}, {self.target.where}{scope}"

    def __repr__(self) -> str:
        return f"MilvusStore({self.target.spec!r}, dim={self.dim}{', closed' if self._client is None else ''})"


# -- helpers -------------------------------------------------------------------------------------


def _in_expr(ids: np.ndarray) -> str:
    return f"{ID_FIELD} in [{','.join(map(str, np.asarray(ids).tolist()))}]"


def _build_params(index_type: str) -> dict:
    """Index-build parameters: the Milvus docs' defaults for image embeddings of d=512."""
    return {"HNSW": {"M": 16, "efConstruction": 200},
            "IVF_FLAT": {"nlist": 1024}, "IVF_SQ8": {"nlist": 1024}}.get(index_type, {})


def _search_params(index_type: str, k: int) -> dict:
    if index_type == "HNSW":
        return {"ef": max(64, k)}  # ef must be >= k
    if index_type in ("IVF_FLAT", "IVF_SQ8"):
        return {"nprobe": 32}
    return {}


def _merge_top_k(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k over the concatenated results of searches on disjoint id sets."""
    scores = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def _with_retry(connect, attempts: int = 2, pause_s: float = 1.0):
    """A channel the server dropped (gRPC GOAWAY after a long idle, e.g. "too_many_pings") fails the
    first connection after it; a new attempt gets a fresh channel. Real errors fail every attempt."""
    for attempt in range(attempts):
        try:
            return connect()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(pause_s)


def _reason(exc: BaseException) -> str:
    """A one-line reason from a pymilvus/gRPC error."""
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())[:300]
