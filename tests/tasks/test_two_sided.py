"""The two-sided sampler (exact over the short side, sampled orders of the long side) and per-text encoding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError
from selfsim.tasks.explain.match import EmbeddingCache, MatchConfig, explain_match, explain_pair
from selfsim.tasks.explain.shapley import ShapleyConfig, shapley_values
from selfsim.tasks.explain.two_sided import two_sided_shapley

SAMPLED = ShapleyConfig(exact_up_to=10, permutations=400, budget_seconds=None)


def _bilinear_game(short: int, long: int, seed: int, dim: int = 6,
                   ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Random vectors for every subset of each side (0 for the empty one): ``v(L, R) = <e(L), e(R)>``,
    with interactions everywhere since no subset's vector is related to another's."""
    rng = np.random.default_rng(seed)
    tables = [rng.normal(size=(2**players, dim)) for players in (short, long)]
    for table in tables:
        table[0] = 0.0

    def side(table: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda masks: table[masks.astype(np.int64) @ (1 << np.arange(masks.shape[1]))]

    return side(tables[0]), side(tables[1])


def _pooled_game(short: int, long: int, seed: int, dim: int = 16,
                 ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Each player a random vector sharing a common direction, a text the normalised sum of its players'
    vectors: the shape of a mean-pooled sentence encoder's game."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    vectors = [rng.normal(size=(players, dim)) + 0.5 * common for players in (short, long)]

    def side(players: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        def embed(masks: np.ndarray) -> np.ndarray:
            summed = masks.astype(float) @ players
            return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
        return embed

    return side(vectors[0]), side(vectors[1])


def _joint(short_side: Callable[[np.ndarray], np.ndarray], long_side: Callable[[np.ndarray], np.ndarray],
           short: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda masks: np.einsum("ij,ij->i", short_side(masks[:, :short]), long_side(masks[:, short:]))


def test_two_long_players_are_exact_since_one_antithetic_pair_is_every_order() -> None:
    for short in (1, 3):
        short_side, long_side = _bilinear_game(short, 2, seed=short)
        exact = shapley_values(_joint(short_side, long_side, short), short + 2)
        result = two_sided_shapley(short_side, long_side, short, 2, ShapleyConfig(permutations=2))
        assert result.values == pytest.approx(exact.values, abs=1e-12)
        assert result.full == pytest.approx(exact.full) and result.empty == 0
        assert result.standard_errors == pytest.approx(np.zeros(short + 2), abs=1e-12)


def test_sampling_converges_to_the_exact_values_within_its_stated_error_and_is_efficient() -> None:
    short_side, long_side = _bilinear_game(4, 8, seed=0)
    exact = shapley_values(_joint(short_side, long_side, 4), 12, ShapleyConfig(exact_up_to=12)).values
    result = two_sided_shapley(short_side, long_side, 4, 8, SAMPLED)
    assert not result.exact and result.permutations == 400 and result.coalitions <= 2**4 * (400 * 7 + 2)
    z = np.abs(result.values - exact) / result.standard_errors
    assert np.all(z < 4.5), z
    assert np.mean(z < 2) >= 0.75
    assert abs(result.efficiency_gap) < 1e-9  # each order's contributions add up to v(all) - v(none)


def test_it_is_more_precise_than_joint_permutations_for_the_same_long_side_coalitions() -> None:
    short_side, long_side = _pooled_game(5, 9, seed=1)
    exact = shapley_values(_joint(short_side, long_side, 5), 14, ShapleyConfig(exact_up_to=14)).values
    # 24 long-side orders (8 new long-side coalitions each) against 24 joint permutations (up to 13 each);
    # measured: 0.2-0.4 times the error over four seeds of this game
    two_sided = two_sided_shapley(short_side, long_side, 5, 9, ShapleyConfig(permutations=24, budget_seconds=None))
    joint = shapley_values(_joint(short_side, long_side, 5), 14,
                           ShapleyConfig(exact_up_to=0, permutations=24, budget_seconds=None))
    error = np.sqrt(np.mean((two_sided.values - exact) ** 2))
    assert error < 0.5 * np.sqrt(np.mean((joint.values - exact) ** 2))
    assert error < 0.5 * float(np.mean(joint.standard_errors))


def test_dummy_players_on_either_side_get_exactly_nothing() -> None:
    short_side, long_side = _bilinear_game(3, 5, seed=4)

    def without(side: Callable[[np.ndarray], np.ndarray], dummy: int) -> Callable[[np.ndarray], np.ndarray]:
        def embed(masks: np.ndarray) -> np.ndarray:
            cleared = masks.copy()
            cleared[:, dummy] = False  # the dummy's presence never changes the text's vector
            return side(cleared)
        return embed

    result = two_sided_shapley(without(short_side, 1), without(long_side, 2), 3, 5,
                               ShapleyConfig(permutations=8, budget_seconds=None))
    assert result.values[1] == 0.0 and result.values[3 + 2] == 0.0
    assert abs(result.efficiency_gap) < 1e-9


def test_bad_sides_are_config_errors() -> None:
    short_side, long_side = _bilinear_game(3, 3, seed=0)
    with pytest.raises(ConfigError):
        two_sided_shapley(short_side, long_side, 3, 3, ShapleyConfig(exact_up_to=2))
    with pytest.raises(ConfigError):
        MatchConfig(sampler="kernel")  # type: ignore[arg-type]


class _BatchDependent:
    """A toy encoder whose vectors depend on the whole call, as dynamic int8's do (scales from the batch)."""

    name, version, dim, backend = "toy", "0", 3, "onnx-int8"

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: object = None) -> np.ndarray:
        scale = max(len(t) for t in texts)
        vectors = np.array([[len(t), scale, 1.0] for t in texts])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_per_text_encoding_makes_a_text_vector_independent_of_the_others() -> None:
    alone = EmbeddingCache(_BatchDependent())(["short"])[0]  # type: ignore[arg-type]
    together = EmbeddingCache(_BatchDependent(), threads=2)(["a much longer text", "short", "x"])[1]  # type: ignore[arg-type]
    assert np.array_equal(alone, together)
    batched = EmbeddingCache(_BatchDependent(), per_text=False)(["a much longer text", "short"])[1]  # type: ignore[arg-type]
    assert not np.allclose(batched, alone)


def test_int8_explanations_encode_each_text_alone(encoder: Encoder) -> None:
    """The real int8 encoder: through the cache a text gets the vector it gets alone, whatever it is encoded with."""
    texts = ["Cells divide.", "The mitochondria produce energy for the cell through respiration in its matrix.",
             "Proteins fold into shapes that decide what they do."]
    if getattr(encoder, "backend", None) != "onnx-int8":
        pytest.skip("the default encoder is not int8")
    cache = EmbeddingCache(encoder)
    assert cache.per_text
    together = cache(texts)
    for row, text in enumerate(texts):
        assert np.array_equal(together[row], encoder.encode([text])[0])


def test_real_encoder_two_sided_values_agree_with_exact_ones_within_their_error(encoder: Encoder) -> None:
    query = "mitochondria energy"
    passage = ("Cells need energy. Mitochondria make it. They burn sugar. Oxygen helps. Plants have chloroplasts. "
               "Roots drink.")
    exact = explain_match(encoder, query, passage, MatchConfig(shapley=ShapleyConfig(exact_up_to=10)))
    sampled = explain_match(encoder, query, passage,
                            MatchConfig(shapley=ShapleyConfig(exact_up_to=2, permutations=48, budget_seconds=None)))
    assert exact.exact and not sampled.exact and sampled.permutations == 48
    assert any("averaged exactly over all 4 of their subsets" in note for note in sampled.notes)
    assert abs(sampled.efficiency_gap) < 1e-6 and sampled.full == pytest.approx(exact.full, abs=1e-6)
    exact_values = np.array([f.value for f in exact.features])
    values = np.array([f.value for f in sampled.features])
    errors = np.array([f.standard_error for f in sampled.features])
    assert np.all(np.abs(values - exact_values) < 4.5 * errors + 1e-6)


def test_the_side_with_fewer_features_is_enumerated_whichever_it_is(encoder: Encoder) -> None:
    first = "Bread needs flour. Yeast makes it rise. Knead the dough. Let it rest. Bake it hot. Cool it."
    second = "Flour and yeast make bread. It is baked."
    exact = explain_pair(encoder, first, second, MatchConfig(shapley=ShapleyConfig(exact_up_to=10)))
    sampled = explain_pair(encoder, first, second,
                           MatchConfig(shapley=ShapleyConfig(exact_up_to=3, permutations=32, budget_seconds=None)))
    assert [f.side for f in sampled.features] == ["first"] * 6 + ["second"] * 2
    assert any(note.startswith("second features: averaged exactly over all 4") for note in sampled.notes)
    assert abs(sampled.efficiency_gap) < 1e-6 and sampled.full == pytest.approx(exact.full, abs=1e-6)
    values = np.array([f.value for f in sampled.features])
    errors = np.array([f.standard_error for f in sampled.features])
    assert np.all(np.abs(values - np.array([f.value for f in exact.features])) < 4.5 * errors + 1e-6)
