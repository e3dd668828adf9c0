"""The shared training layer: schedules, early stopping, learning curves, checkpoints that resume exactly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from selfsim.errors import ConfigError, NotFoundError
from selfsim.training.checkpoints import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from selfsim.training.curves import LearningCurve
from selfsim.training.early_stopping import EarlyStopping
from selfsim.training.schedules import (
    OptimizerConfig,
    build_optimizer,
    build_scheduler,
    clip_gradients,
    learning_rate_factor,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))


def test_warmup_then_linear_and_cosine_decay() -> None:
    assert learning_rate_factor(0, 100, 10, "linear") == pytest.approx(0.1)
    assert learning_rate_factor(9, 100, 10, "linear") == pytest.approx(1.0)
    assert learning_rate_factor(55, 100, 10, "linear") == pytest.approx(0.5)
    assert learning_rate_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert learning_rate_factor(32, 100, 10, "cosine") > learning_rate_factor(32, 100, 10, "linear")
    assert learning_rate_factor(100, 100, 10, "linear") == pytest.approx(0.0)
    assert learning_rate_factor(70, 100, 10, "constant") == 1.0


def test_optimizer_decays_matrices_only_and_scheduler_follows_the_factor() -> None:
    model = _model()
    config = OptimizerConfig(learning_rate=0.1, weight_decay=0.5, warmup_ratio=0.1)
    optimizer = build_optimizer(model, config)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[2].weight)}
    scheduler = build_scheduler(optimizer, total_steps=20, config=config)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)  # step 0 of 2 warm-up steps
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_bad_optimizer_settings_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="learning rate"):
        OptimizerConfig(learning_rate=0)
    with pytest.raises(ConfigError, match="decay"):
        OptimizerConfig(decay="step")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one step"):
        build_scheduler(build_optimizer(_model()), total_steps=0)


def test_clip_gradients_bounds_the_norm() -> None:
    model = _model()
    model(torch.randn(3, 4) * 100).sum().backward()
    before = clip_gradients(model, OptimizerConfig(max_grad_norm=0.5))
    after = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
    assert before is not None and before > 0.5 and float(after) == pytest.approx(0.5, rel=1e-4)
    assert clip_gradients(model, OptimizerConfig(max_grad_norm=None)) is None


def test_early_stopping_counts_evaluations_without_improvement() -> None:
    stopper = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    assert stopper.update(0.5, 1) and stopper.update(0.6, 2)
    assert not stopper.update(0.605, 3) and not stopper.should_stop
    assert not stopper.update(0.55, 4) and stopper.should_stop
    assert (stopper.best, stopper.best_step) == (0.6, 2)
    restored = EarlyStopping(patience=2)
    restored.load_state_dict(json.loads(json.dumps(stopper.state_dict())))
    assert restored.should_stop and restored.best == 0.6
    lower = EarlyStopping(patience=1, mode="min")
    assert lower.update(1.0, 1) and lower.update(0.5, 2) and not lower.update(0.7, 3)


def test_learning_curve_round_trips_and_plots(tmp_path) -> None:
    curve = LearningCurve()
    for step in range(5):
        curve.log(step, train_loss=1.0 / (step + 1))
    curve.log(4, val_ndcg=0.3)
    json_path, png_path = curve.save(tmp_path / "run", title="test")
    assert png_path.stat().st_size > 1000 and png_path.read_bytes()[:4] == b"\x89PNG"
    loaded = LearningCurve.load(tmp_path / "run")
    assert loaded.series("train_loss") == curve.series("train_loss") and loaded.series("val_ndcg") == [(4, 0.3)]
    with pytest.raises(NotFoundError):
        LearningCurve.load(tmp_path / "missing.json")


def _train_steps(model: nn.Module, optimizer, scheduler, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        inputs = torch.randn(8, 4)  # from the global RNG, which the checkpoint restores
        loss = ((model(inputs) - inputs.sum(dim=1, keepdim=True)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def test_checkpoint_resumes_to_the_same_state(tmp_path) -> None:
    config = OptimizerConfig(learning_rate=0.05, warmup_ratio=0.2)
    model = _model()
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, 10, config)
    _train_steps(model, optimizer, scheduler, 4)
    save_checkpoint(checkpoint_path(tmp_path, 4), model=model, optimizer=optimizer, scheduler=scheduler,
                    state={"step": 4, "stopper": EarlyStopping().state_dict()})
    expected = _train_steps(model, optimizer, scheduler, 6)

    resumed = _model()
    torch.manual_seed(123)  # a different RNG state; the checkpoint must restore the saved one
    optimizer2 = build_optimizer(resumed, config)
    scheduler2 = build_scheduler(optimizer2, 10, config)
    state = load_checkpoint(latest_checkpoint(tmp_path), model=resumed, optimizer=optimizer2, scheduler=scheduler2)
    assert state["step"] == 4
    assert _train_steps(resumed, optimizer2, scheduler2, 6) == pytest.approx(expected, rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed.state_dict().values(),
                                                  strict=True))


def test_latest_checkpoint_skips_incomplete_ones_and_save_replaces(tmp_path) -> None:
    model = _model()
    save_checkpoint(checkpoint_path(tmp_path, 2), model=model, state={"step": 2})
    (tmp_path / "checkpoint-9").mkdir()  # a crash before the rename would leave only a .tmp; this one is empty
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 2)
    save_checkpoint(checkpoint_path(tmp_path, 2), model=model, state={"step": 2, "again": True})
    assert load_checkpoint(checkpoint_path(tmp_path, 2), model=_model())["again"] is True
    assert latest_checkpoint(tmp_path / "none") is None
    with pytest.raises(NotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "checkpoint-9", model=model)
