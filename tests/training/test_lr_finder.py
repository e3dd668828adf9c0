"""The learning-rate range test's suggestion rule."""

from __future__ import annotations

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.training.lr_finder import LrFinderConfig, suggest_rate


def test_suggestion_is_where_the_loss_falls_fastest() -> None:
    rates = list(np.geomspace(1e-6, 1e-1, 51))
    # flat, then a steep fall centred at 1e-4, then divergence
    smoothed = [2.0 - 1.5 / (1 + np.exp(-4 * (np.log10(r) + 4))) + (5 * (r - 1e-2) if r > 1e-2 else 0) for r in rates]
    assert suggest_rate(rates, smoothed) == pytest.approx(1e-4, rel=0.3)


def test_a_range_that_cannot_work_is_refused() -> None:
    with pytest.raises(ConfigError, match="0 < start < end"):
        LrFinderConfig(start=1e-2, end=1e-3)
