"""Blending the sequence model with item-to-item co-occurrence, the weight chosen on validation.

The self-attention model learns users' drift over a whole history; co-occurrence
kNN remembers which exact items follow which, including rare pairs that the
model's 64-d embeddings smooth away. Their mistakes differ, so a mixture of
the two next-item distributions beats either alone:

``p(item | history) = (1 - w) * softmax(model scores) + w * knn scores / their sum``

``w`` is chosen from a grid by NDCG@10 on the leave-one-out validation targets,
with the co-occurrence fitted on the training histories only (what the sequence
model trains on, so neither the validation nor the test item of any user is
seen); ``w = 0`` is the model alone, so a log where the blend does not help keeps
the plain model. The test figures of :mod:`selfsim.evaluation.recommend` use a
table fitted on the same training histories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsim.data.interactions import LeaveOneOutSplit
from selfsim.encoders.sequence import SequenceConfig
from selfsim.errors import ConfigError
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender
from selfsim.training.ranking import ScoreFunction, rank_targets, ranking_metrics
from selfsim.training.sequence import (
    SequenceTrainingConfig,
    SequenceTrainingResult,
    model_scores,
    train_sequence_model,
)


@dataclass(frozen=True)
class BlendConfig:
    """The weights tried for the co-occurrence share of the mixture (0 = the model alone)."""

    weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    metric: str = "ndcg@10"
    window: int = 3  # the co-occurrence table's settings (see CooccurrenceRecommender)
    neighbours: int = 100
    recent: int = 5
    decay: float = 0.7
    backward: float = 1.0

    def __post_init__(self) -> None:
        if not self.weights or any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ConfigError("blend weights must be between 0 and 1; give at least one.")

    @property
    def table(self) -> dict[str, Any]:
        """Keyword arguments of the :class:`CooccurrenceRecommender` the blend mixes in."""
        return {"window": self.window, "neighbours": self.neighbours, "recent": self.recent, "decay": self.decay,
                "backward": self.backward}


def blend(model_score: ScoreFunction, cooccurrence: CooccurrenceRecommender, weight: float) -> ScoreFunction:
    """A score function mixing the model's next-item distribution with the co-occurrence one."""

    def score(histories: Sequence[np.ndarray]) -> torch.Tensor:
        model = torch.softmax(model_score(histories).float(), dim=1)  # (U, V + 1)
        if weight == 0.0:
            return model
        knn = cooccurrence.score(histories).clone()  # (U, V + 1)
        knn[:, 0] = 0.0
        knn = knn / knn.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return (1.0 - weight) * model + weight * knn

    return score


@dataclass(frozen=True)
class BlendChoice:
    """The chosen weight and the validation metric of every weight tried."""

    weight: float
    validation: dict[float, float]

    def rounded_validation(self) -> dict[str, float]:
        """The validation metric of every weight tried, keyed by the weight as text, to 4 places (for JSON)."""
        return {str(w): round(v, 4) for w, v in self.validation.items()}


def choose_blend_weight(model_score: ScoreFunction, split: LeaveOneOutSplit, config: BlendConfig = BlendConfig(),
                        batch_size: int = 1024) -> BlendChoice:
    """The weight with the best validation ``config.metric`` (ties go to the smaller weight), the
    co-occurrence fitted on the training histories ``split.train`` only."""
    cooccurrence = CooccurrenceRecommender(split.log.n_items, **config.table).fit(split.train)
    users = split.scored_users
    histories = split.valid_histories()
    chosen_histories = [histories[u] for u in users]
    targets = split.valid_targets[users]
    found: dict[float, float] = {}
    for weight in sorted(set(config.weights)):
        ranks = rank_targets(blend(model_score, cooccurrence, weight), chosen_histories, targets,
                             batch_size=batch_size)
        found[weight] = ranking_metrics(ranks)[config.metric]
    best = max(found, key=lambda w: (found[w], -w))
    return BlendChoice(best, found)


@dataclass(frozen=True)
class BlendedTraining:
    """A sequence model trained with early stopping, its score function, and the blend weight validation chose
    (``choice`` is None when no blend was asked for)."""

    result: SequenceTrainingResult
    score: ScoreFunction  # the model alone
    choice: BlendChoice | None


def train_blended(split: LeaveOneOutSplit, shape: SequenceConfig, training: SequenceTrainingConfig,
                  blend_config: BlendConfig | None = BlendConfig(), text_vectors: np.ndarray | None = None,
                  known_items: np.ndarray | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
                  output_dir: str | Path | None = None, resume: bool = False) -> BlendedTraining:
    """Train the sequence model on ``split`` (see :func:`~selfsim.training.sequence.train_sequence_model`), then
    choose its blend weight with co-occurrence on the validation targets (:func:`choose_blend_weight`).

    What ``selfsim recommend train`` and ``selfsim eval recommend`` both run.
    """
    result = train_sequence_model(split, shape, training, text_vectors, known_items, progress, output_dir, resume)
    score = model_scores(result.model.eval(), training.eval_batch_size)
    choice = None if blend_config is None else choose_blend_weight(score, split, blend_config)
    return BlendedTraining(result, score, choice)
