"""Combining ranked lists from several signals into one ranking.

Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) adds
``weight / (k + rank)`` over the lists an item appears in; it needs no score
calibration, which is why it is the default. Weighted score fusion min-max
normalises each list's scores to [0, 1] and adds them with weights, which can
win when one signal's scores are much more telling than its ranks.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

Ranked = Sequence[tuple[Hashable, float]]  # (key, score), best first


def reciprocal_rank_fusion(lists: Sequence[Ranked], weights: Sequence[float],
                           k: float = 10.0) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists by weighted reciprocal rank; ranks start at 1. Returns best first."""
    fused: dict[Hashable, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (key, _) in enumerate(ranked, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def weighted_score_fusion(lists: Sequence[Ranked], weights: Sequence[float]) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists by the weighted sum of min-max normalised scores. Returns best first.

    An item missing from a list gets 0 from it, the score of that list's last entry.
    """
    fused: dict[Hashable, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        if not ranked:
            continue
        scores = [score for _, score in ranked]
        low, high = min(scores), max(scores)
        spread = high - low
        for key, score in ranked:
            normalised = (score - low) / spread if spread > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + weight * normalised
    return sorted(fused.items(), key=lambda pair: -pair[1])
