"""Ranking metrics: full-catalogue ranks of next-item targets (HR@k, NDCG@k), and nDCG, recall and MRR of a
ranked list of documents against graded relevance judgements.

The recommender's early stopping, its evaluation and the blend's weight choice rank with
:func:`rank_targets` and :func:`ranking_metrics`; retrieval validation and evaluation score ranked document
ids with :func:`ndcg_at`, :func:`recall_at` and :func:`mrr_at` (linear gains, as pytrec_eval and BEIR).

Ties between a target and other items are broken by expectation, not against the target: a target tied
with ``t`` other items is equally likely to sit at any of the ``t + 1`` positions they share, so its rank is
``higher + t / 2`` and HR@k and NDCG@k are their exact expectations over a uniformly random order of the
tied items. A pessimistic rank would make a model that scores many items alike (a popularity count,
a sparse co-occurrence table) look worse than it is, and an optimistic one better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

ScoreFunction = Callable[[Sequence[np.ndarray]], torch.Tensor]  # histories -> scores of every id, (U, V + 1)


@dataclass(frozen=True)
class TargetRanks:
    """Where each target stands among the ranked items: ``higher`` items score strictly above it and
    ``tied`` other items score exactly as it does, (U,) each."""

    higher: np.ndarray
    tied: np.ndarray

    def __len__(self) -> int:
        return len(self.higher)

    @property
    def expected(self) -> np.ndarray:
        """The 0-based expected rank under a uniformly random order of the tied items, (U,) float."""
        return self.higher + self.tied / 2.0

    def tolist(self) -> list[float]:
        """The expected ranks as a list."""
        return self.expected.tolist()


def rank_targets(score: ScoreFunction, histories: Sequence[np.ndarray], targets: np.ndarray,
                 exclude_history: bool = True, batch_size: int = 1024) -> TargetRanks:
    """Each target's place among ALL items: how many score above it and how many tie with it.

    Items already in the history are excluded from the ranking (the target
    itself never is, so a repeated target stays rankable), as is the padding id
    0. A target's rank is ``higher + tied / 2`` (:attr:`TargetRanks.expected`),
    the mean over every order of the tied items; :func:`ranking_metrics` turns
    the same two counts into expected HR@k and NDCG@k. A NaN target score
    counts as the lowest score.
    """
    higher = np.zeros(len(targets), dtype=np.int64)
    tied = np.zeros(len(targets), dtype=np.int64)
    # Users in order of history length, so each batch the model encodes is padded only to similar lengths.
    order = np.argsort(np.array([len(h) for h in histories], dtype=np.int64), kind="stable")
    for first in range(0, len(targets), batch_size):
        chosen = order[first:first + batch_size]
        part = [histories[i] for i in chosen]
        wanted = torch.from_numpy(np.asarray(targets, dtype=np.int64)[chosen])
        scores = score(part).clone()  # (b, V + 1)
        rows = torch.arange(len(part))
        own = scores[rows, wanted].clone()  # (b,) read before the history is excluded: a repeat stays rankable
        own = torch.nan_to_num(own, nan=float("-inf"))
        # NaN compares false with everything, so an excluded item is neither above nor tied with the target.
        scores[:, 0] = float("nan")
        if exclude_history:
            lengths = [len(h) for h in part]
            if sum(lengths):
                seen_rows = torch.from_numpy(np.repeat(np.arange(len(part)), lengths))
                seen_items = torch.from_numpy(np.concatenate([np.asarray(h, dtype=np.int64) for h in part]))
                scores[seen_rows, seen_items] = float("nan")
        scores[rows, wanted] = own
        higher[chosen] = (scores > own[:, None]).sum(1).numpy()
        tied[chosen] = ((scores == own[:, None]).sum(1) - 1).numpy()  # the target equals itself
    return TargetRanks(higher, tied)


def ranking_metrics(ranks: TargetRanks | np.ndarray, ks: Sequence[int] = (5, 10, 20)) -> dict[str, float]:
    """HR@k and NDCG@k (gain ``1 / log2(position + 2)`` inside the top k), averaged over users.

    ``ranks`` is what :func:`rank_targets` returns: each target is equally likely
    to land on any of the positions ``higher .. higher + tied`` (0-based), and
    HR@k and NDCG@k are the exact expectations over those positions (a position
    at or beyond k gains 0). A plain array of 0-based integer ranks means no ties.
    """
    if not isinstance(ranks, TargetRanks):
        exact = np.asarray(ranks, dtype=np.int64)
        ranks = TargetRanks(exact, np.zeros_like(exact))
    out: dict[str, float] = {}
    if not len(ranks):
        return {name: 0.0 for k in ks for name in (f"hr@{k}", f"ndcg@{k}")}
    first = ranks.higher.astype(np.int64)
    last = first + ranks.tied.astype(np.int64) + 1  # one past the last position the target may take
    count = (last - first).astype(np.float64)
    for k in ks:
        # cumulative[j] = the summed gain of positions 0 .. j - 1; positions from k on gain nothing
        cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
        low, high = np.minimum(first, k), np.minimum(last, k)
        out[f"hr@{k}"] = float(((high - low) / count).mean())
        out[f"ndcg@{k}"] = float(((cumulative[high] - cumulative[low]) / count).mean())
    return out


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Normalised discounted cumulative gain of ``ranked`` at depth ``k`` (linear gains)."""
    dcg = sum(relevant.get(doc, 0.0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    wanted = {doc for doc, gain in relevant.items() if gain > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0 if none)."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0.0) > 0:
            return 1.0 / rank
    return 0.0
