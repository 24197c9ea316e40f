"""A look inside the vector space: the uses that embeddings serve besides search.

    emb = lib.embeddings()                       # ids, paths, vectors of every indexed photo
    xy, method = project_2d(emb.vectors)         # 2-D map (UMAP when installed, else PCA)
    clusters = kmeans(emb.vectors, k=6)          # groups of photos that look alike
    odd = outliers(emb.vectors, n=5)             # the photos least like their neighbours

Everything here works on L2-normalised float32 vectors, so a dot product is a cosine similarity.
Exact neighbour search is O(n^2): fine for tens of thousands of photos, slow beyond.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog

PROJECTIONS = ("auto", "pca", "umap")


@dataclass(frozen=True)
class Embeddings:
    """Every indexed photo's vector: row ``i`` of ``vectors`` belongs to ``paths[i]`` (id ``ids[i]``)."""

    ids: np.ndarray  # (n,) int64
    paths: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit rows

    def __len__(self) -> int:
        return len(self.paths)

    def folders(self, roots: Sequence[str] = ()) -> list[str]:
        """A label per photo: its folder relative to the indexed root that holds it ("." for the
        root itself), or the parent folder's path when no root holds it."""
        roots = sorted((r.rstrip(os.sep) for r in roots), key=len, reverse=True)
        out = []
        for path in self.paths:
            parent = os.path.dirname(path)
            root = next((r for r in roots if parent == r or parent.startswith(r + os.sep)), None)
            out.append(os.path.relpath(parent, root) if root else parent)
        return out


def load_embeddings(catalog: Catalog, roots: Sequence[str] | None = None) -> Embeddings:
    """The vectors of indexed photos (under ``roots`` when given), ordered by path."""
    ids = catalog.ids_with_vectors()
    rows = catalog.rows_by_ids(ids.tolist())
    if roots:
        wanted = {r.id for r in catalog.rows_under([os.path.abspath(os.fspath(p)) for p in roots])}
        rows = {i: r for i, r in rows.items() if i in wanted}
    order = sorted(rows, key=lambda i: rows[i].path)
    vectors = catalog.vectors(order) if order else np.zeros((0, 0), dtype=np.float32)
    return Embeddings(np.asarray(order, dtype=np.int64), [rows[i].path for i in order],
                      np.ascontiguousarray(vectors, dtype=np.float32))


def project_2d(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates for a scatter plot, and the method used. ``auto``: UMAP when ``umap-learn``
    is installed and there are enough points, else PCA (the two directions of largest spread)."""
    if method not in PROJECTIONS:
        raise ValueError(f"method must be one of {', '.join(PROJECTIONS)}, not {method!r}")
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError("need at least 3 vectors to project")
    if method in ("auto", "umap"):
        try:
            import umap  # optional: pip install umap-learn
        except ImportError:
            if method == "umap":
                raise
        else:
            if len(x) > 10 or method == "umap":
                reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), metric="cosine",
                                    random_state=seed, n_jobs=1)  # n_jobs=1: a seed forces it anyway
                return reducer.fit_transform(x).astype(np.float32), "umap"
    return pca_2d(x), "pca"


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Projection on the two principal axes (signs fixed so that the result is deterministic)."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:2]
    # An SVD axis may come out as v or -v: point each one towards its largest component.
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    out = x @ axes.T
    if out.shape[1] < 2:  # all points on one line
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


@dataclass(frozen=True)
class Clusters:
    """k-means on the unit sphere: ``labels[i]`` is photo i's cluster; ``centroids`` are unit
    vectors; ``representatives[c]`` lists cluster c's members, closest to its centroid first."""

    labels: np.ndarray
    centroids: np.ndarray
    representatives: list[list[int]]

    @property
    def sizes(self) -> list[int]:
        return [len(r) for r in self.representatives]


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> Clusters:
    """Spherical k-means (cosine similarity) with FAISS; clusters are numbered largest first."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of vectors ({len(x)}), not {k}")
    # min_points_per_centroid=1: small galleries are fine here, and FAISS would print a warning.
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, spherical=True, verbose=False,
                      min_points_per_centroid=1)
    # FAISS starts from k random points, which often puts two seeds in one cluster and none in
    # another; k-means++ seeding rarely does.
    km.train(x, init_centroids=kmeans_plus_plus(x, k, seed))
    sims = x @ km.centroids.T
    labels = sims.argmax(axis=1)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    labels = rank[labels]
    centroids = km.centroids[order]
    reps = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        reps.append(members[np.argsort(-sims[members, order[c]], kind="stable")].tolist())
    return Clusters(labels.astype(np.int64), centroids, reps)


def kmeans_plus_plus(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Greedy k-means++ seeds (as scikit-learn picks them): each next seed is drawn with probability
    proportional to its squared distance from the seeds so far, best of 2 + log(k) draws."""
    rng = np.random.default_rng(seed)
    n = len(x)
    tries = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]
    dist = np.maximum(2 - 2 * (x @ x[chosen[0]]), 0)  # squared distance between unit vectors
    for _ in range(1, k):
        if dist.sum() <= 0:  # fewer distinct points than k: any unused point will do
            chosen.append(int(np.setdiff1d(np.arange(n), chosen)[0]))
            continue
        candidates = rng.choice(n, size=tries, p=dist / dist.sum())
        new_dist = np.maximum(2 - 2 * (x[candidates] @ x.T), 0)
        new_dist = np.minimum(new_dist, dist)
        best = int(np.argmin(new_dist.sum(axis=1)))
        chosen.append(int(candidates[best]))
        dist = new_dist[best]
    return np.ascontiguousarray(x[chosen])


