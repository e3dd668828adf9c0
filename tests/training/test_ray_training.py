"""Data-parallel training on Ray Train (two CPU workers, DDP over gloo) against the single-process loops:
the text encoder's and the sequence recommender's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_text import TINY_TEXTS

from selfsim.data.interactions import InteractionLog, leave_one_out
from selfsim.data.pair_files import Example
from selfsim.encoders.sequence import SequenceConfig
from selfsim.errors import ConfigError
from selfsim.training.distributed import RayTrainConfig, share, train_text_encoder_ray
from selfsim.training.schedules import OptimizerConfig
from selfsim.training.sequence import SequenceTrainingConfig, share_weight, train_sequence_model
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


# -- the sequence recommender ---------------------------------------------------------------------------


def walks(users: int = 48, seed: int = 0) -> InteractionLog:
    """Users walking along one of three cycles of eight items from a random start (a pattern to learn)."""
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(users):
        chain, start, length = int(rng.integers(3)), int(rng.integers(8)), int(rng.integers(4, 9))
        sequences[f"u{user}"] = [f"c{chain}i{(start + step) % 8}" for step in range(length)]
    return InteractionLog.from_sequences(sequences)


def test_worker_shares_hold_all_of_a_batch_s_positions() -> None:
    batch = [np.arange(1, n + 1) for n in (2, 5, 3, 7, 4)]
    for causal in (True, False):
        parts = [share_weight(batch, batch[rank::2], causal) for rank in range(2)]
        assert sum(parts) == pytest.approx(1.0)
    assert share_weight(batch, batch[0::2], True) == pytest.approx((1 + 2 + 3) / (1 + 4 + 2 + 6 + 3))


def test_two_ddp_workers_train_the_recommender_as_one_process_does(cluster: Any, tmp_path: Path) -> None:
    # No dropout and the softmax over the whole catalogue: each worker's loss, weighted by its share of the
    # batch's positions, makes DDP's averaged gradient the whole batch's, so both runs take the same steps
    # (up to the order of float sums) on the same global batches.
    split = leave_one_out(walks())
    shape = SequenceConfig(n_items=split.log.n_items, max_length=8, dim=16, heads=2, blocks=1, dropout=0.0)
    config = SequenceTrainingConfig(epochs=4, batch_size=12, eval_every=1, patience=10, threads=1, seed=0)
    single = train_sequence_model(split, shape, config)
    rows: list[dict[str, Any]] = []
    ray_config = replace(config, distributed=RayTrainConfig(workers=2))
    parallel = train_sequence_model(split, shape, ray_config, progress=rows.append, output_dir=tmp_path / "run")
    want = [row["loss"] for row in single.history]
    got = [row["loss"] for row in parallel.history]
    assert len(got) == len(want) == 4 and want[-1] < want[0]  # it learns
    assert got == pytest.approx(want, rel=1e-4)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4] and rows[-1]["best_epoch"] == parallel.best_epoch
    assert parallel.best_validation["ndcg@10"] == pytest.approx(single.best_validation["ndcg@10"], abs=1e-3)
    histories = [np.array([1, 2, 3]), np.array([9, 10])]
    assert np.allclose(parallel.model.user_vectors(histories).numpy(), single.model.user_vectors(histories).numpy(),
                       atol=1e-3)
    assert (tmp_path / "run" / "best.safetensors").is_file() and (tmp_path / "run" / "checkpoints").is_dir()
    assert not (tmp_path / "run" / "ray").exists()  # Ray's own run state is cleaned away


def test_scoring_a_saved_model_on_ray_is_one_sentence(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selfsim.cli.main import app

    log = tmp_path / "log.txt"
    log.write_text("u1 a b c\n")
    result = CliRunner().invoke(app, ["eval", "recommend", str(log), "--model", str(tmp_path), "--ray"])
    assert isinstance(result.exception, ConfigError) and "trains nothing" in str(result.exception)


@pytest.mark.slow  # two more Ray Train runs (~60 s); the default run keeps the DDP test above
def test_the_recommender_commands_train_on_ray(cluster: Any, tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selfsim.app import Collection
    from selfsim.cli.main import app

    log = walks()
    sequences = tmp_path / "log.txt"
    sequences.write_text("".join(f"{u} {' '.join(log.items[i - 1] for i in log.history(u))}\n" for u in log.users))
    options = ["--epochs", "2", "--batch-size", "8", "--workers", "2", "--json"]
    scored = CliRunner().invoke(app, ["eval", "recommend", str(sequences), "--no-baselines", *options, "--ray"])
    assert scored.exit_code == 0, (scored.output, scored.exception)
    run = json.loads(scored.stdout)["methods"]["sequence_model"]
    assert run["epochs_run"] == 2 and set(run["test"]) >= {"hr@10", "ndcg@10"}
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="onnx") as collection:
        collection.import_interactions([sequences])
    trained = CliRunner().invoke(app, ["interactions", "train", str(tmp_path / "c"), "--no-use-text", *options,
                                       "--ray-address", "local"])
    assert trained.exit_code == 0, (trained.output, trained.exception)
    notes = json.loads(trained.stdout)
    assert notes["users"] == len(log.users) and "ndcg@10" in notes["validation"]
    assert (tmp_path / "c" / "recommender" / "training" / "checkpoints").is_dir()
