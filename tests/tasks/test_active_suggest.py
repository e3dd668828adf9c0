"""What to label next: uncertain items first, spread across clusters."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.tasks.classify.active import margins, suggest


def test_suggestions_prefer_uncertain_items() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 200)
    probabilities = np.column_stack([p, 1 - p])
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    picked = suggest(probabilities, vectors, 10)
    margin = margins(probabilities)
    assert len(set(picked.tolist())) == 10
    assert margin[picked].max() <= np.sort(margin)[50]  # all from the least certain quarter
    assert np.argmin(margin) in picked  # the single most uncertain item is always asked about
    assert np.all(np.diff(margin[picked]) >= 0)  # most uncertain first


def test_suggestions_spread_across_clusters() -> None:
    # 10 near-identical, most uncertain items in one spot; 50 a little less uncertain elsewhere.
    rng = np.random.default_rng(1)
    spot = np.tile(np.eye(4)[0], (10, 1)) + rng.normal(0, 0.01, (10, 4))
    elsewhere = np.eye(4)[rng.integers(1, 4, 50)] + rng.normal(0, 0.01, (50, 4))
    vectors = np.vstack([spot, elsewhere]).astype(np.float32)
    p = np.concatenate([np.full(10, 0.50), np.full(50, 0.55)]) + rng.uniform(0, 0.001, 60)
    picked = suggest(np.column_stack([p, 1 - p]), vectors, 4)
    assert (picked < 10).sum() == 1  # pure margin sampling would take all four from the one spot
    assert len({int(np.argmax(vectors[i])) for i in picked}) == 4


def test_margins_of_multiclass_rows_and_bad_requests() -> None:
    assert margins(np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33]])) == pytest.approx([0.2, 0.01])
    with pytest.raises(ConfigError):
        suggest(np.array([[0.5, 0.5]]), np.zeros((1, 2)), 0)
