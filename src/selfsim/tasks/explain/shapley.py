"""Shapley values of a cooperative game, exactly or by permutation sampling, and leave-one-out occlusion.

A game has ``n`` players (features: query words, sentences, history items) and a
value function ``value(masks) -> values`` that scores many coalitions at once:
``masks`` is a boolean ``(C, n)`` array, one row per coalition, and the result
is ``(C,)``. Evaluating every coalition in one call is what lets an explainer
batch the texts of all coalitions through an encoder together.

The Shapley value of player ``i`` is its marginal contribution averaged over
every order in which the players could join::

    phi_i = sum over S not holding i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

Up to ``exact_up_to`` players (10 by default: 1,024 coalitions) it is computed
exactly. Beyond, it is estimated from random permutations (Castro, Gomez and
Tejada 2009), drawn in antithetic pairs (a permutation and its reverse) to cut
the variance; the standard error of each estimate comes with it. When some
players are costly to evaluate, permutations share orders of those players in
groups, which keeps the estimate unbiased and evaluates far fewer costly
coalitions (the standard error is then computed over the groups). Either way the
values add up to ``v(all) - v(none)`` (efficiency): exactly for the exact
computation, and for sampling too, because each permutation's marginal
contributions telescope to that difference.

Leave-one-out occlusion, ``v(all) - v(all without i)``, is the cheap baseline
(``n + 1`` evaluations) that Shapley values are compared with.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from selfsim.errors import ConfigError

ValueFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ShapleyConfig:
    """How Shapley values are computed.

    Exact up to ``exact_up_to`` players; beyond, ``permutations`` random permutations (rounded up to
    whole groups, as they come in antithetic pairs), stopping early rather than start a round that
    would end past ``budget_seconds`` (but never before ``min_permutations``). ``seed`` makes the
    sampling repeatable.
    """

    exact_up_to: int = 10
    permutations: int = 64
    min_permutations: int = 8
    budget_seconds: float | None = 7.0
    seed: int = 0
    shared_orders: int = 4  # antithetic pairs sharing one order of the costly players (see shapley_values)

    def __post_init__(self) -> None:
        if not 0 <= self.exact_up_to <= 16:
            raise ConfigError(f"exact_up_to must be between 0 and 16 (2^16 coalitions), not {self.exact_up_to}.")
        if self.permutations < 2 or self.min_permutations < 2:
            raise ConfigError("sampling needs at least 2 permutations (one antithetic pair).")
        if self.shared_orders < 1:
            raise ConfigError(f"shared_orders must be at least 1, not {self.shared_orders}.")


@dataclass(frozen=True)
class Attribution:
    """Shapley values of a game's players, with how they were obtained.

    ``standard_errors`` is None for exact values. ``full`` and ``empty`` are the values of the
    coalition of every player and of none; ``values.sum()`` equals ``full - empty``.
    """

    values: np.ndarray  # (n,)
    standard_errors: np.ndarray | None  # (n,) or None when exact
    full: float
    empty: float
    exact: bool
    permutations: int  # 0 when exact
    coalitions: int  # how many distinct coalitions were evaluated
    seconds: float

    @property
    def efficiency_gap(self) -> float:
        """``sum(values) - (full - empty)``: zero up to floating-point rounding."""
        return float(self.values.sum() - (self.full - self.empty))


def shapley_values(value: ValueFunction, n: int, config: ShapleyConfig = ShapleyConfig(),
                   costly: np.ndarray | None = None) -> Attribution:
    """The Shapley values of the ``n`` players of ``value`` (exact or sampled, see :class:`ShapleyConfig`).

    ``costly`` (a boolean mask of players) marks players whose coalitions are expensive to evaluate
    (the sentences of a long passage, beside the words of a short query): sampled permutations then
    share orders of those players in groups, so far fewer distinct costly coalitions are evaluated.
    """
    if n < 0:
        raise ConfigError(f"a game has 0 or more players, not {n}.")
    started = time.perf_counter()
    if n <= config.exact_up_to:
        return _exact(value, n, started)
    return _sampled(value, n, config, started, None if costly is None else np.asarray(costly, dtype=bool))


def occlusion(value: ValueFunction, n: int) -> tuple[np.ndarray, float, float]:
    """Leave-one-out attributions ``v(all) - v(all without i)``, with ``v(all)`` and ``v(none)``."""
    masks = np.ones((n + 2, n), dtype=bool)
    masks[np.arange(n), np.arange(n)] = False  # rows 0..n-1 leave one player out
    masks[n + 1] = False  # the last row is the empty coalition; row n is everyone
    scores = np.asarray(value(masks), dtype=np.float64)
    return scores[n] - scores[:n], float(scores[n]), float(scores[n + 1])


def _exact(value: ValueFunction, n: int, started: float) -> Attribution:
    codes = np.arange(2**n, dtype=np.int64)
    masks = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)  # row c: the players of coalition c
    scores = np.asarray(value(masks), dtype=np.float64)
    sizes = masks.sum(axis=1)
    # weight of a coalition S (not holding i) in phi_i: |S|! (n - |S| - 1)! / n!
    weights = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) if s < n else 0.0
                        for s in range(n + 1)])
    values = np.zeros(n)
    for player in range(n):
        without = codes[(codes >> player) & 1 == 0]
        values[player] = np.sum(weights[sizes[without]] * (scores[without | (1 << player)] - scores[without]))
    return Attribution(values, None, float(scores[-1]), float(scores[0]), True, 0, len(codes),
                       time.perf_counter() - started)


def _sampled(value: ValueFunction, n: int, config: ShapleyConfig, started: float,
             costly: np.ndarray | None) -> Attribution:
    rng = np.random.default_rng(config.seed)
    # pairs sharing a costly order, so that the permutations asked for still make two units or more
    shared = min(config.shared_orders, max(1, config.permutations // 4))
    if costly is None or not 0 < costly.sum() < n:
        shared = 1
    unit = 2 * shared  # permutations per sample unit: antithetic pairs, sharing one order of the costly players
    wanted = max(2, -(-config.permutations // unit)) * unit  # whole units, at least two (for the SE)
    minimum = max(2 * unit, config.min_permutations + config.min_permutations % 2)
    cache: dict[bytes, float] = {}
    unit_means: list[np.ndarray] = []  # one row per unit: its mean marginal contributions (the samples of the SE)
    per_round = max(1, 4 // unit)
    full = empty = 0.0
    last_round = 0.0
    while len(unit_means) * unit < wanted:
        if (config.budget_seconds is not None and len(unit_means) * unit >= minimum
                and time.perf_counter() - started + last_round > config.budget_seconds):
            break  # another round like the last one would end past the budget
        round_started = time.perf_counter()
        orders = []
        for _ in range(per_round):
            orders += _unit_orders(rng, n, costly if shared > 1 else None, shared)
        prefixes = np.zeros((len(orders), n + 1, n), dtype=bool)  # prefixes[p, j]: the first j players of p
        for p, order in enumerate(orders):
            for j, player in enumerate(order):
                prefixes[p, j + 1:, player] = True
        flat = prefixes.reshape(-1, n)
        keys = [row.tobytes() for row in np.packbits(flat, axis=1)]
        new: dict[bytes, int] = {}  # coalitions not evaluated yet -> a row holding them
        for row, key in enumerate(keys):
            if key not in cache and key not in new:
                new[key] = row
        if new:
            scores = np.asarray(value(flat[list(new.values())]), dtype=np.float64)
            cache.update(zip(new, scores.tolist(), strict=True))
        totals = np.array([cache[k] for k in keys]).reshape(len(orders), n + 1)
        full, empty = float(totals[0, -1]), float(totals[0, 0])
        marginals = np.zeros((len(orders), n))
        for p, order in enumerate(orders):
            marginals[p, order] = np.diff(totals[p])  # each permutation's marginals telescope to full - empty
        unit_means += list(marginals.reshape(-1, unit, n).mean(axis=1))
        last_round = time.perf_counter() - round_started
    samples = np.array(unit_means)
    values = samples.mean(axis=0)
    errors = samples.std(axis=0, ddof=1) / np.sqrt(len(samples)) if len(samples) > 1 else np.full(n, np.inf)
    return Attribution(values, errors, full, empty, False, len(samples) * unit, len(cache),
                       time.perf_counter() - started)


def _unit_orders(rng: np.random.Generator, n: int, costly: np.ndarray | None, shared: int) -> list[np.ndarray]:
    """The permutations of one sample unit: ``shared`` antithetic pairs (an order and its reverse).

    With ``costly`` players, every pair keeps one random order of them (reversed in the reverse
    permutations) and draws its own order of the cheap players and its own interleaving of the two,
    so the unit's coalitions hold only ``2 * (costly + 1)`` distinct sets of costly players. Each
    permutation is still uniformly random, so the estimate stays unbiased; the unit's mean is one
    sample for the standard error, since its permutations are not independent.
    """
    if costly is None:
        order = rng.permutation(n)
        return [order, order[::-1]]
    costly_players, cheap_players = np.flatnonzero(costly), np.flatnonzero(~costly)
    costly_order = rng.permutation(costly_players)
    orders = []
    for _ in range(shared):
        slots = np.zeros(n, dtype=bool)
        slots[rng.choice(n, len(costly_players), replace=False)] = True
        order = np.empty(n, dtype=np.int64)
        order[slots] = costly_order
        order[~slots] = rng.permutation(cheap_players)
        orders += [order, order[::-1]]
    return orders
