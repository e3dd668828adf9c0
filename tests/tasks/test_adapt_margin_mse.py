"""Adapting with margin-MSE distillation from the hybrid teacher: the adapted model improves the label-free
validation and is kept, or the collection rolls back and stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim import Collection
from selfsim.app import TeacherConfig, adapt_collection_to
from selfsim.tasks.adapt import AdaptConfig

RECORDS = [{"id": f"d{i}", "text": t} for i, t in enumerate(TINY_DOCUMENTS + TINY_TEXTS)]
QUERIES = ["cells divide", "the dog in the park", "rain on the roof", "old piano music", "birds over the sea",
           "a red car", "bread and cheese", "proteins fold", "genes in cells", "a long book", "hot sun today",
           "cat on the mat", "the cell cycle", "the owner throws the ball", "cold sea", "slow sad music"]


@pytest.mark.parametrize(("options", "mixes", "kept"), [({}, (1.0, 0.5), True),
                                                        ({"contrastive_weight": 1.0}, (1.0, 0.5), True),
                                                        ({}, (0.0,), False)])
def test_margin_mse_adaptation_improves_the_validation_or_rolls_back(tiny_model_dir: Path, tmp_path: Path,
                                                                    options: dict[str, float],
                                                                    mixes: tuple[float, ...], kept: bool) -> None:
    config = AdaptConfig(epochs=2, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0, options=options,
                         teacher=TeacherConfig(validation="teacher", holdout=0.25, negative_after=3, pool_depth=10,
                                               mixes=mixes, loss="margin_mse"))
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="torch") as collection:
        collection.add(RECORDS)
        active, generation = collection.store.encoder, collection.store.generation
        report = adapt_collection_to(collection, config, QUERIES)
        verdict = report.validation
        assert verdict is not None and report.training.objective == "margin_mse"
        assert report.training.steps > 0 and report.texts == verdict.training_rows > 0
        assert report.accepted is kept  # a share of 0 of the adapted weights is the base: it must roll back
        if report.accepted:
            assert verdict.chosen is not None
            assert verdict.chosen.validation["teacher_ndcg@10"] > verdict.base["teacher_ndcg@10"]
            assert collection.store.generation == generation + 1
            assert collection.store.encoder[1] == str(Path(verdict.chosen.model_dir).resolve())
        else:
            assert all(c.validation["teacher_ndcg@10"] <= verdict.base["teacher_ndcg@10"]
                       for c in verdict.candidates)
            assert collection.store.generation == generation and collection.store.encoder == active
