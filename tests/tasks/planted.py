"""Planted data several task tests share."""

from __future__ import annotations

import numpy as np


def tilting_clouds() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A self-training round that hurts: ``(x, y, unlabelled, held_out)``.

    Labelled "a" at (-1, 0) and "b" at (1, 0): round 0 splits on the first axis. Unlabelled clouds at
    (0.3, 2) and (-0.3, -2) get pseudo-labels b and a, which tilt the boundary onto the second axis, so
    held-out "a" items at (-0.9, 1.5) and "b" items at (0.9, -1.5) come out wrong.
    """
    rng = np.random.default_rng(0)

    def points(first: float, second: float, n: int) -> np.ndarray:
        return np.column_stack([np.full(n, first), np.full(n, second)]) + rng.normal(0, 0.01, (n, 2))

    x = np.vstack([points(-1, 0, 4), points(1, 0, 4)])
    y = np.array(["a"] * 4 + ["b"] * 4)
    unlabelled = np.vstack([points(0.3, 2, 100), points(-0.3, -2, 100)])
    held_out = (np.vstack([points(-0.9, 1.5, 5), points(0.9, -1.5, 5)]), np.array(["a"] * 5 + ["b"] * 5))
    return x, y, unlabelled, held_out
