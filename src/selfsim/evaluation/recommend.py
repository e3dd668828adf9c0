"""Recommendation quality by the standard full-ranking protocol.

Leave-one-out per user (the last item is the test target, the one before it
the validation target, the rest training); every target is ranked against ALL
items of the catalogue — no sampled negatives — with the items already in the
user's history excluded from the ranking; HR@5/10/20 and NDCG@5/10/20 are
averaged over users. The baselines (most popular, item-to-item co-occurrence
kNN) are scored on the same split. Users with fewer than 3 items are not scored.
A trained model is scored alone and blended with co-occurrence (the weight
chosen on validation; the co-occurrence of the test ranking is fitted on the
histories the test targets are ranked from, like the kNN baseline).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsim.data.interactions import InteractionLog, LeaveOneOutSplit, leave_one_out, read_log
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender, PopularityRecommender
from selfsim.tasks.recommend.blend import BlendChoice, BlendConfig, blend, choose_blend_weight, train_blended
from selfsim.training.ranking import ScoreFunction, rank_targets, ranking_metrics
from selfsim.training.sequence import SequenceTrainingConfig

KS = (5, 10, 20)


def score_split(score: ScoreFunction, split: LeaveOneOutSplit, part: str = "test",
                users: np.ndarray | None = None, batch_size: int = 1024) -> dict[str, float]:
    """HR@k and NDCG@k of ``score`` on the ``part`` ("test" or "valid") targets of ``split``.

    ``users`` restricts the users scored (default: every user with targets).
    """
    chosen = split.scored_users if users is None else np.asarray(users)
    histories = split.test_histories() if part == "test" else split.valid_histories()
    targets = split.test_targets if part == "test" else split.valid_targets
    ranks = rank_targets(score, [histories[u] for u in chosen], targets[chosen], batch_size=batch_size)
    return {**ranking_metrics(ranks, KS), "users": int(len(chosen))}


def baseline_scores(split: LeaveOneOutSplit, part: str = "test") -> dict[str, dict[str, float]]:
    """Most-popular and co-occurrence kNN, fitted on the histories the ``part`` ranks from, then scored."""
    histories = split.test_histories() if part == "test" else split.valid_histories()
    n_items = split.log.n_items
    out: dict[str, dict[str, float]] = {}
    for name, estimator in (("most_popular", PopularityRecommender(n_items)),
                            ("cooccurrence_knn", CooccurrenceRecommender(n_items))):
        started = time.perf_counter()
        estimator.fit(histories)
        out[name] = {**score_split(estimator.score, split, part), "seconds": round(time.perf_counter() - started, 1)}
    return out


@dataclass(frozen=True)
class TrainedRun:
    """One trained model's figures on a split."""

    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int
    seconds: float
    seconds_per_epoch: float
    stopped_by: str
    history: list[dict[str, float]]
    blend: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        out = {"valid": _rounded(self.valid), "test": _rounded(self.test), "best_epoch": self.best_epoch,
               "epochs_run": self.epochs_run, "train_seconds": round(self.seconds, 1),
               "seconds_per_epoch": round(self.seconds_per_epoch, 2), "stopped_by": self.stopped_by}
        return {**out, "blend": self.blend} if self.blend is not None else out


def blended_scores(score: ScoreFunction, split: LeaveOneOutSplit, config: BlendConfig = BlendConfig(),
                   users: np.ndarray | None = None) -> dict[str, Any]:
    """The model ``score`` blended with co-occurrence: the weight chosen on validation, then test metrics."""
    return _blended_test(score, split, choose_blend_weight(score, split, config), config, users)


def _blended_test(score: ScoreFunction, split: LeaveOneOutSplit, choice: BlendChoice, config: BlendConfig,
                  users: np.ndarray | None = None) -> dict[str, Any]:
    """Test metrics of the blend at the chosen weight, co-occurrence fitted on the test rankings' histories."""
    cooccurrence = CooccurrenceRecommender(split.log.n_items).fit(split.test_histories())
    test = score_split(blend(score, cooccurrence, choice.weight), split, "test", users)
    return {"weight": choice.weight, "test": _rounded(test),
            "validation_" + config.metric: choice.rounded_validation()}


