"""Threshold calibration, average precision and the learned pair scorer, on synthetic labelled pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim.errors import NotFoundError, SelfsimError
from selfsim.tasks.duplicates.calibration import average_precision, calibrate_threshold, scores_at
from selfsim.tasks.duplicates.pairs import FEATURES, PairScorer, pair_features


def test_calibration_picks_the_separating_threshold() -> None:
    rng = np.random.default_rng(0)
    negatives, positives = rng.uniform(0.2, 0.6, 300), rng.uniform(0.7, 0.95, 200)
    scores = np.concatenate([negatives, positives])
    labels = np.r_[np.zeros(300), np.ones(200)]
    result = calibrate_threshold(scores, labels)
    assert negatives.max() < result.threshold <= positives.min()
    assert result.f1 == result.precision == result.recall == result.average_precision == 1.0
    assert result.pairs == 500 and result.positives == 200


def test_calibration_on_overlapping_scores_matches_a_brute_force_sweep() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(400) < 0.4
    scores = np.round(rng.normal(size=400) + labels, 2)  # ties on purpose
    result = calibrate_threshold(scores, labels)
    best = max(scores_at(scores, labels, t)[2] for t in np.unique(scores))
    assert result.f1 == pytest.approx(best)
    assert scores_at(scores, labels, result.threshold)[2] == pytest.approx(best)


def test_average_precision_matches_scikit_learn() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(2)
    labels = rng.random(300) < 0.3
    for scores in (rng.normal(size=300) + labels, np.round(rng.normal(size=300) + labels, 1)):
        assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))


def test_calibration_needs_both_kinds_of_pair() -> None:
    with pytest.raises(SelfsimError, match="both kinds"):
        calibrate_threshold(np.array([0.1, 0.9]), np.array([1, 1]))


def test_pair_features_see_numbers_and_overlap() -> None:
    features = pair_features(["Sales rose 5 % in May .", "A cat sat ."], ["Sales rose 7 % in May .", "A cat sat ."],
                             np.array([0.9, 1.0]))
    assert features.shape == (2, len(FEATURES))
    column = {name: n for n, name in enumerate(FEATURES)}
    assert features[0, column["numbers_differ"]] == 1.0 and features[1, column["numbers_differ"]] == 0.0
    assert features[1, column["word_jaccard"]] == 1.0 and features[0, column["word_jaccard"]] < 1.0


def test_pair_scorer_learns_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(400) < 0.5).astype(int)
    features = rng.uniform(size=(400, len(FEATURES)))
    features[:, 1] = 0.6 * labels + 0.4 * rng.random(400)  # word overlap carries the label
    scorer = PairScorer().fit(features, labels)
    assert average_precision(scorer.score(features), labels) > 0.95
    scorer.save(tmp_path / "scorer.json")
    again = PairScorer.load(tmp_path / "scorer.json")
    assert np.allclose(again.score(features), scorer.score(features))
    with pytest.raises(NotFoundError):
        PairScorer.load(tmp_path / "missing.json")
