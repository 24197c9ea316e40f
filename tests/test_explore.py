"""The embedding-space tools (pixseek.explore) on hand-made vectors, and Library.embeddings on real files."""

from __future__ import annotations

import numpy as np
import pytest

import pixseek
from pixseek.errors import PixseekError
from pixseek.explore import kmeans, neighbour_similarity, outliers, pca_2d, project_2d


def unit(rows) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_neighbour_similarity_by_hand():
    # a and b point the same way, c is between them and d, d is orthogonal to a.
    x = unit([[1, 0], [1, 0], [1, 1], [0, 1]])
    s = np.sqrt(0.5)
    got = neighbour_similarity(x, neighbours=1)
    assert got == pytest.approx([1.0, 1.0, s, s])
    got2 = neighbour_similarity(x, neighbours=2)
    # a: {b 1, c 0.707}; c: {a .707, b .707}; d: {c .707, a 0}
    assert got2 == pytest.approx([(1 + s) / 2, (1 + s) / 2, s, s / 2])


def test_outliers_least_similar_first():
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=(1, 16)))
    crowd = unit(base + 0.05 * rng.normal(size=(20, 16)))
    odd = unit(-base + 0.05 * rng.normal(size=(1, 16)))
    x = np.vstack([crowd[:10], odd, crowd[10:]])
    found = outliers(x, n=2, neighbours=3)
    assert found[0][0] == 10 and found[0][1] < 0  # the one pointing the other way, far behind
    assert found[1][1] > 0.9  # the next is one of the crowd
    assert [s for _, s in found] == sorted(s for _, s in found)


def test_neighbour_similarity_in_blocks_matches_the_full_matrix():
    x = unit(np.random.default_rng(1).normal(size=(2100, 8)))  # more rows than one block
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.sort(sims, axis=1)[:, -4:].mean(axis=1)
    assert neighbour_similarity(x, 4) == pytest.approx(expected, abs=1e-5)


def test_kmeans_finds_planted_clusters_largest_first():
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 32)))
    sizes = [5, 12, 8]
    x = unit(np.vstack([centres[c] + 0.05 * rng.normal(size=(n, 32)) for c, n in enumerate(sizes)]))
    truth = np.repeat([0, 1, 2], sizes)
    cl = kmeans(x, 3, seed=0)
    assert cl.sizes == [12, 8, 5]
    for c in range(3):  # each found cluster is exactly one planted cluster
        assert len(set(truth[cl.labels == c])) == 1
    # representatives: members, closest to the centroid first
    for c, members in enumerate(cl.representatives):
        sims = x[members] @ cl.centroids[c]
        assert list(sims) == sorted(sims, reverse=True)
        assert set(members) == set(np.flatnonzero(cl.labels == c))
    with pytest.raises(ValueError):
        kmeans(x, 0)


def test_pca_2d_by_hand():
    # points along x, spread a little along y (uncorrelated): the first axis is x, the second y
    x = np.array([[-2, 0.1, 0], [-1, -0.1, 0], [0, 0, 0], [1, -0.1, 0], [2, 0.1, 0]], dtype=np.float32)
    xy = pca_2d(x)
    assert xy[:, 0] == pytest.approx([-2, -1, 0, 1, 2], abs=1e-5)
    assert np.abs(xy[:, 1]) == pytest.approx([0.1, 0.1, 0, 0.1, 0.1], abs=1e-5)


def test_project_2d_methods():
    x = unit(np.random.default_rng(0).normal(size=(8, 6)))
    xy, method = project_2d(x, "pca")
    assert method == "pca" and xy.shape == (8, 2)
    xy, method = project_2d(x, "auto")  # 8 points: PCA even when UMAP is installed
    assert method == "pca"
    with pytest.raises(ValueError):
        project_2d(x, "tsne")


def test_library_embeddings(gallery, tmp_path):
    (gallery / "more").mkdir()
    (gallery / "coffee.jpg").rename(gallery / "more" / "coffee.jpg")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        with pytest.raises(PixseekError, match="pixseek index"):
            lib.embeddings()
        lib.index([gallery])
        emb = lib.embeddings()
        assert len(emb) == lib.status().images == len(list(gallery.rglob("*.jpg")))
        assert emb.paths == sorted(emb.paths)
        assert np.linalg.norm(emb.vectors, axis=1) == pytest.approx(np.ones(len(emb)), abs=1e-5)
        # row i is the vector of paths[i]: the stored vector of that very file
        i = emb.paths.index(str(gallery / "more" / "coffee.jpg"))
        assert np.array_equal(emb.vectors[i], lib.vector_for(emb.paths[i])[0][0])
        folders = emb.folders(lib.status().roots)
        assert folders[i] == "more" and folders.count(".") == len(emb) - 1
        only = lib.embeddings([gallery / "more"])
        assert only.paths == [str(gallery / "more" / "coffee.jpg")]


@pytest.mark.slow
def test_umap_map_keeps_planted_groups_apart():
    pytest.importorskip("umap", reason="umap-learn is optional")
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 64)))
    x = unit(np.vstack([centres[c] + 0.1 * rng.normal(size=(15, 64)) for c in range(3)]))
    xy, method = project_2d(x)
    assert method == "umap" and xy.shape == (45, 2)
    groups = [xy[i * 15:(i + 1) * 15] for i in range(3)]
    spread = max(np.linalg.norm(g - g.mean(axis=0), axis=1).max() for g in groups)
    gaps = [np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)) for k, a in enumerate(groups) for b in groups[k + 1:]]
    assert min(gaps) > spread  # each group's centre is farther from the others than any member from its own
