"""The training run: validation, best checkpoint kept, exact resume, the model directory and its card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.training.schedules import OptimizerConfig
from selfsim.training.text import TextTrainConfig, train_text_encoder
from selfsim.training.validation import RetrievalValidator, StsValidator

SCORED = [Example((a, b), s) for a, b, s in zip(TINY_TEXTS, TINY_TEXTS[1:] + TINY_TEXTS[:1],
                                                [0.1, 0.5, 0.9, 0.3, 0.2, 0.7, 0.4, 0.6, 0.8, 1.0, 0.0, 0.5],
                                                strict=True)]


def config(**changes: object) -> TextTrainConfig:
    base = {"objective": "cosent", "max_steps": 4, "batch_size": 4, "eval_every": 2, "log_every": 1,
            "optimizer": OptimizerConfig(learning_rate=1e-3, warmup_ratio=0.25)}
    return TextTrainConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_a_run_validates_keeps_the_best_and_writes_a_loadable_model_with_card(tiny_model_dir: Path,
                                                                             tmp_path: Path) -> None:
    from selfsim.registry import load_encoder

    report = train_text_encoder(tiny_model_dir, SCORED, tmp_path / "out", config(), data_kind="scored",
                                validator=StsValidator(SCORED), data_description="tiny STS")
    assert report.steps == 4 and report.examples_seen == 16 and report.examples_per_second > 0
    assert set(report.initial_metrics) == {"sts_spearman"} and report.best_step in (0, 2, 4)
    curve = json.loads((tmp_path / "out" / "training" / "curve.json").read_text())
    assert [p[0] for p in curve["train_loss"]] == [1, 2, 3, 4]
    assert [p[0] for p in curve["val_sts_spearman"]] == [0, 2, 4]
    assert (tmp_path / "out" / "training" / "curve.png").stat().st_size > 0
    card = json.loads((tmp_path / "out" / "selfsim_training.json").read_text())
    assert card["objective"] == "cosent" and card["base_model"] == str(tiny_model_dir) and card["data"] == "tiny STS"
    assert "cosent" in (tmp_path / "out" / "README.md").read_text()
    assert not (tmp_path / "out" / "training" / "checkpoints").exists()  # removed once the run is complete
    encoder = load_encoder(str(tmp_path / "out"))
    vectors = encoder.encode(["The cat sat on the mat.", "A dog runs in the park."])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    best = max(v for _, v in curve["val_sts_spearman"])
    assert report.best_metrics["sts_spearman"] == pytest.approx(best)


def test_a_crashed_run_resumes_to_the_same_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    documents = [Example((d,)) for d in TINY_DOCUMENTS * 2]
    settings = config(objective="crops", max_steps=4, eval_every=None, checkpoint_every=2)
    train_text_encoder(tiny_model_dir, documents, tmp_path / "whole", settings, data_kind="texts")

    def crash_at_three(_: int, seen: list[int] = []) -> None:  # noqa: B006 - counts calls
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_text_encoder(tiny_model_dir, documents, tmp_path / "crashed", settings, data_kind="texts",
                           progress=crash_at_three)
    report = train_text_encoder(tiny_model_dir, documents, tmp_path / "crashed", settings, data_kind="texts",
                                resume=True)
    assert report.resumed_from == 2 and report.steps == 4
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert whole.keys() == resumed.keys()
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)


def test_early_stopping_and_retrieval_validation(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = {str(i): d for i, d in enumerate(TINY_DOCUMENTS)}
    queries = {"q0": "Cells divide by mitosis.", "q1": "The dog chases a ball."}
    validator = RetrievalValidator(corpus, queries, {"q0": {"0": 1.0}, "q1": {"1": 1.0}})
    settings = config(objective="crops", max_steps=40, eval_every=1, patience=1,
                      optimizer=OptimizerConfig(learning_rate=1e-9, warmup_ratio=0.0))
    report = train_text_encoder(tiny_model_dir, [Example((d,)) for d in TINY_DOCUMENTS], tmp_path / "o",
                                settings, data_kind="texts", validator=validator)
    assert report.stopped_early and report.steps < 40 and "ndcg@10" in report.best_metrics


def test_the_wrong_data_for_an_objective_is_one_sentence(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the triplet objective needs triplets"):
        train_text_encoder(tiny_model_dir, SCORED, tmp_path / "o", config(objective="triplet"), data_kind="scored")
    with pytest.raises(ConfigError, match="does not take these options"):
        train_text_encoder(tiny_model_dir, SCORED, tmp_path / "o", config(options={"nope": 1}), data_kind="scored")
