"""Ranking metrics: full-catalogue ranks of next-item targets (HR@k, NDCG@k), and nDCG, recall and MRR of a
ranked list of documents against graded relevance judgements.

The recommender's early stopping, its evaluation and the blend's weight choice rank with
:func:`rank_targets` and :func:`ranking_metrics`; retrieval validation and evaluation score ranked document
ids with :func:`ndcg_at`, :func:`recall_at` and :func:`mrr_at` (linear gains, as pytrec_eval and BEIR).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

ScoreFunction = Callable[[Sequence[np.ndarray]], torch.Tensor]  # histories -> scores of every id, (U, V + 1)


def rank_targets(score: ScoreFunction, histories: Sequence[np.ndarray], targets: np.ndarray,
                 exclude_history: bool = True, batch_size: int = 1024) -> np.ndarray:
    """The 0-based rank of each target among ALL items, (U,).

    Items already in the history are excluded from the ranking (the target
    itself never is); ties count against the target (a pessimistic rank).
    """
    ranks = np.zeros(len(targets), dtype=np.int64)
    # Users in order of history length, so each batch the model encodes is padded only to similar lengths.
    order = np.argsort(np.array([len(h) for h in histories], dtype=np.int64), kind="stable")
    for first in range(0, len(targets), batch_size):
        chosen = order[first:first + batch_size]
        part = [histories[i] for i in chosen]
        wanted = torch.from_numpy(np.asarray(targets, dtype=np.int64)[chosen])
        scores = score(part).clone()  # (b, V + 1)
        rows = torch.arange(len(part))
        own = scores[rows, wanted].clone()  # (b,) read before the history is excluded: a repeat stays rankable
        scores[:, 0] = float("-inf")
        if exclude_history:
            lengths = [len(h) for h in part]
            if sum(lengths):
                seen_rows = torch.from_numpy(np.repeat(np.arange(len(part)), lengths))
                seen_items = torch.from_numpy(np.concatenate([np.asarray(h, dtype=np.int64) for h in part]))
                scores[seen_rows, seen_items] = float("-inf")
        scores[rows, wanted] = own
        ranks[chosen] = ((scores >= own[:, None]).sum(1) - 1).numpy()
    return ranks


def ranking_metrics(ranks: np.ndarray, ks: Sequence[int] = (5, 10, 20)) -> dict[str, float]:
    """HR@k (the target in the top k) and NDCG@k (1 / log2(rank + 2) inside the top k), averaged over users."""
    ranks = np.asarray(ranks)
    out: dict[str, float] = {}
    for k in ks:
        inside = ranks < k
        out[f"hr@{k}"] = float(inside.mean()) if len(ranks) else 0.0
        out[f"ndcg@{k}"] = float(np.where(inside, 1.0 / np.log2(ranks + 2.0), 0.0).mean()) if len(ranks) else 0.0
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
