"""Training the sequence recommender: length-bucketed batches, full-softmax loss, early stopping on NDCG@10.

One epoch visits every user's training history once. Histories are short
(Beauty: 8.9 items on average), so batches group histories of similar length
and pad only to the longest in the batch; the loss is computed only at real
positions. After every ``eval_every`` epochs the model ranks each user's
validation item against the whole catalogue (items already in the history
excluded) and training stops once validation NDCG@10 has not improved for
``patience`` evaluations; the best weights are kept. Everything is seeded.

The ranking it validates with (:func:`~selfsim.training.ranking.rank_targets`,
:func:`~selfsim.training.ranking.ranking_metrics`) is the one
:mod:`selfsim.evaluation.recommend` scores the test split with.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from selfsim.data.interactions import LeaveOneOutSplit
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.errors import ConfigError
from selfsim.objectives.masked_item import MaskedItemLoss
from selfsim.objectives.next_item import NextItemLoss
from selfsim.objectives.sequence_contrastive import AugmentConfig, SequenceContrastiveLoss, pad
from selfsim.training.checkpoints import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from selfsim.training.curves import LearningCurve
from selfsim.training.early_stopping import EarlyStopping
from selfsim.training.ranking import ScoreFunction, rank_targets, ranking_metrics
from selfsim.training.schedules import OptimizerConfig, build_optimizer, build_scheduler, clip_gradients

Objective = Literal["next_item", "masked_item"]
BEST_WEIGHTS = "best.safetensors"


@dataclass(frozen=True)
class SequenceTrainingConfig:
    """How to train the sequence model; the defaults are the ones the Beauty benchmark uses (which also sets
    ``contrastive_weight`` 0.1 and ``eval_start`` 8).

    The learning rate decays linearly to 0 over ``epochs``, and validation usually climbs again in the
    low-rate epochs after a plateau, so ``patience`` is long enough to reach them.
    """

    objective: Objective = "next_item"
    epochs: int = 30
    batch_size: int = 128
    optimizer: OptimizerConfig = OptimizerConfig(learning_rate=2e-3, weight_decay=0.1, warmup_ratio=0.03,
                                                 decay="linear", max_grad_norm=5.0)
    negatives: int = 0  # 0: softmax over the whole catalogue; > 0: sampled softmax with this many negatives
    label_smoothing: float = 0.0
    mask_probability: float = 0.2  # masked-item objective only
    contrastive_weight: float = 0.0  # 0 switches the contrastive auxiliary loss off
    contrastive_temperature: float = 0.2
    augment: AugmentConfig = AugmentConfig()
    eval_every: int = 1
    eval_start: int = 1  # first epoch to evaluate (early epochs always improve; skipping them saves time)
    patience: int = 10
    time_budget_s: float | None = None  # stop (keeping the best model so far) after this much training time
    seed: int = 0
    threads: int | None = 2
    eval_batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.objective not in ("next_item", "masked_item"):
            raise ConfigError(f"unknown objective {self.objective!r}; use next_item or masked_item.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1.")
        if self.contrastive_weight < 0:
            raise ConfigError(f"the contrastive weight must be zero or more, not {self.contrastive_weight}.")


@dataclass
class SequenceTrainingResult:
    """The trained model (best validation weights) and how training went."""

    model: SequenceModel
    best_epoch: int
    best_validation: dict[str, float]
    epochs_run: int
    seconds: float
    epoch_seconds: list[float]
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "epochs"

    @property
    def seconds_per_epoch(self) -> float:
        """The mean wall time of one training epoch (validation not included)."""
        return float(np.mean(self.epoch_seconds)) if self.epoch_seconds else 0.0


# -- ranking ------------------------------------------------------------------------------------------


def model_scores(model: SequenceModel, batch_size: int = 1024) -> ScoreFunction:
    """A function from histories to the model's scores of every id, (U, V + 1)."""

    def score(histories: Sequence[np.ndarray]) -> torch.Tensor:
        with torch.no_grad():
            return model.score(model.user_vectors(histories, batch_size))

    return score


def validation_metrics(model: SequenceModel, split: LeaveOneOutSplit, batch_size: int = 1024,
                       test: bool = False) -> dict[str, float]:
    """Full-ranking HR/NDCG@5/10/20 of ``model`` on the validation (or test) targets of ``split``."""
    users = split.scored_users
    histories = split.test_histories() if test else split.valid_histories()
    targets = split.test_targets if test else split.valid_targets
    ranks = rank_targets(model_scores(model, batch_size), [histories[u] for u in users], targets[users],
                         batch_size=batch_size)
    return ranking_metrics(ranks)


