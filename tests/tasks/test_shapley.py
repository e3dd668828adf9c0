"""Shapley values: the textbook game, the axioms, sampling against exact values, occlusion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.tasks.explain.shapley import ShapleyConfig, occlusion, shapley_values

# The three-player game from the Shapley literature: E, P and S.
GAME = {(): 0, ("E",): 10, ("P",): 20, ("S",): 5, ("E", "P"): 40, ("E", "S"): 25, ("P", "S"): 35,
        ("E", "P", "S"): 50}
PLAYERS = ("E", "P", "S")


def _table_game(masks: np.ndarray) -> np.ndarray:
    return np.array([GAME[tuple(p for p, present in zip(PLAYERS, row, strict=True) if present)] for row in masks],
                    dtype=float)


def _weighted_majority(weights: np.ndarray, quota: float):
    return lambda masks: (masks.astype(float) @ weights >= quota).astype(float)


def test_the_three_player_game_gives_15_25_10() -> None:
    result = shapley_values(_table_game, 3)
    assert result.exact and result.standard_errors is None and result.coalitions == 8
    assert result.values.tolist() == pytest.approx([15.0, 25.0, 10.0])
    assert result.full == 50 and result.empty == 0 and abs(result.efficiency_gap) < 1e-12


def test_symmetric_players_get_equal_values_and_a_dummy_gets_nothing() -> None:
    # players 0 and 1 are interchangeable; player 3 never changes the value
    def game(masks: np.ndarray) -> np.ndarray:
        m = masks.astype(float)
        return 3 * (m[:, 0] + m[:, 1]) + 2 * m[:, 0] * m[:, 1] + 7 * m[:, 2] * (m[:, 0] + m[:, 1] > 0)

    values = shapley_values(game, 4).values
    assert values[0] == pytest.approx(values[1]) and values[3] == pytest.approx(0.0, abs=1e-12)
    assert values.sum() == pytest.approx(game(np.ones((1, 4), dtype=bool))[0])


def test_an_additive_game_is_attributed_its_own_terms() -> None:
    weights = np.array([1.5, -2.0, 0.25, 4.0, 0.0])
    values = shapley_values(lambda masks: masks.astype(float) @ weights, 5).values
    assert values == pytest.approx(weights)
    leave_one_out, full, empty = occlusion(lambda masks: masks.astype(float) @ weights, 5)
    assert leave_one_out == pytest.approx(weights) and full == pytest.approx(weights.sum()) and empty == 0


def test_sampling_converges_to_the_exact_values_within_its_stated_error() -> None:
    rng = np.random.default_rng(3)
    weights = rng.uniform(0, 1, 12)
    game = _weighted_majority(weights, quota=weights.sum() / 2)  # interactions everywhere
    exact = shapley_values(game, 12, ShapleyConfig(exact_up_to=12)).values
    sampled = shapley_values(game, 12, ShapleyConfig(exact_up_to=0, permutations=400, budget_seconds=None))
    assert not sampled.exact and sampled.permutations == 400 and sampled.standard_errors is not None
    z = np.abs(sampled.values - exact) / np.maximum(sampled.standard_errors, 1e-12)
    assert np.all(z < 4.5), z
    assert np.mean(z < 2) >= 0.75  # about 95% expected within two errors
    assert abs(sampled.efficiency_gap) < 1e-9  # each permutation telescopes to v(all) - v(none)
    more = shapley_values(game, 12, ShapleyConfig(exact_up_to=0, permutations=1600, budget_seconds=None))
    assert np.abs(more.values - exact).mean() < np.abs(sampled.values - exact).mean() + 0.01


def test_sampling_is_repeatable_and_evaluates_each_coalition_once() -> None:
    calls: list[int] = []

    def game(masks: np.ndarray) -> np.ndarray:
        calls.append(len(masks))
        assert len({row.tobytes() for row in masks}) == len(masks)
        return masks.sum(axis=1).astype(float) ** 2

    config = ShapleyConfig(exact_up_to=0, permutations=16, budget_seconds=None, seed=7)
    first = shapley_values(game, 6, config)
    assert first.coalitions == sum(calls)
    assert np.array_equal(first.values, shapley_values(game, 6, config).values)


def test_every_coalition_is_one_row_of_one_call() -> None:
    seen: list[np.ndarray] = []
    shapley_values(lambda masks: seen.append(masks) or masks.sum(axis=1).astype(float), 4)
    assert len(seen) == 1 and {tuple(r) for r in seen[0]} == set(itertools.product([False, True], repeat=4))


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ShapleyConfig(exact_up_to=20)
    with pytest.raises(ConfigError):
        ShapleyConfig(permutations=1)


def test_sharing_orders_of_costly_players_stays_unbiased_and_evaluates_fewer_costly_coalitions() -> None:
    rng = np.random.default_rng(5)
    weights = rng.uniform(0, 1, 12)
    game = _weighted_majority(weights, quota=weights.sum() / 2)
    costly = np.arange(12) >= 4  # players 4..11 are "sentences", 0..3 "query words"
    seen: set[bytes] = set()

    def counted(masks: np.ndarray) -> np.ndarray:
        seen.update(row[costly].tobytes() for row in masks)
        return game(masks)

    exact = shapley_values(game, 12, ShapleyConfig(exact_up_to=12)).values
    shared = shapley_values(counted, 12, ShapleyConfig(exact_up_to=0, permutations=512, budget_seconds=None,
                                                       shared_orders=8),
                            costly=costly)
    assert shared.permutations == 512 and abs(shared.efficiency_gap) < 1e-9
    # within the stated error, or within 0.02 where a rarely pivotal player's units all agree (SE near 0)
    assert np.all(np.abs(shared.values - exact) < 4.5 * shared.standard_errors + 0.02)
    # 512 permutations in units of 16 sharing one costly order (and its reverse): at most 2 * 9 costly sets a unit
    assert len(seen) <= 32 * 2 * 9
