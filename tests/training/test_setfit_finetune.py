"""The SetFit-style contrastive fine-tune: batches, the pair loss, and a short real fine-tune (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsim.data.label_pairs import balanced_batches
from selfsim.encoders.base import Encoder
from selfsim.objectives.pair_cosine import cosine_pair_loss
from selfsim.training.setfit import ContrastiveFinetuneConfig, contrastive_finetune


def test_balanced_batches_draw_every_class_and_cycle_through_texts() -> None:
    labels = ["a"] * 10 + ["b"] * 4 + ["c"] * 2
    batches = balanced_batches(labels, batch_size=6, steps=10, seed=0)
    assert all(len(b) == 6 and sorted(np.asarray(labels)[b].tolist()) == ["a", "a", "b", "b", "c", "c"]
               for b in batches)
    seen_a = np.concatenate([b[np.asarray(labels)[b] == "a"] for b in batches[:5]])
    assert sorted(seen_a.tolist()) == list(range(10))  # five batches of two see every "a" once
    assert [b.tolist() for b in balanced_batches(labels, batch_size=32, steps=2)] == [list(range(16))] * 2


def test_cosine_pair_loss_is_zero_when_classes_are_orthogonal_and_balances_pairs() -> None:
    perfect = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    classes = torch.tensor([0, 0, 1])
    assert float(cosine_pair_loss(perfect, classes)) == pytest.approx(0.0, abs=1e-6)
    collapsed = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    # one positive pair (error 0) and two negative pairs (error 1 each): the two kinds weigh the same
    assert float(cosine_pair_loss(collapsed, classes)) == pytest.approx(0.5)


def test_steps_follow_the_number_of_labels_within_bounds() -> None:
    config = ContrastiveFinetuneConfig(epochs=10, batch_size=16, min_steps=20, max_steps=100)
    assert (config.steps_for(8), config.steps_for(64), config.steps_for(10_000)) == (20, 40, 100)


@pytest.mark.slow
def test_a_short_fine_tune_pulls_classes_apart_and_saves_a_loadable_model(encoder: Encoder, tmp_path: Path) -> None:
    from selfsim.encoders.sentence import SentenceEncoder

    texts = ["a wonderful film", "superb and moving", "I loved it", "a dull mess", "boring and stupid", "I hated it"]
    labels = ["pos"] * 3 + ["neg"] * 3
    config = ContrastiveFinetuneConfig(min_steps=15, max_steps=15, learning_rate=5e-5)
    report = contrastive_finetune(encoder.model_dir, texts, labels, tmp_path / "model", config)  # type: ignore[attr-defined]
    assert report.steps == 15 and report.last_loss < report.first_loss
    tuned = SentenceEncoder(report.model_dir)
    assert tuned.version != encoder.version and tuned.dim == encoder.dim

    def separation(vectors: np.ndarray) -> float:
        similarity = vectors @ vectors.T
        return float(similarity[:3, :3].mean() + similarity[3:, 3:].mean() - 2 * similarity[:3, 3:].mean())

    assert separation(tuned.encode(texts)) > separation(encoder.encode(texts))
