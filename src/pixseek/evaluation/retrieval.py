"""Retrieval evaluation on the user's own captioned photos: recall@K, text->image and image->text.

A captions file is a CSV with two columns, image path and caption (a header row is allowed; an image
may have several captions). Relative paths are taken from the CSV's folder.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import PixseekError


@dataclass(frozen=True)
class CaptionedImage:
    path: str
    caption: str


def read_captions(csv_path: str | os.PathLike) -> list[CaptionedImage]:
    """Rows of (absolute image path, caption); raises PixseekError on a missing file or bad row."""
    csv_path = os.path.abspath(os.path.expanduser(os.fspath(csv_path)))
    base = os.path.dirname(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    except OSError as exc:
        raise PixseekError(f"cannot read the captions file {csv_path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PixseekError(f"the captions file {csv_path} is not UTF-8 text") from exc
    out = []
    for line, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise PixseekError(f"{csv_path}:{line}: expected two columns, image path and caption")
        path = os.path.join(base, os.path.expanduser(row[0].strip()))
        if line == 1 and not os.path.exists(path) and row[0].strip().lower() in ("image", "path", "image_path",
                                                                                "file", "filename", "filepath"):
            continue  # a header row
        out.append(CaptionedImage(os.path.normpath(path), row[1].strip()))
    if not out:
        raise PixseekError(f"{csv_path} has no (image, caption) rows")
    return out


def recall_at_k(similarity: np.ndarray, relevant: Sequence[set[int]], ks: Iterable[int]) -> dict[int, float]:
    """Fraction of queries (rows) with at least one relevant item among their top K columns.
    Queries with no relevant item are left out; ties count in the relevant item's favour.

    >>> recall_at_k(np.array([[0.9, 0.1], [0.8, 0.2]]), [{0}, {1}], [1, 2])
    {1: 0.5, 2: 1.0}
    """
    similarity = np.asarray(similarity)
    if similarity.shape[0] != len(relevant):
        raise ValueError("one set of relevant items per query row")
    # Rank of the best relevant item per query: how many items score strictly higher than it.
    ranks = [int(np.sum(similarity[q] > max(similarity[q][i] for i in rel)))
             for q, rel in enumerate(relevant) if rel]
    if not ranks:
        raise ValueError("no query has a relevant item")
    best_rank = np.asarray(ranks)
    return {k: float(np.mean(best_rank < k)) for k in ks}


@dataclass(frozen=True)
class RetrievalReport:
    images: int
    captions: int
    text_to_image: dict[int, float]
    image_to_text: dict[int, float]

    def to_dict(self) -> dict:
        return {"images": self.images, "captions": self.captions,
                "text_to_image": {f"R@{k}": v for k, v in self.text_to_image.items()},
                "image_to_text": {f"R@{k}": v for k, v in self.image_to_text.items()}}


def evaluate_retrieval(image_vectors: np.ndarray, text_vectors: np.ndarray, caption_image: Sequence[int],
                       ks: Sequence[int] = (1, 5, 10)) -> RetrievalReport:
    """``caption_image[j]`` is the row of ``image_vectors`` that caption ``j`` describes."""
    sim = np.asarray(text_vectors, dtype=np.float32) @ np.asarray(image_vectors, dtype=np.float32).T
    t2i = recall_at_k(sim, [{i} for i in caption_image], ks)
    captions_of: list[set[int]] = [set() for _ in range(len(image_vectors))]
    for j, i in enumerate(caption_image):
        captions_of[i].add(j)
    i2t = recall_at_k(sim.T, captions_of, ks)
    return RetrievalReport(len(image_vectors), len(text_vectors), t2i, i2t)
