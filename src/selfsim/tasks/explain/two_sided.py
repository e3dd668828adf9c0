"""Shapley values of a two-sided cosine game: exact over the short side, sampled orders of the long side.

A match explanation's game has two groups of players, the units of a left text
(a query's words) and of a right text (an item's sentences), and the value of a
coalition ``(L, R)`` is the inner product of the two texts' unit vectors::

    v(L, R) = <e(L), e(R)>,   e(empty) = 0   (no text on one side: value 0)

The value is bilinear in the two embeddings, and that is what this sampler
uses. It enumerates every subset of the short side (``2^a`` short texts, cheap
to encode) and samples only orders of the long side's ``b`` players (the costly
texts). Given one order of the long side, the expected marginal contribution
of every player over all orders of the short side and all interleavings of the
two is a closed form in the embeddings (Rao-Blackwellisation):

- the ``r``-th player ``i`` of the long order adds ``<W_r, e(R_r) - e(R_r-1)>``,
  where ``R_r`` is the order's prefix of ``r`` players and
  ``W_r = sum_j P(j short players precede it) * mean_{|L|=j} e(L)``;
- a short player ``x`` adds ``sum_k <H_xk, e(R_k)>`` with
  ``H_xk = 1/a sum_s P(k long players precede the (s+1)-th short one) *
  mean_{|L|=s, x not in L} (e(L + x) - e(L))``.

Each order's contributions are exact conditional expectations of a
permutation's marginals, so they add up to ``v(all) - v(none)`` (efficiency
holds exactly, as for plain permutation sampling), their average over uniformly
random orders is unbiased, and its variance is never larger than plain
permutation sampling's (Rao-Blackwell): the short side's randomness is gone
entirely. Orders come in antithetic pairs (an order and its reverse); the
standard error is computed over the pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from math import comb

import numpy as np

from selfsim.errors import ConfigError
from selfsim.tasks.explain.shapley import Attribution, ShapleyConfig

# masks (C, players) -> (C, dim) vectors, the zero vector for an empty coalition
SideEmbedding = Callable[[np.ndarray], np.ndarray]
_PAIRS_PER_ROUND = 2  # antithetic pairs of long-side orders encoded in one call


def two_sided_shapley(embed_short: SideEmbedding, embed_long: SideEmbedding, n_short: int, n_long: int,
                      config: ShapleyConfig = ShapleyConfig()) -> Attribution:
    """Shapley values of the ``n_short + n_long`` players of ``v(L, R) = <e(L), e(R)>`` (short players first).

    ``embed_short`` is called once with every subset of the short side (at most ``2^exact_up_to``);
    ``embed_long`` with the prefixes of sampled orders of the long side: ``config.permutations``
    orders (rounded up to whole antithetic pairs, at least two pairs), stopping early rather than
    start a round that would end past ``config.budget_seconds`` (but not before
    ``config.min_permutations`` orders).
    """
    if not 1 <= n_short <= config.exact_up_to or n_long < 1:
        raise ConfigError(f"the two-sided sampler needs 1 to {config.exact_up_to} short-side players and at least "
                          f"one long-side player, not {n_short} and {n_long}.")
    started = time.perf_counter()
    a, b, n = n_short, n_long, n_short + n_long
    codes = np.arange(2**a, dtype=np.int64)
    short_masks = ((codes[:, None] >> np.arange(a)) & 1).astype(bool)  # row c: the short players of subset c
    short = np.asarray(embed_short(short_masks), dtype=np.float64)  # (2^a, D)
    short[0] = 0.0  # no short text: value 0 whatever the long side
    sizes = short_masks.sum(axis=1)
    by_size = np.stack([short[sizes == s].mean(axis=0) for s in range(a + 1)])  # (a+1, D): mean e(L), |L| = s
    gains = np.zeros((a, a, short.shape[1]))  # (x, s, D): mean e(L + x) - e(L) over |L| = s, x not in L
    for x in range(a):
        without = codes[(codes >> x) & 1 == 0]
        difference = short[without | (1 << x)] - short[without]
        np.add.at(gains[x], sizes[without], difference)
        gains[x] /= np.array([comb(a - 1, s) for s in range(a)])[:, None]
    total = comb(n, a)
    # P(j short players precede the r-th long player), r = 1..b: (b, a+1)
    before_long = np.array([[comb(r - 1 + j, j) * comb(b - r + a - j, a - j) / total for j in range(a + 1)]
                            for r in range(1, b + 1)])
    # P(k long players precede the (s+1)-th short player), s = 0..a-1: (a, b+1)
    before_short = np.array([[comb(s + k, s) * comb(n - 1 - s - k, a - 1 - s) / total for k in range(b + 1)]
                             for s in range(a)])
    long_weights = before_long @ by_size  # (b, D): W_r
    short_weights = np.einsum("sk,xsd->xkd", before_short, gains) / a  # (a, b+1, D): H_xk

    rng = np.random.default_rng(config.seed)
    wanted_pairs = max(2, -(-config.permutations // 2))
    minimum_pairs = max(2, -(-config.min_permutations // 2))
    cache: dict[bytes, np.ndarray] = {}
    pair_means: list[np.ndarray] = []  # one row per antithetic pair: its mean contributions
    full_long = np.ones(b, dtype=bool)
    last_round = 0.0
    while len(pair_means) < wanted_pairs:
        if (config.budget_seconds is not None and len(pair_means) >= minimum_pairs
                and time.perf_counter() - started + last_round > config.budget_seconds):
            break  # another round like the last one would end past the budget
        round_started = time.perf_counter()
        orders = []
        for _ in range(min(_PAIRS_PER_ROUND, wanted_pairs - len(pair_means))):
            order = rng.permutation(b)
            orders += [order, order[::-1]]
        prefixes = np.zeros((len(orders), b + 1, b), dtype=bool)  # prefixes[p, k]: the first k players of p
        for p, order in enumerate(orders):
            for k, player in enumerate(order):
                prefixes[p, k + 1:, player] = True
        flat = prefixes.reshape(-1, b)
        keys = [row.tobytes() for row in np.packbits(flat, axis=1)]
        new = {key: row for row, key in reversed(list(enumerate(keys))) if key not in cache}
        if new:
            vectors = np.asarray(embed_long(flat[list(new.values())]), dtype=np.float64)
            cache.update(zip(new, vectors, strict=True))
        contributions = np.zeros((len(orders), n))
        for p, order in enumerate(orders):
            embedded = np.stack([cache[k] for k in keys[p * (b + 1):(p + 1) * (b + 1)]])  # (b+1, D)
            embedded[0] = 0.0  # no long text: value 0
            contributions[p, a + order] = np.einsum("rd,rd->r", long_weights, np.diff(embedded, axis=0))
            contributions[p, :a] = np.einsum("xkd,kd->x", short_weights, embedded)
        pair_means += list(contributions.reshape(-1, 2, n).mean(axis=1))
        last_round = time.perf_counter() - round_started
    samples = np.array(pair_means)
    values = samples.mean(axis=0)
    errors = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    full = float(short[-1] @ cache[np.packbits(full_long).tobytes()])
    return Attribution(values, errors, full, 0.0, False, 2 * len(samples), 2**a * len(cache),
                       time.perf_counter() - started)
