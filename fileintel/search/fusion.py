"""Hybrid ranking: the meaning and the words of a question, fused into one ranking.

A convex combination of the scores, ``alpha * cosine + (1 - alpha) * lexical / best
lexical``, over the union of both rankings' candidates (a lexical candidate the meaning
ranking did not reach is given its cosine from its stored vector). Reciprocal rank fusion
was measured first and lost: it weighs both rankings' ranks alike, so for a question
asked in other words than the answer (where the lexical ranking is noise) it promotes
chunks that merely share a common word. On the labelled set (``benchmarks/search``)
recall@5 was 0.825 for RRF (k=60), 0.900 for weighted RRF (lexical weight 0.3, k=10)
and 0.900 with a higher MRR for this fusion at ``HYBRID_ALPHA`` = 0.9; cosine alone
0.933 (docs/search.md). A combination of scores keeps how sure each ranking is, which
ranks alone throw away (Bruch, Gai and Ingber, "An Analysis of Fusion Functions for Hybrid
Retrieval", 2023, find the same).
"""

from __future__ import annotations

from collections.abc import Sequence

#: The weight of the cosine; the lexical score (scaled to the best one) gets the rest.
HYBRID_ALPHA = 0.9


def convex_fusion(
    vector: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], alpha: float
) -> list[tuple[int, float]]:
    """(id, fused score) best first; ``vector`` holds the cosine of every candidate."""
    best = max((score for _, score in lexical), default=0.0) or 1.0
    words = {i: score / best for i, score in lexical}
    fused = {i: alpha * cos + (1 - alpha) * words.get(i, 0.0) for i, cos in vector}
    for i, w in words.items():
        fused.setdefault(i, (1 - alpha) * w)
    return sorted(fused.items(), key=lambda item: -item[1])
