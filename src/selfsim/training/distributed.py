"""Data-parallel training on Ray Train: the loops of :mod:`selfsim.training.text` (text encoders) and
:mod:`selfsim.training.sequence` (the sequence recommender) on N workers.

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

The sequence recommender (:func:`train_sequence_model_ray`) is dealt the same way: every worker starts the
run of :func:`selfsim.training.sequence.start_run` from the same seed, walks the same seeded order of
length-bucketed batches and takes rows ``r, r+N, ...`` of each; its loss is weighted by its share of the
batch's positions, so the averaged gradient is the whole batch's (exactly, for next-item prediction over
the whole catalogue; masks, sampled negatives and dropout are drawn per worker). Worker 0 validates,
decides early stopping (broadcast to all), writes the checkpoints and sends the best weights back.

Ray is imported only inside these functions (the ``selfsim[ray]`` extra).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.data.interactions import LeaveOneOutSplit
from selfsim.data.pair_files import Example
from selfsim.encoders.sequence import SequenceConfig
from selfsim.errors import ConfigError
from selfsim.training.sequence import (
    SequenceTrainingConfig,
    SequenceTrainingResult,
    build_model,
    end_epoch,
    finish_run,
    open_catalogue,
    start_run,
    train_epoch,
)
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
    trainer = _trainer(worker_loop, loop_config, ray_config, "selfsim", storage)
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


# -- the sequence recommender ---------------------------------------------------------------------------

SEQUENCE_WEIGHTS = "model.safetensors"  # in worker 0's Ray Train checkpoint: the best weights
SEQUENCE_SUMMARY = "result.json"  # beside them: the run's figures and the progress rows
STOP_REASONS = (None, "early stopping", "time budget")


def train_sequence_model_ray(split: LeaveOneOutSplit, model_config: SequenceConfig, config: SequenceTrainingConfig,
                             text_vectors: np.ndarray | None = None, known_items: np.ndarray | None = None,
                             progress: Callable[[dict[str, Any]], None] | None = None,
                             output_dir: str | Path | None = None, resume: bool = False) -> SequenceTrainingResult:
    """:func:`~selfsim.training.sequence.train_sequence_model` on ``config.distributed.workers`` data-parallel
    Ray Train workers (DDP), each taking its share of every batch of ``config.batch_size`` windows.

    Checkpoints go to ``output_dir`` (written by worker 0; on several nodes it must be shared storage) and
    are the single-process ones, so a run resumes with or without Ray. ``progress`` receives every
    evaluation's row when the run ends (the workers run in other processes).
    """
    ray = require_ray()
    from safetensors.torch import load_file

    ray_config = config.distributed
    if ray_config is None:
        raise ConfigError("config.distributed is not set; give a RayTrainConfig to train on Ray.")
    if not ray.is_initialized():
        raise ConfigError("there is no Ray cluster to train on; connect with ray.init() or use "
                          "selfsim.app.ray_session().")
    if config.batch_size < ray_config.workers:
        raise ConfigError(f"a batch of {config.batch_size} histories cannot give {ray_config.workers} workers one "
                          f"each; use --batch-size {ray_config.workers} or more, or fewer workers.")
    _check_cpus(ray, ray_config)
    scratch = Path(tempfile.mkdtemp(prefix="selfsim-ray-train-"))
    storage = (Path(output_dir).resolve() / RAY_DIR) if output_dir is not None else scratch
    loop_config = {"split": split, "model_config": model_config, "text_vectors": text_vectors,
                   "known_items": known_items, "resume": resume,
                   "config": replace(config, distributed=None, threads=ray_config.threads),
                   "output_dir": None if output_dir is None else str(Path(output_dir).resolve())}
    trainer = _trainer(sequence_worker_loop, loop_config, ray_config, "selfsim-sequence", storage)
    try:
        result = trainer.fit()
        if result.error is not None:
            raise result.error
        with result.checkpoint.as_directory() as directory:
            best = load_file(str(Path(directory) / SEQUENCE_WEIGHTS))
            summary = json.loads((Path(directory) / SEQUENCE_SUMMARY).read_text())
    finally:  # Ray's bookkeeping; the checkpoints and curves in output_dir stay
        shutil.rmtree(storage, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    model = build_model(model_config, config, text_vectors, known_items)
    model.load_state_dict(best)
    model.eval()
    if known_items is not None:
        open_catalogue(model, known_items, text_vectors)
    rows = summary.pop("progress")
    if progress is not None:
        for row in rows:
            progress(row)
    return SequenceTrainingResult(model, **summary)


def sequence_worker_loop(loop_config: dict[str, Any]) -> None:
    """What each Ray Train worker runs: the single-process epochs on its share of every batch, in step with
    the others; worker 0 validates, checkpoints and reports the best weights."""
    import ray.train
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    from torch.nn.parallel import DistributedDataParallel

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    split: LeaveOneOutSplit = loop_config["split"]
    config: SequenceTrainingConfig = loop_config["config"]
    text_vectors, known_items = loop_config["text_vectors"], loop_config["known_items"]
    output_dir = loop_config["output_dir"]
    # Every worker builds the same model from the same seed; worker 0 alone writes checkpoints.
    run = start_run(split, loop_config["model_config"], config, text_vectors, known_items,
                    output_dir, bool(loop_config["resume"]))
    if rank > 0:
        run.root = None
        # Dropout, masks and sampled negatives: a stream of each worker's own, not a copy of worker 0's.
        torch.manual_seed(config.seed + 7919 * rank)
        run.generator.manual_seed(config.seed + 7919 * rank)
    # Buffers (the catalogue's text vectors, which items may be answers) are the same everywhere and never
    # trained: not broadcast at every step.
    parallel = DistributedDataParallel(run.step, find_unused_parameters=True, broadcast_buffers=False)
    rows: list[dict[str, Any]] = []
    epoch, stopped_by = run.first_epoch - 1, "epochs"
    for epoch in range(run.first_epoch, config.epochs + 1):
        totals = train_epoch(run, parallel, rank, world)
        summed = torch.tensor([totals["loss"], totals["contrastive"]], dtype=torch.float64)
        dist.all_reduce(summed)  # each worker's weighted parts add up to the batches' losses
        totals = {"loss": float(summed[0]), "contrastive": float(summed[1])}
        reason = end_epoch(run, split, epoch, totals, rows.append) if rank == 0 else None
        code = torch.tensor([STOP_REASONS.index(reason)])
        dist.broadcast(code, src=0)  # worker 0's decision (early stopping, time budget) on every worker
        if STOP_REASONS[int(code.item())] is not None:
            stopped_by = str(STOP_REASONS[int(code.item())])
            break
    if rank != 0:
        ray.train.report({"rank": rank})
        return
    result = finish_run(run, epoch, stopped_by)
    with tempfile.TemporaryDirectory(prefix="selfsim-sequence-") as directory:
        save_file({k: v.contiguous() for k, v in run.best_state.items()}, str(Path(directory) / SEQUENCE_WEIGHTS))
        (Path(directory) / SEQUENCE_SUMMARY).write_text(json.dumps({
            "best_epoch": result.best_epoch, "best_validation": result.best_validation,
            "epochs_run": result.epochs_run, "seconds": result.seconds, "epoch_seconds": result.epoch_seconds,
            "history": result.history, "stopped_by": result.stopped_by, "progress": rows}))
        ray.train.report({"rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(directory))


def _trainer(loop: Any, loop_config: dict[str, Any], ray_config: RayTrainConfig, name: str, storage: Path) -> Any:
    """A Ray Train ``TorchTrainer`` running ``loop`` on ``ray_config.workers`` workers of ``threads`` CPUs each
    (and a GPU each when asked), its run state under ``storage``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resources = {"CPU": ray_config.threads} | ({"GPU": 1} if ray_config.use_gpu else {})
    return TorchTrainer(loop, train_loop_config=loop_config,
                        scaling_config=ScalingConfig(num_workers=ray_config.workers, use_gpu=ray_config.use_gpu,
                                                     resources_per_worker=resources),
                        run_config=RunConfig(name=name, storage_path=str(storage)))


def _check_cpus(ray: Any, ray_config: RayTrainConfig) -> None:
    """A clear error, instead of a wait that never ends, when the cluster has too few CPUs for the workers."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    wanted = ray_config.workers * ray_config.threads
    if cpus < wanted:
        raise ConfigError(f"{ray_config.workers} workers of {ray_config.threads} threads need {wanted} CPUs but the "
                          f"Ray cluster has {cpus}; use fewer --workers or --threads, or a larger cluster.")
