"""Rank fusion on hand-made lists, with exact expected values."""

from __future__ import annotations

import pytest

from selfsim.tasks.search.fusion import reciprocal_rank_fusion, weighted_score_fusion

DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
KEYWORD = [("b", 12.0), ("d", 4.0)]


def test_reciprocal_rank_fusion_exact_values() -> None:
    fused = reciprocal_rank_fusion([DENSE, KEYWORD], [1.0, 1.0], k=10.0)
    assert [key for key, _ in fused] == ["b", "a", "d", "c"]
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 11)
    assert scores["b"] == pytest.approx(1 / 12 + 1 / 11)
    assert scores["c"] == pytest.approx(1 / 13)
    assert scores["d"] == pytest.approx(1 / 12)


def test_reciprocal_rank_fusion_weights_and_k() -> None:
    fused = dict(reciprocal_rank_fusion([DENSE, KEYWORD], [0.25, 0.75], k=1.0))
    assert fused == pytest.approx({"a": 0.25 / 2, "b": 0.25 / 3 + 0.75 / 2, "c": 0.25 / 4, "d": 0.75 / 3})


def test_reciprocal_rank_fusion_ignores_scores() -> None:
    rescaled = [[(key, score * 1000 - 7) for key, score in DENSE], KEYWORD]
    assert reciprocal_rank_fusion(rescaled, [1, 1]) == reciprocal_rank_fusion([DENSE, KEYWORD], [1, 1])


def test_a_zero_weight_list_only_contributes_zero() -> None:
    fused = dict(reciprocal_rank_fusion([DENSE, KEYWORD], [1.0, 0.0], k=10.0))
    assert fused["d"] == 0.0
    assert fused["b"] == pytest.approx(1 / 12)


def test_weighted_score_fusion_exact_values() -> None:
    fused = weighted_score_fusion([DENSE, KEYWORD], [0.5, 0.5])
    # dense normalised: a 1, b 0.75, c 0; keyword normalised: b 1, d 0
    assert fused == [("b", pytest.approx(0.875)), ("a", pytest.approx(0.5)), ("c", pytest.approx(0.0)),
                     ("d", pytest.approx(0.0))]


def test_weighted_score_fusion_with_uneven_weights() -> None:
    fused = dict(weighted_score_fusion([DENSE, KEYWORD], [0.8, 0.2]))
    assert fused == pytest.approx({"a": 0.8, "b": 0.8 * 0.75 + 0.2, "c": 0.0, "d": 0.0})


def test_weighted_score_fusion_of_equal_scores_and_empty_lists() -> None:
    fused = dict(weighted_score_fusion([[("x", 3.0), ("y", 3.0)], []], [0.6, 0.4]))
    assert fused == pytest.approx({"x": 0.6, "y": 0.6})  # no spread: every entry counts fully
    assert weighted_score_fusion([[], []], [0.5, 0.5]) == []
    assert reciprocal_rank_fusion([[], []], [0.5, 0.5]) == []


def test_a_single_list_keeps_its_order() -> None:
    assert [key for key, _ in reciprocal_rank_fusion([DENSE], [1.0])] == ["a", "b", "c"]
    assert [key for key, _ in weighted_score_fusion([DENSE], [1.0])] == ["a", "b", "c"]


def test_lists_and_weights_must_pair_up() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([DENSE, KEYWORD], [1.0])
    with pytest.raises(ValueError):
        weighted_score_fusion([DENSE], [0.5, 0.5])