# -- training -----------------------------------------------------------------------------------------


def training_windows(histories: Sequence[np.ndarray], width: int, minimum: int = 2) -> list[np.ndarray]:
    """Cut every history into windows of at most ``width`` items, newest first, none shorter than ``minimum``.

    A history longer than ``width`` gives its newest ``width`` items and then
    the windows before them, so long histories are not thrown away.
    """
    windows: list[np.ndarray] = []
    for history in histories:
        end = len(history)
        while end >= minimum:
            start = max(0, end - width)
            windows.append(np.asarray(history[start:end], dtype=np.int64))
            end = start + 1 if start > 0 else 0  # next window ends where this one starts, sharing one item
    return windows


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of example indices with similar lengths (little padding), in random order."""
    order = rng.permutation(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def train_sequence_model(split: LeaveOneOutSplit, model_config: SequenceConfig,
                         config: SequenceTrainingConfig = SequenceTrainingConfig(),
                         text_vectors: np.ndarray | None = None, known_items: np.ndarray | None = None,
                         progress: Callable[[dict[str, Any]], None] | None = None,
                         output_dir: str | Path | None = None, resume: bool = False) -> SequenceTrainingResult:
    """Train a :class:`SequenceModel` on ``split.train`` with early stopping on validation NDCG@10.

    ``text_vectors`` (V + 1, text_dim) are item text embeddings for a content-aware model;
    ``known_items`` (V + 1,) bool marks the items that may be answers (default: every item).
    ``progress`` is called after every evaluation with the epoch's figures. With
    ``output_dir`` a checkpoint (model, optimiser, schedule, RNG, early stopping, best
    weights) is written after every evaluation together with the learning curve
    (``curve.json``, ``curve.png``); ``resume`` continues from the latest checkpoint there.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    causal = config.objective == "next_item"
    if model_config.causal != causal:
        model_config = replace(model_config, causal=causal)
    if text_vectors is not None and not model_config.text_dim:
        model_config = replace(model_config, text_dim=int(text_vectors.shape[1]))
    model = SequenceModel(model_config)
    if text_vectors is not None:
        model.set_text_vectors(text_vectors)
    if known_items is not None:
        model.item_known.copy_(torch.as_tensor(known_items, dtype=torch.bool))
    model.item_known[0] = False

    width = model_config.max_length + (1 if causal else 0)
    windows = training_windows(split.train, width, minimum=2 if causal else 1)
    if not windows:
        raise ConfigError("no user has enough history to learn from; each user needs at least 2 items "
                          "(3 with the leave-one-out split).")
    lengths = np.array([len(w) for w in windows])
    if causal:
        objective: torch.nn.Module = NextItemLoss(model, config.negatives, config.label_smoothing)
    else:
        objective = MaskedItemLoss(model, config.mask_probability, negatives=config.negatives)
    contrastive = (SequenceContrastiveLoss(model, config.contrastive_temperature, config.augment)
                   if config.contrastive_weight > 0 else None)
    optimizer = build_optimizer(model, config.optimizer)
    steps_per_epoch = math.ceil(len(windows) / config.batch_size)
    scheduler = build_scheduler(optimizer, steps_per_epoch * config.epochs, config.optimizer)
    stopper = EarlyStopping(patience=config.patience, mode="max")
    best_state = copy.deepcopy(model.state_dict())
    best_metrics: dict[str, float] = {}
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    stopped_by = "epochs"
    curve = LearningCurve()
    first_epoch, spent = 1, 0.0
    root = Path(output_dir) if output_dir is not None else None
    if resume and root is not None and (latest := latest_checkpoint(root / "checkpoints")) is not None:
        state = load_checkpoint(latest, model=model, optimizer=optimizer, scheduler=scheduler)
        stopper.load_state_dict(state["early_stopping"])
        rng.bit_generator.state = state["numpy_rng"]
        generator.set_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
        best_state = load_file(str(root / BEST_WEIGHTS)) if (root / BEST_WEIGHTS).is_file() else best_state
        best_metrics, history, epoch_seconds = state["best_metrics"], state["history"], state["epoch_seconds"]
        curve = LearningCurve.load(root) if (root / "curve.json").is_file() else curve
        first_epoch, spent = int(state["epoch"]) + 1, float(state["seconds"])
    started = time.perf_counter() - spent
    last_eval = 0.0
    epoch = first_epoch - 1
    for epoch in range(first_epoch, config.epochs + 1):
        model.train()
        tick = time.perf_counter()
        totals = {"loss": 0.0, "contrastive": 0.0}
        for batch in length_batches(lengths, config.batch_size, rng):
            sequences = [windows[i] for i in batch]
            if causal:
                inputs = pad([s[:-1] for s in sequences])  # (B, T)
                targets = pad([s[1:] for s in sequences])  # (B, T)
                _, loss = objective(inputs, targets, generator)
            else:
                _, loss = objective(pad(sequences), generator)
            totals["loss"] += loss.item()
            if contrastive is not None:
                _, extra = contrastive([s[:-1] if causal else s for s in sequences], rng)
                totals["contrastive"] += extra.item()
                loss = loss + config.contrastive_weight * extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(model, config.optimizer)
            optimizer.step()
            scheduler.step()
        epoch_seconds.append(time.perf_counter() - tick)
        out_of_time = (config.time_budget_s is not None
                       and time.perf_counter() - started + np.mean(epoch_seconds) * 1.2 + last_eval
                       > config.time_budget_s)
        if (epoch < config.eval_start or epoch % config.eval_every) and epoch != config.epochs and not out_of_time:
            continue
        tick = time.perf_counter()
        metrics = validation_metrics(model, split, config.eval_batch_size)
        last_eval = time.perf_counter() - tick
        row = {"epoch": epoch, "loss": totals["loss"] / steps_per_epoch, "seconds": round(epoch_seconds[-1], 2),
               "eval_seconds": round(last_eval, 2), **{f"valid_{k}": v for k, v in metrics.items()}}
        if contrastive is not None:
            row["contrastive"] = totals["contrastive"] / steps_per_epoch
        history.append(row)
        curve.log(epoch, **{k: v for k, v in row.items() if k not in ("epoch", "seconds", "eval_seconds")})
        improved = stopper.update(metrics["ndcg@10"], epoch)
        if improved:
            best_state = copy.deepcopy(model.state_dict())
            best_metrics = metrics
        if root is not None:
            _save_progress(root, model, optimizer, scheduler, curve, best_state if improved else None, {
                "epoch": epoch, "seconds": time.perf_counter() - started, "early_stopping": stopper.state_dict(),
                "numpy_rng": rng.bit_generator.state, "torch_rng": generator.get_state().tolist(),
                "best_metrics": best_metrics, "history": history, "epoch_seconds": epoch_seconds})
        if progress is not None:
            progress({**row, "best_epoch": stopper.best_step})
        if stopper.should_stop:
            stopped_by = "early stopping"
            break
        if out_of_time:
            stopped_by = "time budget"
            break
    model.load_state_dict(best_state)
    model.eval()
    if known_items is not None:
        _open_catalogue(model, known_items, text_vectors)
    return SequenceTrainingResult(model, int(stopper.best_step or epoch), best_metrics, epoch,
                                  time.perf_counter() - started, epoch_seconds, history, stopped_by)


