"""Data-parallel text-encoder training on Ray Train: the loop of :mod:`selfsim.training.text` on N workers.

Each of ``workers`` Ray Train workers (PyTorch DDP; gloo on CPU, NCCL on GPU) builds the same model from
the same seed and walks the same seeded order of batches as a single-process run. Global batch ``s`` (rows
``perm_e[s*B:(s+1)*B]``, ``B`` = ``batch_size``) is dealt to the workers by position (worker ``r`` takes
rows ``r, r+N, ...``); DDP averages their gradients, so for an objective whose loss is a mean over rows
(cosine, cosent pairs within a worker's share, triplet) the step equals the single-process step on the
whole batch. Objectives that take their negatives from the batch (simcse, pairs, crops) see ``B/N``
in-batch negatives per worker, as with any data-parallel trainer: raise ``batch_size`` with the workers.

Worker 0 alone validates, keeps the best weights, writes checkpoints into the model directory (so on a
multi-node cluster that directory must be shared storage) and saves the model; an early stop it decides is
broadcast so every worker leaves the loop at the same step. Checkpoints are the single-process ones, so a
run resumes with or without Ray.

Ray is imported only inside these functions (the ``selfsim[ray]`` extra).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.training.text import (
    WORK_DIR,
    TextTrainConfig,
    TrainReport,
    Validator,
    _Run,
    resolve_model_dir,
)

RAY_DIR = "ray"  # under the model directory's training/: Ray Train's own run state
REPORT_FILE = "ray_report.json"  # worker 0's report, read and removed by the driver


@dataclass(frozen=True)
class RayTrainConfig:
    """``workers`` Ray Train workers, each with ``threads`` torch threads (and CPUs reserved), on GPUs when
    ``use_gpu``."""

    workers: int = 2
    threads: int = 1
    use_gpu: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1 or self.threads < 1:
            raise ConfigError("workers and threads must be at least 1.")


def require_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed; install the extra with pip install 'selfsim[ray]', or leave "
                          "out --ray to train in one process.") from None
    return ray


def share(rows: Sequence[Any], rank: int, world: int) -> list[Any]:
    """Worker ``rank``'s share of one global batch: rows ``rank, rank + world, ...``."""
    return list(rows[rank::world])


def train_text_encoder_ray(base: str | Path, data: Sequence[Example], output_dir: str | Path,
                           config: TextTrainConfig = TextTrainConfig(), *, data_kind: str,
                           ray_config: RayTrainConfig = RayTrainConfig(), validator: Validator | None = None,
                           resume: bool = False, data_description: str = "",
                           progress: Callable[[int], None] | None = None) -> TrainReport:
    """:func:`~selfsim.training.text.train_text_encoder` with data-parallel workers on the connected Ray cluster.

    ``progress(n)`` is called once, with every step, when the run ends (the workers run in other processes).
    """
    ray = require_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from selfsim.objectives.text_objective import objective_class

    objective_class(config.objective).check_data(data_kind)
    if not data:
        raise ConfigError("there is no training data; give at least one example.")
    if config.batch_size < 2 * ray_config.workers:
        raise ConfigError(f"a batch of {config.batch_size} rows cannot give {ray_config.workers} workers two rows "
                          f"each; use --batch-size {2 * ray_config.workers} or more, or fewer workers.")
    if not ray.is_initialized():
        raise ConfigError("there is no Ray cluster to train on; connect with ray.init() or use "
                          "selfsim.app.ray_session().")
    output = Path(output_dir).resolve()
    storage = output / WORK_DIR / RAY_DIR
    loop_config = {"model_dir": str(resolve_model_dir(base).resolve()), "data": list(data), "output": str(output),
                   "config": config, "validator": validator, "resume": resume, "description": data_description,
                   "threads": ray_config.threads}
    resources = {"CPU": ray_config.threads} | ({"GPU": 1} if ray_config.use_gpu else {})
    trainer = TorchTrainer(
        worker_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=ray_config.workers, use_gpu=ray_config.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name="selfsim", storage_path=str(storage)))
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    shutil.rmtree(storage, ignore_errors=True)  # Ray's bookkeeping; the model and its curves stay
    # Worker 0 leaves its report beside the model (Ray Train keeps metrics only with checkpoints).
    report_file = output / WORK_DIR / REPORT_FILE
    report = report_from(json.loads(report_file.read_text()))
    report_file.unlink()
    if progress is not None:
        progress(report.steps)
    return report