def neighbour_similarity(vectors: np.ndarray, neighbours: int = 5) -> np.ndarray:
    """For each vector, the mean cosine similarity to its ``neighbours`` nearest other vectors."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if n < 2:
        raise ValueError("need at least 2 vectors")
    m = min(neighbours, n - 1)
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, 2048):  # blocks: an n x n matrix would not fit at 100k photos
        sims = x[start:start + 2048] @ x.T
        rows = np.arange(len(sims))
        sims[rows, rows + start] = -np.inf  # not its own neighbour
        top = -np.partition(-sims, m - 1, axis=1)[:, :m]
        out[start:start + 2048] = top.mean(axis=1)
    return out


def outliers(vectors: np.ndarray, n: int = 5, neighbours: int = 5) -> list[tuple[int, float]]:
    """The ``n`` photos least similar to their nearest neighbours, as (row, mean similarity),
    least similar first: pictures unlike the rest of the collection (or mis-filed ones)."""
    score = neighbour_similarity(vectors, neighbours)
    worst = np.argsort(score, kind="stable")[:n]
    return [(int(i), float(score[i])) for i in worst]


@dataclass(frozen=True)
class PhotoCluster:
    """One group of look-alike photos: its members' paths, closest to the centre first, and how
    alike they are (mean cosine similarity to the centre)."""

    number: int
    paths: list[str]
    cohesion: float

    @property
    def size(self) -> int:
        return len(self.paths)

    def to_dict(self, examples: int | None = None) -> dict:
        return {"cluster": self.number, "size": self.size, "cohesion": round(self.cohesion, 4),
                "paths": self.paths if examples is None else self.paths[:examples]}


@dataclass(frozen=True)
class ClusterReport:
    """What ``pixseek clusters`` and the Explore tab show: the groups, largest first, and the photos
    least like the rest, as ``(path, mean similarity to their nearest neighbours)``."""

    clusters: list[PhotoCluster]
    outliers: list[tuple[str, float]]
    photos: int


def cluster_report(emb: Embeddings, vectors: np.ndarray | None = None, k: int = 20, *, outlier_count: int = 10,
                   seed: int = 0) -> ClusterReport:
    """k-means clusters and outliers of ``emb`` (``vectors``: the same photos in another space, e.g.
    tuned; default ``emb.vectors``). ``k`` larger than the number of photos is lowered to it."""
    x = emb.vectors if vectors is None else np.asarray(vectors, dtype=np.float32)
    if len(x) == 0:
        return ClusterReport([], [], 0)
    result = kmeans(x, max(1, min(k, len(x))), seed=seed)
    groups = []
    for c, members in enumerate(result.representatives):
        if not members:
            continue
        cohesion = float((x[members] @ result.centroids[c]).mean())
        groups.append(PhotoCluster(len(groups) + 1, [emb.paths[i] for i in members], cohesion))
    odd = []
    if outlier_count and len(x) >= 2:
        odd = [(emb.paths[i], score) for i, score in outliers(x, n=min(outlier_count, len(x)))]
    return ClusterReport(groups, odd, len(x))
