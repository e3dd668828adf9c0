"""Full-ranking metrics against hand-computed values, and the ranking's exclusions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfsim.tasks.recommend.baselines import CooccurrenceRecommender, PopularityRecommender
from selfsim.training.ranking import rank_targets, ranking_metrics


def test_metrics_by_hand() -> None:
    ranks = np.array([0, 1, 4, 9, 30])
    metrics = ranking_metrics(ranks, ks=(5, 10))
    assert metrics["hr@5"] == pytest.approx(3 / 5)
    assert metrics["hr@10"] == pytest.approx(4 / 5)
    assert metrics["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 5)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(11)) / 5)


def test_rank_excludes_history_but_never_the_target() -> None:
    fixed = torch.tensor([[-np.inf, 5.0, 4.0, 3.0, 2.0, 1.0]])  # ids 1..5, higher is better

    def score(histories):
        return fixed.expand(len(histories), -1)

    histories = [np.array([1, 2]), np.array([]), np.array([4, 1])]
    ranks = rank_targets(score, histories, np.array([3, 3, 4]))
    # user 0: items 1, 2 seen -> item 3 first; user 1: nothing seen -> 1, 2 above it;
    # user 2: its target 4 is a repeat, still ranked (below 2 and 3)
    assert ranks.tolist() == [0, 2, 2]
    assert rank_targets(score, histories, np.array([3, 3, 4]), exclude_history=False).tolist() == [2, 2, 3]


def test_ties_count_at_the_expected_rank() -> None:
    def score(histories):
        return torch.zeros(len(histories), 5)

    assert rank_targets(score, [np.array([1])], np.array([2])).tolist() == [1.0]  # 3 and 4 tie with it


def test_baselines_score_every_item() -> None:
    histories = [np.array([1, 2, 3]), np.array([1, 2]), np.array([2, 3])]
    popular = PopularityRecommender(4).fit(histories)
    assert popular.score(histories[:1])[0].tolist() == [0.0, 2.0, 3.0, 2.0, 0.0]
    knn = CooccurrenceRecommender(4, window=1).fit(histories)
    scores = knn.score([np.array([1])])[0]
    assert int(torch.argmax(scores[1:])) + 1 == 2  # 2 follows 1 in two histories
    assert knn.similar(1, 1)[0][0] == 2
