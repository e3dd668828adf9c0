"""Fixtures for the recommender tests: a synthetic interaction log with a planted pattern."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from selfsim.data.interactions import InteractionLog


def planted_log(users: int = 240, chains: int = 3, chain_length: int = 8, seed: int = 0) -> InteractionLog:
    """Every user walks along one of a few fixed cycles of items, starting anywhere."""
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(users):
        chain = int(rng.integers(chains))
        start = int(rng.integers(chain_length))
        length = int(rng.integers(5, 9))
        sequences[f"u{user}"] = [f"c{chain}i{(start + step) % chain_length}" for step in range(length)]
    return InteractionLog.from_sequences(sequences)


@pytest.fixture(name="planted_log", scope="session")
def planted_log_fixture() -> Callable[..., InteractionLog]:
    """The :func:`planted_log` maker."""
    return planted_log
