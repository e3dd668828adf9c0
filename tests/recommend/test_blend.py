"""Blending the sequence model with co-occurrence: the weight chosen on validation, saved and served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from selfsim.data.interactions import InteractionLog, leave_one_out
from selfsim.errors import ConfigError
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender
from selfsim.tasks.recommend.blend import BlendConfig, blend, choose_blend_weight
from selfsim.tasks.recommend.collection import COOCCURRENCE_FILE, RecommendConfig, Recommender
from selfsim.training.sequence import SequenceTrainingConfig

TINY = RecommendConfig(max_length=10, dim=16, heads=2, blocks=1, dropout=0.1, use_text=False,
                       training=SequenceTrainingConfig(epochs=2, batch_size=32, eval_every=1, threads=None))


def _uninformed(histories):
    """A model that knows nothing: the same score for every item."""
    return torch.zeros(len(histories), 25)


def test_blend_mixes_two_distributions() -> None:
    histories = [np.array([1, 2, 3]), np.array([2, 3, 4])]
    knn = CooccurrenceRecommender(24, window=1).fit(histories)
    alone = blend(_uninformed, knn, 0.0)([np.array([1])])
    assert torch.allclose(alone, torch.full((1, 25), 1 / 25))
    mixed = blend(_uninformed, knn, 0.5)([np.array([1])])[0]
    assert float(mixed.sum()) == pytest.approx(1.0, abs=1e-5)
    assert int(torch.argmax(mixed)) == 2  # 2 follows 1; the uninformed model cannot say so


def test_validation_picks_the_blend_when_the_model_knows_nothing(planted_log: Callable[..., InteractionLog]) -> None:
    split = leave_one_out(planted_log(users=120))
    choice = choose_blend_weight(_uninformed, split, BlendConfig(weights=(0.0, 0.3, 0.6)))
    assert choice.weight > 0 and choice.validation[choice.weight] > choice.validation[0.0]
    with pytest.raises(ConfigError, match="between 0 and 1"):
        BlendConfig(weights=(1.5,))


def test_backward_weight_favours_what_followed() -> None:
    histories = [np.array([1, 2]), np.array([1, 2]), np.array([3, 4])]
    forward_only = CooccurrenceRecommender(4, window=1, backward=0.0).fit(histories)
    after_one, after_two = forward_only.score([np.array([1]), np.array([2])])
    assert after_one[2] > 0.1 and after_two[1] < 1e-5  # 2 followed 1; nothing ever followed 2
    symmetric = CooccurrenceRecommender(4, window=1).fit(histories).score([np.array([2])])[0]
    assert symmetric[1] == pytest.approx(after_one[2].item())


def test_cooccurrence_round_trip(tmp_path: Path, planted_log: Callable[..., InteractionLog]) -> None:
    log = planted_log(users=60)
    knn = CooccurrenceRecommender(log.n_items, window=2, neighbours=5, backward=0.5).fit(log.sequences)
    again = CooccurrenceRecommender.load(knn.save(tmp_path / "knn.safetensors"))
    assert (again.window, again.neighbours, again.backward) == (2, 5, 0.5)
    assert torch.equal(knn.score(log.sequences[:5]), again.score(log.sequences[:5]))


def test_a_blended_recommender_saves_and_serves_the_same(tmp_path: Path,
                                                         planted_log: Callable[..., InteractionLog]) -> None:
    log = planted_log(users=120)
    recommender, _ = Recommender.fit(log, TINY)
    assert recommender.notes["blend"]["weight"] == recommender.blend_weight
    history = [log.items[i - 1] for i in log.sequences[0]]
    recommender.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    assert loaded.blend_weight == recommender.blend_weight
    assert loaded.recommend(history, k=5) == recommender.recommend(history, k=5)
    plain, _ = Recommender.fit(log, RecommendConfig(**{**TINY.__dict__, "blend": None}))
    plain.save(tmp_path / "model")  # a later model without a blend removes the old co-occurrence file
    assert not (tmp_path / "model" / COOCCURRENCE_FILE).exists()
    assert Recommender.load(tmp_path / "model").blend_weight == 0.0
