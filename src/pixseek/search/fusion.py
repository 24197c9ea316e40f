"""Fusing the vector side and the words side of a query into one ranking.

Reciprocal rank fusion (Cormack, Clarke & Büttcher 2009): a file's fused score is
``sum over sides of 1 / (RRF_K + rank)`` (rank from 1; a side that did not find it adds nothing).
It needs no calibration between a cosine similarity and a BM25 score, which live on unrelated
scales that change with the model and the collection; ``RRF_K = 60`` is the constant of the paper,
which keeps the first few ranks of each side close to each other, so that a photo found by both
sides comes before one found by only one. The vector side contributes its best
``VECTOR_DEPTH`` results (more when a later page needs them): below those, a cosine says little.

One tier sits above the fused score: photos whose words hold *every* word of the query (after
stop words: "the", "a", "photo", ...) come first, in fused order among themselves. Such a match is
literal evidence (the receipt that reads 收据, the folder "Porto 2021" for "porto"), and without the
tier plain RRF would interleave it with the vector side's best guesses (a words-only rank 2 scores
1/62, below the vector side's rank 1 at 1/61). Partial matches ("Porto sunset": the folder has
"porto", the vector side finds the sunsets) are fused without a tier, so that photos found by
both sides lead.
See docs/search.md for the measurements behind these constants.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60
VECTOR_DEPTH = 100


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> dict[int, float]:
    """Fused scores of every id in ``rankings`` (each best first).

    >>> sorted(rrf([[1, 2, 3], [3, 4]]).items(), key=lambda kv: -kv[1])[0][0]
    3
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, fid in enumerate(ranking, start=1):
            scores[fid] = scores.get(fid, 0.0) + 1.0 / (k + rank)
    return scores
