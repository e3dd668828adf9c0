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
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from selfsim.data.interactions import LeaveOneOutSplit
from selfsim.encoders.sequence import SequenceConfig, SequenceModel
from selfsim.errors import ConfigError
from selfsim.objectives.info_nce import nt_xent
from selfsim.objectives.masked_item import MaskedItemLoss
from selfsim.objectives.next_item import NextItemLoss
from selfsim.objectives.sequence_contrastive import AugmentConfig, SequenceContrastiveLoss, pad
from selfsim.training.checkpoints import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from selfsim.training.curves import LearningCurve
from selfsim.training.early_stopping import EarlyStopping
from selfsim.training.ranking import ScoreFunction, rank_targets, ranking_metrics
from selfsim.training.schedules import OptimizerConfig, build_optimizer, build_scheduler, clip_gradients

if TYPE_CHECKING:
    from selfsim.training.distributed import RayTrainConfig

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
    distributed: RayTrainConfig | None = None  # None: this process; else data-parallel workers on Ray (DDP)

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


class SequenceStep(nn.Module):
    """The loss of one batch of training windows: the objective's, and the contrastive one when it is on.

    One module holds both so that a data-parallel wrapper (DDP) sees every parameter a step uses in one
    forward pass.
    """

    def __init__(self, objective: nn.Module, contrastive: SequenceContrastiveLoss | None, causal: bool) -> None:
        super().__init__()
        self.objective = objective
        self.contrastive = contrastive
        self.causal = causal

    def forward(self, sequences: Sequence[np.ndarray], views: tuple[torch.Tensor, torch.Tensor] | None,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(objective loss, contrastive loss or None)`` of ``sequences``; ``views`` are the contrastive
        views of the same rows (:meth:`SequenceContrastiveLoss.views`)."""
        if not sequences:  # a data-parallel worker's empty share: no loss, but every parameter in the graph
            zero = torch.stack([p.reshape(-1)[0] for p in self.parameters()]).sum() * 0.0
            return zero, (zero if self.contrastive is not None else None)
        if self.causal:
            inputs = pad([s[:-1] for s in sequences])  # (B, T)
            targets = pad([s[1:] for s in sequences])  # (B, T)
            _, loss = self.objective(inputs, targets, generator)
        else:
            _, loss = self.objective(pad(sequences), generator)
        if self.contrastive is None or views is None:
            return loss, None
        # SequenceContrastiveLoss.forward on views made beforehand (so that a worker can take its share of them)
        batch, last = views
        states = self.contrastive.model(batch)  # (2B, T, D)
        vectors = states[torch.arange(len(last)), last]  # (2B, D)
        B = len(last) // 2
        return loss, nt_xent(vectors[:B], vectors[B:], self.contrastive.temperature)


@dataclass
class SequenceRun:
    """One training run between steps: the model and its losses, the optimiser and schedule, the seeded
    random streams, the training windows, early stopping and what has been logged so far.

    :func:`train_sequence_model` drives it with :func:`train_epoch` and :func:`end_epoch`; a data-parallel
    worker (:mod:`selfsim.training.distributed`) drives the same steps on its share of every batch.
    """

    config: SequenceTrainingConfig
    model: SequenceModel
    step: SequenceStep
    optimizer: torch.optim.Optimizer
    scheduler: Any
    stopper: EarlyStopping
    rng: np.random.Generator  # batch order and contrastive views
    generator: torch.Generator  # masks and sampled negatives
    windows: list[np.ndarray]
    lengths: np.ndarray
    steps_per_epoch: int
    root: Path | None
    best_state: dict[str, torch.Tensor]
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    curve: LearningCurve = field(default_factory=LearningCurve)
    first_epoch: int = 1
    started: float = 0.0
    last_eval: float = 0.0


def build_model(model_config: SequenceConfig, config: SequenceTrainingConfig, text_vectors: np.ndarray | None = None,
                known_items: np.ndarray | None = None) -> SequenceModel:
    """A fresh :class:`SequenceModel` shaped for ``config``'s objective, with the item texts and the items that may
    be answers set (the model a run starts from, and the one a run's weights are loaded into)."""
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
    return model


def start_run(split: LeaveOneOutSplit, model_config: SequenceConfig, config: SequenceTrainingConfig,
              text_vectors: np.ndarray | None = None, known_items: np.ndarray | None = None,
              output_dir: str | Path | None = None, resume: bool = False) -> SequenceRun:
    """Everything a run needs before its first epoch, seeded by ``config.seed`` (or restored from the latest
    checkpoint under ``output_dir`` when ``resume``)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    causal = config.objective == "next_item"
    model = build_model(model_config, config, text_vectors, known_items)
    width = model.config.max_length + (1 if causal else 0)
    windows = training_windows(split.train, width, minimum=2 if causal else 1)
    if not windows:
        raise ConfigError("no user has enough history to learn from; each user needs at least 2 items "
                          "(3 with the leave-one-out split).")
    if causal:
        objective: nn.Module = NextItemLoss(model, config.negatives, config.label_smoothing)
    else:
        objective = MaskedItemLoss(model, config.mask_probability, negatives=config.negatives)
    contrastive = (SequenceContrastiveLoss(model, config.contrastive_temperature, config.augment)
                   if config.contrastive_weight > 0 else None)
    optimizer = build_optimizer(model, config.optimizer)
    steps_per_epoch = math.ceil(len(windows) / config.batch_size)
    scheduler = build_scheduler(optimizer, steps_per_epoch * config.epochs, config.optimizer)
    root = Path(output_dir) if output_dir is not None else None
    run = SequenceRun(config, model, SequenceStep(objective, contrastive, causal), optimizer, scheduler,
                      EarlyStopping(patience=config.patience, mode="max"), rng, generator, windows,
                      np.array([len(w) for w in windows]), steps_per_epoch, root, copy.deepcopy(model.state_dict()))
    spent = 0.0
    if resume and root is not None and (latest := latest_checkpoint(root / "checkpoints")) is not None:
        state = load_checkpoint(latest, model=model, optimizer=optimizer, scheduler=scheduler)
        run.stopper.load_state_dict(state["early_stopping"])
        rng.bit_generator.state = state["numpy_rng"]
        generator.set_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
        run.best_state = load_file(str(root / BEST_WEIGHTS)) if (root / BEST_WEIGHTS).is_file() else run.best_state
        run.best_metrics, run.history = state["best_metrics"], state["history"]
        run.epoch_seconds = state["epoch_seconds"]
        run.curve = LearningCurve.load(root) if (root / "curve.json").is_file() else run.curve
        run.first_epoch, spent = int(state["epoch"]) + 1, float(state["seconds"])
    run.started = time.perf_counter() - spent
    return run


def share_weight(sequences: Sequence[np.ndarray], mine: Sequence[np.ndarray], causal: bool) -> float:
    """The fraction of a batch's loss positions that a worker's share ``mine`` holds (each window predicts its
    items after the first when ``causal``, every item otherwise)."""
    def positions(rows: Sequence[np.ndarray]) -> int:
        return sum(len(s) - 1 if causal else len(s) for s in rows)

    return positions(mine) / max(1, positions(sequences))


def train_step(run: SequenceRun, sequences: Sequence[np.ndarray], module: nn.Module | None = None, rank: int = 0,
               world: int = 1) -> tuple[float, float]:
    """One optimiser step on the batch ``sequences``; returns its ``(objective loss, contrastive loss)``.

    With ``world`` data-parallel workers, this worker computes the loss of its share (rows ``rank, rank +
    world, ...``) through ``module`` (the DDP-wrapped :class:`SequenceStep`), weighted by the share's part of
    the batch's positions, so that the gradients DDP averages are those of the whole batch (exactly, for
    next-item prediction over the whole catalogue). The losses it returns are its weighted parts: summed over
    the workers, they are the batch's.
    """
    module = module or run.step
    weight = run.config.contrastive_weight
    # Views are drawn for the whole batch, as one process would, then shared: the batch order that follows
    # draws from the same stream, so it stays the same on every worker.
    contrastive = run.step.contrastive
    views = (contrastive.views([s[:-1] if run.step.causal else s for s in sequences], run.rng)
             if contrastive is not None else None)
    if world == 1:
        loss, extra = module(sequences, views, run.generator)
        main, auxiliary = loss.item(), 0.0
        if extra is not None:
            auxiliary = extra.item()
            loss = loss + weight * extra
    else:
        mine = list(sequences[rank::world])
        if views is not None:
            rows = np.arange(len(sequences))[rank::world]
            picked = torch.from_numpy(np.concatenate([rows, rows + len(sequences)]))
            views = (views[0][picked], views[1][picked])
        loss, extra = module(mine, views, run.generator)
        positions = share_weight(sequences, mine, run.step.causal)
        main, auxiliary = loss.item() * positions, 0.0
        loss = loss * (positions * world)  # DDP divides the summed gradients by world
        if extra is not None:
            rows_part = len(mine) / len(sequences)
            auxiliary = extra.item() * rows_part
            loss = loss + weight * extra * (rows_part * world)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients(run.model, run.config.optimizer)
    run.optimizer.step()
    run.scheduler.step()
    return main, auxiliary


def train_epoch(run: SequenceRun, module: nn.Module | None = None, rank: int = 0, world: int = 1) -> dict[str, float]:
    """One pass over every training window in length-bucketed batches; the summed losses of its steps."""
    run.model.train()
    tick = time.perf_counter()
    totals = {"loss": 0.0, "contrastive": 0.0}
    for batch in length_batches(run.lengths, run.config.batch_size, run.rng):
        main, auxiliary = train_step(run, [run.windows[i] for i in batch], module, rank, world)
        totals["loss"] += main
        totals["contrastive"] += auxiliary
    run.epoch_seconds.append(time.perf_counter() - tick)
    return totals


def end_epoch(run: SequenceRun, split: LeaveOneOutSplit, epoch: int, totals: dict[str, float],
              progress: Callable[[dict[str, Any]], None] | None = None) -> str | None:
    """After epoch ``epoch``: validate when it is time, keep the best weights, checkpoint, report; returns why
    training stops here (``"early stopping"``, ``"time budget"``) or None to go on."""
    config = run.config
    out_of_time = (config.time_budget_s is not None
                   and time.perf_counter() - run.started + np.mean(run.epoch_seconds) * 1.2 + run.last_eval
                   > config.time_budget_s)
    if (epoch < config.eval_start or epoch % config.eval_every) and epoch != config.epochs and not out_of_time:
        return None
    tick = time.perf_counter()
    metrics = validation_metrics(run.model, split, config.eval_batch_size)
    run.last_eval = time.perf_counter() - tick
    row = {"epoch": epoch, "loss": totals["loss"] / run.steps_per_epoch, "seconds": round(run.epoch_seconds[-1], 2),
           "eval_seconds": round(run.last_eval, 2), **{f"valid_{k}": v for k, v in metrics.items()}}
    if run.step.contrastive is not None:
        row["contrastive"] = totals["contrastive"] / run.steps_per_epoch
    run.history.append(row)
    run.curve.log(epoch, **{k: v for k, v in row.items() if k not in ("epoch", "seconds", "eval_seconds")})
    improved = run.stopper.update(metrics["ndcg@10"], epoch)
    if improved:
        run.best_state = copy.deepcopy(run.model.state_dict())
        run.best_metrics = metrics
    if run.root is not None:
        _save_progress(run.root, run.model, run.optimizer, run.scheduler, run.curve,
                       run.best_state if improved else None, {
                           "epoch": epoch, "seconds": time.perf_counter() - run.started,
                           "early_stopping": run.stopper.state_dict(), "numpy_rng": run.rng.bit_generator.state,
                           "torch_rng": run.generator.get_state().tolist(), "best_metrics": run.best_metrics,
                           "history": run.history, "epoch_seconds": run.epoch_seconds})
    if progress is not None:
        progress({**row, "best_epoch": run.stopper.best_step})
    if run.stopper.should_stop:
        return "early stopping"
    return "time budget" if out_of_time else None


def finish_run(run: SequenceRun, epoch: int, stopped_by: str, known_items: np.ndarray | None = None,
               text_vectors: np.ndarray | None = None) -> SequenceTrainingResult:
    """The result of a run that ended after ``epoch``: its model with the best weights, ready to score."""
    run.model.load_state_dict(run.best_state)
    run.model.eval()
    if known_items is not None:
        open_catalogue(run.model, known_items, text_vectors)
    return SequenceTrainingResult(run.model, int(run.stopper.best_step or epoch), run.best_metrics, epoch,
                                  time.perf_counter() - run.started, run.epoch_seconds, run.history, stopped_by)


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
    With ``config.distributed`` the run is data-parallel on the connected Ray cluster
    (:func:`selfsim.training.distributed.train_sequence_model_ray`).
    """
    if config.distributed is not None:
        from selfsim.training.distributed import train_sequence_model_ray

        return train_sequence_model_ray(split, model_config, config, text_vectors, known_items, progress,
                                        output_dir, resume)
    run = start_run(split, model_config, config, text_vectors, known_items, output_dir, resume)
    epoch, stopped_by = run.first_epoch - 1, "epochs"
    for epoch in range(run.first_epoch, config.epochs + 1):
        totals = train_epoch(run)
        reason = end_epoch(run, split, epoch, totals, progress)
        if reason is not None:
            stopped_by = reason
            break
    return finish_run(run, epoch, stopped_by, known_items, text_vectors)


def open_catalogue(model: SequenceModel, known_items: np.ndarray, text_vectors: np.ndarray | None) -> None:
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