def worker_loop(loop_config: dict[str, Any]) -> None:
    """What each Ray Train worker runs: one share of every batch, in step with the others."""
    import ray.train
    import torch

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(int(loop_config["threads"]))
    run = _DataParallelRun(Path(loop_config["model_dir"]), loop_config["data"], Path(loop_config["output"]),
                           loop_config["config"], loop_config["validator"], loop_config["description"], rank, world)
    report = run.train(bool(loop_config["resume"]), None)
    if report is not None:
        target = Path(loop_config["output"]) / WORK_DIR / REPORT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(_report_dict(report)))
    ray.train.report({"rank": rank})


class _DataParallelRun(_Run):
    """The single-process run with each batch shared among workers, gradients averaged by DDP, and the
    files (checkpoints, best weights, the model) written by worker 0 only."""

    def __init__(self, model_dir: Path, data: Sequence[Example], output_dir: Path, config: TextTrainConfig,
                 validator: Validator | None, data_description: str, rank: int, world: int) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.validating = validator is not None  # every worker knows when worker 0 validates
        super().__init__(model_dir, data, output_dir, config, validator if rank == 0 else None, data_description)
        self.rank, self.world = rank, world
        # Unused parameters (BERT's pooler, which mean pooling skips) would stall DDP's reduction without this.
        self.parallel = DistributedDataParallel(self.objective, find_unused_parameters=True)

    def train(self, resume: bool, progress: Callable[[int], None] | None) -> TrainReport | None:  # type: ignore[override]
        """Run to the last step or an early stop; worker 0 saves the model and returns the report."""
        import torch.distributed as dist

        from selfsim.training.checkpoints import latest_checkpoint

        resumed_from = None
        checkpoint = latest_checkpoint(self.work / "checkpoints") if resume else None
        if checkpoint is not None:
            self._restore(checkpoint)
            resumed_from = self.step
        elif self.rank == 0 and self.work.exists():
            for old in self.work.iterdir():  # a fresh run must not pick up another run's best weights
                if old.name != RAY_DIR:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
        dist.barrier()
        if self.step == 0 and self.validator is not None and self.config.eval_at_start:
            self.initial = self._validate()
        while self.step < self.total:
            self._one_step()
            last = self.step == self.total
            if self.validating and (self.step % self.eval_every == 0 or last):
                if self.validator is not None:
                    self._validate()
                if self._stop_everywhere():
                    break
            if self.rank == 0 and self.step % self.checkpoint_every == 0 and not last:
                self._checkpoint()
        dist.barrier()
        return self._finish(resumed_from) if self.rank == 0 else None

    def _stop_everywhere(self) -> bool:
        """Worker 0's early-stopping decision, on every worker."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if self.stopper.should_stop else 0])
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def _one_step(self) -> None:
        import time

        import torch.distributed as dist

        from selfsim.training.schedules import clip_gradients

        begun = time.perf_counter()
        rows = self._batch(self.step)
        mine = share(rows, self.rank, self.world)
        # Views are drawn for the whole batch, as one process would, then shared: the same noise per row.
        columns = self.objective.views(rows, np.random.default_rng([self.config.seed, self.step, 1]))
        columns = [share(column, self.rank, self.world) for column in columns]
        self.model.max_seq_length = min(self.config.max_length, self.saved_length or self.config.max_length)
        tokenize = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = [tokenize(column) for column in columns]
        self.objective.train()
        loss = self.parallel(features, self.objective.labels(mine))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the workers here
        clip_gradients(self.objective, self.config.optimizer)
        self.optimizer.step()
        self.scheduler.step()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        self.step += 1
        self.examples += len(rows)
        self.losses.append(float(mean_loss) / self.world)
        self.train_seconds += time.perf_counter() - begun
        if self.step % self.config.log_every == 0 or self.step == self.total:
            recent = self.losses[-self.config.log_every:]
            self.curve.log(self.step, train_loss=float(np.mean(recent)),
                           learning_rate=float(self.scheduler.get_last_lr()[0]))


def _report_dict(report: TrainReport) -> dict[str, Any]:
    return {"model_dir": str(report.model_dir), "objective": report.objective, "steps": report.steps,
            "examples_seen": report.examples_seen, "train_seconds": report.train_seconds,
            "total_seconds": report.total_seconds, "first_loss": report.first_loss, "last_loss": report.last_loss,
            "initial_metrics": report.initial_metrics, "best_metrics": report.best_metrics,
            "final_metrics": report.final_metrics, "best_step": report.best_step,
            "stopped_early": report.stopped_early, "resumed_from": report.resumed_from}


def report_from(values: dict[str, Any]) -> TrainReport:
    """The :class:`TrainReport` worker 0 sent back."""
    return TrainReport(**{**values, "model_dir": Path(values["model_dir"])})