def train_and_score(split: LeaveOneOutSplit, model_config: SequenceConfig | None = None,
                    config: SequenceTrainingConfig = SequenceTrainingConfig(), text_vectors: np.ndarray | None = None,
                    known_items: np.ndarray | None = None, progress: Any = None,
                    test_users: np.ndarray | None = None,
                    blend_config: BlendConfig | None = None) -> tuple[SequenceModel, TrainedRun]:
    """Train on ``split`` (early stopping on validation NDCG@10), then score the best model on test.

    With ``blend_config`` the model is also scored blended with co-occurrence (:func:`blended_scores`).
    """
    model_config = model_config or SequenceConfig(n_items=split.log.n_items)
    trained = train_blended(split, model_config, config, blend_config, text_vectors, known_items, progress)
    result = trained.result
    test = score_split(trained.score, split, "test", test_users)
    blended = (None if blend_config is None or trained.choice is None
               else _blended_test(trained.score, split, trained.choice, blend_config, test_users))
    return result.model, TrainedRun(result.best_validation, test, result.best_epoch, result.epochs_run,
                                    result.seconds, result.seconds_per_epoch, result.stopped_by, result.history,
                                    blended)


def model_on_log(model: SequenceModel, model_items: Sequence[str], log: InteractionLog) -> ScoreFunction:
    """A score function for ``log``'s item ids from a model trained on another catalogue (matched by id).

    Items of the log that the model never saw score -inf, so they rank last.
    """
    position = {item: i + 1 for i, item in enumerate(model_items)}
    to_model = np.array([0] + [position.get(item, 0) for item in log.items], dtype=np.int64)  # log id -> model id
    from_model = torch.from_numpy(to_model)

    def score(histories: Sequence[np.ndarray]) -> torch.Tensor:
        mapped = [to_model[np.asarray(h, dtype=np.int64)] for h in histories]
        mapped = [h[h > 0] for h in mapped]
        with torch.no_grad():
            scores = model.score(model.user_vectors(mapped))  # (U, V_model + 1)
        out = scores[:, from_model]  # (U, V_log + 1)
        out[:, from_model == 0] = float("-inf")
        return out

    return score


def evaluate_file(path: str | Path, model_dir: str | Path | None = None,
                  config: SequenceTrainingConfig = SequenceTrainingConfig(),
                  model_config: dict[str, Any] | None = None, baselines: bool = True,
                  progress: Any = None, blend_config: BlendConfig | None = BlendConfig()) -> dict[str, Any]:
    """The whole protocol on an interaction file: baselines, then a model — trained here or loaded.

    With ``model_dir`` the saved model is scored as it is (matched to the file's
    items by id); otherwise one is trained on the training split with
    ``config`` (``config.time_budget_s`` caps the training time). With
    ``blend_config`` the model is also scored blended with co-occurrence.
    """
    started = time.perf_counter()
    log = read_log(path)
    split = leave_one_out(log)
    result: dict[str, Any] = {
        "data": str(path), "users": len(log.users), "items": log.n_items, "interactions": log.n_interactions,
        "mean_length": round(log.n_interactions / max(1, len(log.users)), 2),
        "protocol": "leave-one-out; full ranking against all items; history items excluded",
        "scored_users": int(len(split.scored_users)), "methods": {}}
    if baselines:
        result["methods"].update({name: {"test": _rounded(scores)}
                                  for name, scores in baseline_scores(split).items()})
    if model_dir is not None:
        model, payload = SequenceModel.load(model_dir)
        score = model_on_log(model, payload.get("items", []), log)
        result["methods"]["model"] = {"test": _rounded(score_split(score, split, "test")),
                                      "valid": _rounded(score_split(score, split, "valid")),
                                      "model_dir": str(model_dir)}
        if blend_config is not None:
            result["methods"]["model"]["blend"] = blended_scores(score, split, blend_config)
    else:
        shape = SequenceConfig(n_items=log.n_items, **(model_config or {}))
        shape = replace(shape, n_items=log.n_items)
        _, run = train_and_score(split, shape, config, progress=progress, blend_config=blend_config)
        result["methods"]["sequence_model"] = run.to_dict()
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    return result


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}
