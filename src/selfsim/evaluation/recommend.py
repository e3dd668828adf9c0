"""Recommendation quality by the standard full-ranking protocol.

Leave-one-out per user (the last item is the test target, the one before it
the validation target, the rest training); every target is ranked against ALL
items of the catalogue — no sampled negatives — with the items already in the
user's history excluded from the ranking; HR@5/10/20 and NDCG@5/10/20 are
averaged over users, a target tied with other items counted at its expected
place (:mod:`selfsim.training.ranking`). The baselines (most popular,
item-to-item co-occurrence kNN) are scored on the same split. Users with fewer
than 3 items are not scored. A trained model is scored alone and blended with
co-occurrence (the weight chosen on validation).

Every table a figure uses (the popularity counts, the co-occurrence of the kNN
baseline and of the blend) is fitted on the training histories only — what the
sequence model trains on — for validation and test alike. A test target is
ranked after the user's training history plus their validation item (the
standard leave-one-out input), but no table learns from any validation item.
Refitting the tables on training + validation histories (``fit_on=
"train+validation"``) is offered only as a separately labelled extra figure.
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
from selfsim.errors import ConfigError
from selfsim.tasks.recommend.baselines import CooccurrenceRecommender, PopularityRecommender
from selfsim.tasks.recommend.blend import BlendChoice, BlendConfig, blend, choose_blend_weight, train_blended
from selfsim.training.ranking import ScoreFunction, rank_targets, ranking_metrics
from selfsim.training.sequence import SequenceTrainingConfig

KS = (5, 10, 20)
TABLE_FITS = ("train", "train+validation")  # the headline protocol first; the second is a labelled extra only
PROTOCOL = ("leave-one-out; test = last item, validation = second-to-last; full ranking against all items; "
            "history items excluded; ties at the expected rank (HR/NDCG expected over tie orders); "
            "popularity and co-occurrence tables fitted on training histories only (no validation item)")


def table_histories(split: LeaveOneOutSplit, fit_on: str = "train") -> list[np.ndarray]:
    """The histories a fitted table (popularity, co-occurrence) learns from: ``"train"``, the histories the
    sequence model trains on (the protocol of every headline figure), or ``"train+validation"``, the same
    with every user's validation item appended (a labelled extra figure only, never a headline)."""
    if fit_on == "train":
        return list(split.train)
    if fit_on == "train+validation":
        return split.test_histories()
    raise ConfigError(f"unknown table fit {fit_on!r}; use one of {', '.join(TABLE_FITS)}.")


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


def baseline_scores(split: LeaveOneOutSplit, part: str = "test", fit_on: str = "train"
                    ) -> dict[str, dict[str, float]]:
    """Most-popular and co-occurrence kNN fitted on :func:`table_histories` (training histories only by
    default), then scored on the ``part`` targets."""
    histories = table_histories(split, fit_on)
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


REFIT_FIELD = "test_table_refit_on_train_validation"  # the labelled extra figure of a blend


def blended_scores(score: ScoreFunction, split: LeaveOneOutSplit, config: BlendConfig = BlendConfig(),
                   users: np.ndarray | None = None, refit_extra: bool = False) -> dict[str, Any]:
    """The model ``score`` blended with co-occurrence: the weight chosen on validation, then test metrics
    (see :func:`blended_test`)."""
    return blended_test(score, split, choose_blend_weight(score, split, config), config, users, refit_extra)


def blended_test(score: ScoreFunction, split: LeaveOneOutSplit, choice: BlendChoice,
                 config: BlendConfig = BlendConfig(), users: np.ndarray | None = None,
                 refit_extra: bool = False) -> dict[str, Any]:
    """Test metrics of the blend at the chosen weight, its co-occurrence fitted on the training histories only.

    With ``refit_extra`` the blend is also scored with the table refitted on training + validation
    histories, under its own key (:data:`REFIT_FIELD`): an extra figure, not the headline.
    """
    out: dict[str, Any] = {"weight": choice.weight, "table": "train"}
    for fit_on in TABLE_FITS if refit_extra else TABLE_FITS[:1]:
        cooccurrence = CooccurrenceRecommender(split.log.n_items, **config.table).fit(table_histories(split, fit_on))
        test = score_split(blend(score, cooccurrence, choice.weight), split, "test", users)
        out["test" if fit_on == "train" else REFIT_FIELD] = _rounded(test)
    return {**out, "validation_" + config.metric: choice.rounded_validation()}


def train_and_score(split: LeaveOneOutSplit, model_config: SequenceConfig | None = None,
                    config: SequenceTrainingConfig = SequenceTrainingConfig(), text_vectors: np.ndarray | None = None,
                    known_items: np.ndarray | None = None, progress: Any = None,
                    test_users: np.ndarray | None = None, blend_config: BlendConfig | None = None,
                    refit_extra: bool = False) -> tuple[SequenceModel, TrainedRun]:
    """Train on ``split`` (early stopping on validation NDCG@10), then score the best model on test.

    With ``blend_config`` the model is also scored blended with co-occurrence (:func:`blended_test`;
    ``refit_extra`` adds the labelled figure with the table refitted on training + validation).
    """
    model_config = model_config or SequenceConfig(n_items=split.log.n_items)
    trained = train_blended(split, model_config, config, blend_config, text_vectors, known_items, progress)
    result = trained.result
    test = score_split(trained.score, split, "test", test_users)
    blended = (None if blend_config is None or trained.choice is None
               else blended_test(trained.score, split, trained.choice, blend_config, test_users, refit_extra))
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
        "protocol": PROTOCOL,
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
