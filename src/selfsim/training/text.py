"""Train a text encoder: an objective by name, evaluation on a held-out set, early stopping, resume, curves.

A plain PyTorch loop over a SentenceTransformer (sentence-transformers holds
the model and the losses; the loop, the data order and the pretext views are
ours, so a run is deterministic and resumes exactly):

- batch ``s`` holds rows ``perm_e[i*B:(i+1)*B]`` of a permutation seeded by
  ``(seed, epoch)``, and its pretext views come from a generator seeded by
  ``(seed, s)``; a checkpoint (model with the objective's own weights,
  optimiser, schedule, RNG, loop state) therefore resumes to the same state;
- the validator (:mod:`selfsim.training.validation`) scores the model every
  ``eval_every`` steps (default: each epoch) as the saved model will run
  (its own maximum length); the best weights are kept and are what is saved;
  ``patience`` evaluations without improvement stop the run;
- the output is a sentence-transformers model directory (``modules.json``,
  safetensors weights) that ``selfsim index --encoder DIR`` and
  ``Collection.create(encoder=DIR)`` load, with a model card (``README.md``,
  ``selfsim_training.json``) and the learning curve in ``training/``.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError, NotFoundError
from selfsim.training.curves import LearningCurve
from selfsim.training.early_stopping import EarlyStopping
from selfsim.training.schedules import OptimizerConfig

WORK_DIR = "training"  # inside the output directory: checkpoints, best weights, curves
Validator = Callable[[Callable[[Sequence[str]], np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class TextTrainConfig:
    """One training run.

    ``objective`` and its hyper-parameters ``options`` (see each file in
    :mod:`selfsim.objectives`); ``epochs`` over the data or ``max_steps``
    optimiser steps (whichever is given; ``max_steps`` wins); ``max_length``
    truncates texts during training only. ``eval_every`` steps between
    validations (None: once per epoch); ``patience`` validations without
    improvement stop the run (None: never); ``checkpoint_every`` steps between
    checkpoints (None: at each validation, or each epoch without a validator).
    """

    objective: str = "pairs"
    options: Mapping[str, Any] = field(default_factory=dict)
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 32
    max_length: int = 128
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(learning_rate=2e-5,
                                                                                 warmup_ratio=0.1))
    eval_every: int | None = None
    eval_at_start: bool = True
    patience: int | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: bool = False
    log_every: int = 10
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ConfigError(f"the batch size must be at least 2, not {self.batch_size}.")
        if self.epochs <= 0 and not self.max_steps:
            raise ConfigError("train for a positive number of epochs or steps.")
        for name in ("max_steps", "eval_every", "patience", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1 (or left unset), not {value}.")
        if self.max_length < 8:
            raise ConfigError(f"max_length must be at least 8 tokens, not {self.max_length}.")

    def total_steps(self, n_examples: int) -> int:
        """Optimiser steps for ``n_examples`` rows."""
        if self.max_steps:
            return self.max_steps
        return max(1, math.ceil(self.epochs * self.steps_per_epoch(n_examples)))

    def steps_per_epoch(self, n_examples: int) -> int:
        """Batches in one pass over ``n_examples`` rows."""
        return max(1, math.ceil(n_examples / self.batch_size))


@dataclass(frozen=True)
class TrainReport:
    """Where the model went and how the run went."""

    model_dir: Path
    objective: str
    steps: int
    examples_seen: int
    train_seconds: float
    total_seconds: float
    first_loss: float
    last_loss: float
    initial_metrics: dict[str, float]
    best_metrics: dict[str, float]
    final_metrics: dict[str, float]
    best_step: int | None
    stopped_early: bool
    resumed_from: int | None

    @property
    def examples_per_second(self) -> float:
        """Training throughput (validation time excluded)."""
        return self.examples_seen / self.train_seconds if self.train_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model_dir": str(self.model_dir), "objective": self.objective, "steps": self.steps,
                "examples_seen": self.examples_seen, "train_seconds": round(self.train_seconds, 1),
                "total_seconds": round(self.total_seconds, 1),
                "examples_per_second": round(self.examples_per_second, 2),
                "first_loss": self.first_loss, "last_loss": self.last_loss,
                "initial_metrics": self.initial_metrics, "best_metrics": self.best_metrics,
                "final_metrics": self.final_metrics, "best_step": self.best_step,
                "stopped_early": self.stopped_early, "resumed_from": self.resumed_from}


def resolve_model_dir(base: str | Path) -> Path:
    """The local directory of ``base``: a sentence-transformers directory or a registered encoder's."""
    path = Path(base)
    if path.is_dir():
        if not (path / "modules.json").is_file():
            raise NotFoundError(f"{path} is not a sentence-transformers model directory; name one that "
                                "holds modules.json (the default encoder is one).")
        return path
    from selfsim.registry import load_encoder

    model_dir = getattr(load_encoder(str(base)), "model_dir", None)
    if model_dir is None:
        raise ConfigError(f"the encoder {base!r} is not a transformer that can be trained; start from a "
                          "sentence-transformers model directory.")
    return Path(model_dir)