def _open_catalogue(model: SequenceModel, known_items: np.ndarray, text_vectors: np.ndarray | None) -> None:
    """After training without some items: their id embeddings (never trained) are zeroed, and those with
    text become answers, scored by their text alone (cold start)."""
    with torch.no_grad():
        unknown = ~torch.as_tensor(known_items, dtype=torch.bool)
        unknown[0] = False
        model.item_embedding.weight[: model.config.n_items + 1][unknown] = 0.0
        if text_vectors is not None:
            has_text = torch.from_numpy(np.abs(np.asarray(text_vectors)).sum(1) > 0)
            model.item_known |= has_text
            model.item_known[0] = False


def _save_progress(root: Path, model: SequenceModel, optimizer: torch.optim.Optimizer, scheduler: Any,
                   curve: LearningCurve, best_state: dict[str, torch.Tensor] | None, state: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if best_state is not None:
        temporary = root / (BEST_WEIGHTS + ".tmp")
        save_file({k: v.contiguous() for k, v in best_state.items()}, str(temporary))
        temporary.replace(root / BEST_WEIGHTS)
    target = checkpoint_path(root / "checkpoints", int(state["epoch"]))
    save_checkpoint(target, model=model, optimizer=optimizer, scheduler=scheduler, state=state)
    for old in (root / "checkpoints").iterdir():  # only the latest is needed to resume
        if old != target and old.name.startswith("checkpoint-"):
            shutil.rmtree(old, ignore_errors=True)
    curve.save(root, title="sequence recommender")
