"""Data-parallel training on Ray Train (two CPU workers, DDP over gloo) against the single-process loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_text import TINY_TEXTS

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.training.distributed import RayTrainConfig, share, train_text_encoder_ray
from selfsim.training.schedules import OptimizerConfig
from selfsim.training.text import TextTrainConfig, train_text_encoder

SCORED = [Example((a, b), s) for a, b, s in zip(TINY_TEXTS, TINY_TEXTS[1:] + TINY_TEXTS[:1],
                                                [0.1, 0.5, 0.9, 0.3, 0.2, 0.7, 0.4, 0.6, 0.8, 1.0, 0.0, 0.5],
                                                strict=True)] * 4


def test_each_worker_takes_every_nth_row_of_a_batch() -> None:
    rows = list(range(7))
    assert [share(rows, rank, 3) for rank in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]


def test_a_batch_too_small_to_share_is_one_sentence(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with pytest.raises(ConfigError, match="two rows each"):
        train_text_encoder_ray(tiny_model_dir, SCORED, tmp_path, TextTrainConfig(objective="cosine", batch_size=4),
                               data_kind="scored", ray_config=RayTrainConfig(workers=4))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 2**20)
    yield ray
    ray.shutdown()


def test_two_ddp_workers_follow_the_single_process_loss_curve(cluster: Any, tiny_model_dir: Path,
                                                             tmp_path: Path) -> None:
    # cosine's loss is a mean over rows, so half a batch on each of two workers with averaged gradients is one
    # step on the whole batch; only dropout (drawn per worker) differs.
    config = TextTrainConfig(objective="cosine", max_steps=12, batch_size=8, log_every=1, max_length=32,
                             optimizer=OptimizerConfig(learning_rate=5e-3, warmup_ratio=0.0), threads=1)
    single = train_text_encoder(tiny_model_dir, SCORED, tmp_path / "single", config, data_kind="scored")
    report = train_text_encoder_ray(tiny_model_dir, SCORED, tmp_path / "ray", config, data_kind="scored",
                                    ray_config=RayTrainConfig(workers=2))
    assert report.steps == single.steps == 12 and report.examples_seen == single.examples_seen == 96
    curve = [v for _, v in json.loads((tmp_path / "ray" / "training" / "curve.json").read_text())["train_loss"]]
    want = [v for _, v in json.loads((tmp_path / "single" / "training" / "curve.json").read_text())["train_loss"]]
    assert len(curve) == len(want) == 12
    assert curve[0] == pytest.approx(want[0], rel=0.15)  # the same first batch, the same weights
    assert np.mean(curve[-4:]) < np.mean(curve[:4])  # it learns
    assert np.mean(curve[-4:]) == pytest.approx(np.mean(want[-4:]), rel=0.25)
    assert (tmp_path / "ray" / "model.safetensors").is_file() and (tmp_path / "ray" / "modules.json").is_file()
    assert not (tmp_path / "ray" / "training" / "ray").exists()  # Ray's own run state is cleaned away


@pytest.mark.slow  # another Ray Train run (~30 s); the default run keeps the loss-curve test above
def test_the_train_command_runs_on_ray(cluster: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selfsim.cli.main import app

    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{e.label * 5}\t{e.texts[0]}\t{e.texts[1]}\n" for e in SCORED[:16]))
    result = CliRunner().invoke(app, ["train", str(data), "-o", str(tmp_path / "m"), "--objective", "cosine",
                                      "--base", str(tiny_model_dir), "--max-steps", "3", "--batch-size", "4",
                                      "--workers", "2", "--json", "--ray"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    report = json.loads(result.stdout)
    assert report["steps"] == 3 and report["examples_seen"] == 12 and (tmp_path / "m" / "modules.json").is_file()