def train_text_encoder(base: str | Path, data: Sequence[Example], output_dir: str | Path,
                       config: TextTrainConfig = TextTrainConfig(), *, data_kind: str,
                       validator: Validator | None = None, resume: bool = False,
                       data_description: str = "", progress: Callable[[int], None] | None = None) -> TrainReport:
    """Train the model in ``base`` on ``data`` (rows of ``data_kind``) with ``config``; save it to ``output_dir``.

    With ``resume`` the run continues from the latest checkpoint under
    ``output_dir/training/checkpoints`` (and starts afresh if there is none).
    ``progress(1)`` is called after every step.
    """
    import torch

    from selfsim.objectives.text_objective import objective_class

    objective_class(config.objective).check_data(data_kind)
    if not data:
        raise ConfigError("there is no training data; give at least one example.")
    model_dir = resolve_model_dir(base)
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        run = _Run(model_dir, data, Path(output_dir), config, validator, data_description)
        return run.train(resume, progress)
    finally:
        torch.set_num_threads(threads_before)


class _Run:
    """The state of one training run (a class only to keep the loop's pieces apart and readable)."""

    def __init__(self, model_dir: Path, data: Sequence[Example], output_dir: Path, config: TextTrainConfig,
                 validator: Validator | None, data_description: str) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        from selfsim.objectives.text_objective import build_objective
        from selfsim.training.schedules import build_optimizer, build_scheduler

        transformers_logging.disable_progress_bar()
        self.started = time.perf_counter()
        self.model_dir, self.data, self.output_dir, self.config = model_dir, data, output_dir, config
        self.validator, self.data_description = validator, data_description
        self.work = output_dir / WORK_DIR
        torch.manual_seed(config.seed)  # the objective's own new weights (a decoder) start the same each run
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.saved_length = self.model.max_seq_length
        self.objective = build_objective(config.objective, self.model, dict(config.options))
        self.optimizer = build_optimizer(self.objective, config.optimizer)
        self.total = config.total_steps(len(data))
        self.scheduler = build_scheduler(self.optimizer, self.total, config.optimizer)
        self.per_epoch = config.steps_per_epoch(len(data))
        self.eval_every = config.eval_every or self.per_epoch
        self.checkpoint_every = config.checkpoint_every or self.eval_every
        self.curve = LearningCurve()
        self.stopper = EarlyStopping(patience=config.patience or 10**9, mode="max")
        self.step, self.examples, self.train_seconds = 0, 0, 0.0
        self.losses: list[float] = []
        self.initial: dict[str, float] = {}
        self.best: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self._order_epoch, self._order = -1, np.zeros(0, dtype=np.int64)

    # -- the loop --------------------------------------------------------------------------------

    def train(self, resume: bool, progress: Callable[[int], None] | None) -> TrainReport:
        """Run to the last step (or an early stop) and save the model directory."""
        from selfsim.training.checkpoints import latest_checkpoint

        resumed_from = None
        checkpoint = latest_checkpoint(self.work / "checkpoints") if resume else None
        if checkpoint is not None:
            self._restore(checkpoint)
            resumed_from = self.step
        elif self.work.exists():
            shutil.rmtree(self.work)  # a fresh run must not pick up another run's best weights
        if self.step == 0 and self.validator is not None and self.config.eval_at_start:
            self.initial = self._validate()
        while self.step < self.total and not self.stopper.should_stop:
            self._one_step()
            if progress is not None:
                progress(1)
            last = self.step == self.total
            if self.validator is not None and (self.step % self.eval_every == 0 or last):
                self._validate()
            if self.step % self.checkpoint_every == 0 and not last:
                self._checkpoint()
        return self._finish(resumed_from)

    def _batch(self, step: int) -> list[Example]:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._order_epoch:
            self._order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.data))
            self._order_epoch = epoch
        size = self.config.batch_size
        return [self.data[i] for i in self._order[position * size:(position + 1) * size]]

    def _one_step(self) -> None:
        from selfsim.training.schedules import clip_gradients

        begun = time.perf_counter()
        rows = self._batch(self.step)
        columns = self.objective.views(rows, np.random.default_rng([self.config.seed, self.step, 1]))
        self.model.max_seq_length = min(self.config.max_length, self.saved_length or self.config.max_length)
        tokenize = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = [tokenize(column) for column in columns]
        self.objective.train()
        loss = self.objective(features, self.objective.labels(rows))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.objective, self.config.optimizer)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.examples += len(rows)
        self.losses.append(float(loss.detach()))
        self.train_seconds += time.perf_counter() - begun
        if self.step % self.config.log_every == 0 or self.step == self.total:
            recent = self.losses[-self.config.log_every:]
            self.curve.log(self.step, train_loss=float(np.mean(recent)),
                           learning_rate=float(self.scheduler.get_last_lr()[0]))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors from the model as it is now, read as the saved model will read (its own max length)."""
        self.model.max_seq_length = self.saved_length
        vectors = self.model.encode(list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                                    show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _validate(self) -> dict[str, float]:
        from safetensors.torch import save_file

        assert self.validator is not None
        metrics = self.validator(self.encode)
        self.objective.train()
        name = next(iter(metrics))
        self.curve.log(self.step, **{f"val_{k}": v for k, v in metrics.items()})
        self.latest = metrics
        if self.stopper.update(metrics[name], self.step):
            self.best = dict(metrics)
            self.work.mkdir(parents=True, exist_ok=True)
            weights = {k: v.detach().cpu().contiguous().clone() for k, v in self.model.state_dict().items()}
            save_file(weights, str(self.work / "best.tmp"))
            (self.work / "best.tmp").replace(self.work / "best.safetensors")
        return metrics

    # -- checkpoints -----------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        from selfsim.training.checkpoints import checkpoint_path, save_checkpoint

        root = self.work / "checkpoints"
        state = {"step": self.step, "examples": self.examples, "train_seconds": self.train_seconds,
                 "losses": self.losses, "curve": self.curve.to_dict(), "stopper": self.stopper.state_dict(),
                 "initial": self.initial, "best": self.best, "latest": self.latest}
        save_checkpoint(checkpoint_path(root, self.step), model=_UniqueState(self.objective), optimizer=self.optimizer,
                        scheduler=self.scheduler, state=state)
        for old in root.iterdir():  # one checkpoint is enough to resume; older ones only take space
            if old.name.startswith("checkpoint-") and old.name != f"checkpoint-{self.step}":
                shutil.rmtree(old, ignore_errors=True)

    def _restore(self, checkpoint: Path) -> None:
        from selfsim.training.checkpoints import load_checkpoint

        state = load_checkpoint(checkpoint, model=_UniqueState(self.objective), optimizer=self.optimizer,
                                scheduler=self.scheduler)
        self.step, self.examples = int(state["step"]), int(state["examples"])
        self.train_seconds, self.losses = float(state["train_seconds"]), list(state["losses"])
        self.curve = LearningCurve.from_dict(state["curve"])
        self.stopper.load_state_dict(state["stopper"])
        self.initial, self.best, self.latest = state["initial"], state["best"], state["latest"]

    # -- the output ------------------------------------------------------------------------------

    def _finish(self, resumed_from: int | None) -> TrainReport:
        from safetensors.torch import load_file

        from selfsim.training.model_card import write_model_card

        best_file = self.work / "best.safetensors"
        if self.validator is not None and best_file.is_file():
            self.model.load_state_dict(load_file(str(best_file)))
        self.model.max_seq_length = self.saved_length  # the saved model reads texts as long as the base did
        self.model.eval()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(str(self.output_dir))
        self.curve.save(self.work, title=f"{self.config.objective} on {self.data_description or 'training data'}")
        if not self.config.keep_checkpoints:
            shutil.rmtree(self.work / "checkpoints", ignore_errors=True)
            best_file.unlink(missing_ok=True)
        head = float(np.mean(self.losses[:10])) if self.losses else float("nan")
        tail = float(np.mean(self.losses[-10:])) if self.losses else float("nan")
        report = TrainReport(
            model_dir=self.output_dir, objective=self.config.objective, steps=self.step,
            examples_seen=self.examples, train_seconds=self.train_seconds,
            total_seconds=time.perf_counter() - self.started, first_loss=head, last_loss=tail,
            initial_metrics=self.initial, best_metrics=self.best, final_metrics=self.latest,
            best_step=self.stopper.best_step if self.validator is not None else None,
            stopped_early=self.stopper.should_stop and self.step < self.total, resumed_from=resumed_from)
        write_model_card(self.output_dir, base_model=str(self.model_dir), config=self.config,
                         data_description=self.data_description, n_examples=len(self.data), report=report)
        return report



class _UniqueState(nn.Module):
    """A module's state with each shared tensor named once, for checkpoints.

    sentence-transformers' losses hold the model too, so an objective's state
    names every weight twice, which safetensors refuses to save.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "inner", module)  # not registered: this view owns no state of its own

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        seen: set[int] = set()
        unique = {}
        for key, value in self.inner.state_dict(keep_vars=True).items():
            if id(value) not in seen:
                seen.add(id(value))
                unique[key] = value.detach()
        return unique

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        result = self.inner.load_state_dict(state, strict=False)
        if strict and result.unexpected_keys:
            raise ConfigError(f"the checkpoint does not fit this objective ({result.unexpected_keys[0]}); "
                              "resume with the objective and model it was made with.")
        return result
