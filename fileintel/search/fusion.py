"""Reciprocal rank fusion: one ranking from several, by rank alone.

A cosine similarity and a BM25 or ``ts_rank`` score are on scales that cannot be compared
(BM25 grows with the query's length and the corpus's statistics), so adding or normalising
them needs weights tuned per collection. RRF (Cormack, Clarke and Buettcher, 2009) needs
none: a chunk scores ``sum(1 / (K + rank))`` over the rankings that hold it, so one found
near the top of both beats one found first by only one, and a ranking's depth matters
more than its raw scores. ``benchmarks/search`` measures it against either ranking alone.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The usual constant: it damps the weight of the very first ranks.
K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = K
) -> list[tuple[int, float]]:
    """(id, fused score) best first; ties keep the order of first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
