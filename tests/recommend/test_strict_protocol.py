"""The strict recommendation protocol: no validation item reaches a table a test figure uses, and score ties
count at the target's expected rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfsim.data.interactions import InteractionLog, leave_one_out
from selfsim.errors import ConfigError
from selfsim.evaluation.recommend import REFIT_FIELD, baseline_scores, blended_test, table_histories
from selfsim.tasks.recommend.blend import BlendChoice, BlendConfig
from selfsim.training.ranking import TargetRanks, rank_targets, ranking_metrics


def _leaky_log() -> InteractionLog:
    """"V" is followed by "T" only where "T" is a validation item, so the pair co-occurs only via validation.

    Group A: ``fA_i, V, T`` (train ``fA_i``, validation V, test T: the test input ends in V).
    Group B: ``gB_i, hB_i, V, T, zB_i`` (train ``gB_i, hB_i, V``, validation T, test ``zB_i``).
    Group C: walks over a small shared pool, so that popular items score above never-trained ones.
    """
    rng = np.random.default_rng(0)
    sequences: dict[str, list[str]] = {}
    for i in range(20):
        sequences[f"a{i}"] = [f"fA{i}", "V", "T"]
        sequences[f"b{i}"] = [f"gB{i}", f"hB{i}", "V", "T", f"zB{i}"]
        sequences[f"c{i}"] = [f"p{int(p)}" for p in rng.integers(0, 12, size=5)]
    return InteractionLog.from_sequences(sequences)


def _group_a(split) -> np.ndarray:
    return np.array([u for u, name in enumerate(split.log.users) if name.startswith("a")])


def _uninformed(n_columns: int):
    def score(histories):
        return torch.zeros(len(histories), n_columns)

    return score


def test_tables_learn_from_training_histories_only() -> None:
    split = leave_one_out(_leaky_log())
    v, t = split.log.item_index("V"), split.log.item_index("T")
    histories = table_histories(split)
    assert all(np.array_equal(h, own) for h, own in zip(histories, split.train, strict=True))
    assert not any(t in h for h in histories)  # T is only ever a validation or a test item
    assert any(t in h for h in table_histories(split, "train+validation"))
    with pytest.raises(ConfigError, match="unknown table fit"):
        table_histories(split, "everything")
    # the test input still ends in the validation item (standard leave-one-out input)
    assert all(split.test_histories()[u][-1] == v for u in _group_a(split))


def test_a_pair_seen_only_via_validation_items_never_reaches_a_test_figure() -> None:
    split = leave_one_out(_leaky_log())
    group_a = _group_a(split)
    # The blend of a model that knows nothing: its ranking is the co-occurrence table's.
    score = _uninformed(split.log.n_items + 1)
    out = blended_test(score, split, BlendChoice(0.5, {}), BlendConfig(), users=group_a, refit_extra=True)
    assert out["table"] == "train"
    assert out["test"]["hr@20"] == 0.0  # T is unknown to a table fitted on training histories
    assert out[REFIT_FIELD]["hr@5"] == 1.0  # ... and first once validation items leak into the table
    baselines = baseline_scores(split)
    leaky = baseline_scores(split, fit_on="train+validation")
    # Group A (a third of the scored users) finds T only through the leaked pair.
    assert leaky["cooccurrence_knn"]["hr@5"] >= baselines["cooccurrence_knn"]["hr@5"] + 0.3
    assert leaky["most_popular"]["hr@20"] > baselines["most_popular"]["hr@20"]  # T is popular only via validation


def test_all_equal_scores_give_the_expected_hit_rate_and_ndcg() -> None:
    n = 40  # items 1..40; 2 seen, so the target shares the ranking with 37 others
    ranks = rank_targets(_uninformed(n + 1), [np.array([1, 2])] * 3, np.array([3, 7, 40]))
    assert ranks.higher.tolist() == [0, 0, 0] and ranks.tied.tolist() == [37, 37, 37]
    assert ranks.expected.tolist() == [18.5] * 3
    metrics = ranking_metrics(ranks, ks=(5, 10, 20))
    for k in (5, 10, 20):
        assert metrics[f"hr@{k}"] == pytest.approx(k / 38)
        assert metrics[f"ndcg@{k}"] == pytest.approx(sum(1 / math.log2(p + 2) for p in range(k)) / 38)


def test_ties_span_positions_across_the_cut_off() -> None:
    ranks = TargetRanks(np.array([3, 0]), np.array([4, 0]))  # positions 3..7; and a sure first place
    metrics = ranking_metrics(ranks, ks=(5,))
    assert metrics["hr@5"] == pytest.approx((2 / 5 + 1) / 2)
    assert metrics["ndcg@5"] == pytest.approx(((1 / math.log2(5) + 1 / math.log2(6)) / 5 + 1) / 2)


def test_excluded_items_do_not_tie_with_the_target() -> None:
    fixed = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.5, 1.0]])  # padding 0 and items 1, 2, 5 tie with target 3

    def score(histories):
        return fixed.expand(len(histories), -1)

    ranks = rank_targets(score, [np.array([1, 2])], np.array([3]))
    assert (ranks.higher.tolist(), ranks.tied.tolist()) == ([0], [1])  # only item 5 is a rival


def test_expected_metrics_match_random_tie_breaking() -> None:
    rng = np.random.default_rng(0)
    table = torch.from_numpy(rng.integers(0, 4, size=(300, 31)).astype(np.float32))  # many ties

    def score(histories):
        return table[: len(histories)]

    histories = [np.array([], dtype=np.int64)] * 300
    targets = rng.integers(1, 31, size=300)
    exact = ranking_metrics(rank_targets(score, histories, targets), ks=(5,))  # one batch: rows = users
    draws = []
    for _ in range(200):
        jitter = table + torch.from_numpy(rng.uniform(0, 0.5, size=table.shape).astype(np.float32))
        draws.append(ranking_metrics(rank_targets(lambda h, j=jitter: j[: len(h)], histories, targets), ks=(5,)))
    assert np.mean([d["hr@5"] for d in draws]) == pytest.approx(exact["hr@5"], abs=0.005)
    assert np.mean([d["ndcg@5"] for d in draws]) == pytest.approx(exact["ndcg@5"], abs=0.005)
