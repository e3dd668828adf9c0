"""Adapting a collection: train on its texts, re-embed beside the old vectors, switch in one generation."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim import Collection
from selfsim.errors import ConfigError
from selfsim.registry import load_encoder
from selfsim.tasks.adapt import AdaptConfig, mine_triplets, reembed

RECORDS = [{"id": f"d{i}", "text": t} for i, t in enumerate(TINY_DOCUMENTS + TINY_TEXTS)]


def test_adapt_trains_reembeds_and_switches_the_collection(tiny_model_dir: Path, tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="torch") as collection:
        collection.add(RECORDS)
        before = collection.store.generation
        old_id = collection.store.encoder[0]
        report = collection.adapt(AdaptConfig(objective="crops", max_steps=2, batch_size=4))
        assert report.training.steps == 2 and report.chunks_embedded == len(RECORDS)
        assert report.generation == before + 1 == collection.store.generation
        assert report.model_dir.parent == tmp_path / "c" / "models"
        assert collection.store.encoder[1] == str(report.model_dir.resolve())
        assert len(collection.search("cells divide", k=3, mode="dense")) == 3
        ids, vectors = collection.vectors()
        fresh = collection.encoder.encode([collection.get(ids[0]).text])
        assert np.allclose(vectors[0], fresh[0], atol=1e-5)  # the stored vectors are the new model's
        with sqlite3.connect(collection.store.database_path) as connection:
            left = connection.execute("SELECT COUNT(*) FROM embeddings WHERE encoder_id = ?", (old_id,)).fetchone()[0]
        assert left == 0  # the old vectors are dropped once the switch is done
    with Collection.open(tmp_path / "c") as reopened:  # the new encoder loads from its recorded directory
        assert reopened.encoder.version == load_encoder(str(report.model_dir.resolve()), "torch").version
        assert len(reopened.search("the dog", k=2, mode="dense")) == 2


class _Failing:
    """Wraps an encoder and fails on its second call, like a crash half-way through re-embedding."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim  # type: ignore[attr-defined]

    def encode(self, texts: Sequence[str], **options: object) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("crash")
        return self.inner.encode(texts)  # type: ignore[attr-defined]


def test_a_crash_while_reembedding_keeps_the_old_encoder_and_a_rerun_finishes(tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    from selfsim.data.pair_files import Example
    from selfsim.training.text import TextTrainConfig, train_text_encoder

    other = train_text_encoder(tiny_model_dir, [Example((t,)) for t in TINY_TEXTS], tmp_path / "m",
                               TextTrainConfig(objective="simcse", max_steps=1, batch_size=4), data_kind="texts")
    new = load_encoder(str(other.model_dir))
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir)) as collection:
        collection.add(RECORDS)
        active = collection.store.encoder
        with pytest.raises(RuntimeError):
            reembed(collection.store, _Failing(new), batch=5)  # type: ignore[arg-type]
        assert collection.store.encoder == active
        assert len(collection.search("rain on the roof", k=3, mode="dense")) == 3  # old vectors still answer
        embedded, _, _ = reembed(collection.store, new, batch=5)
        assert embedded == len(RECORDS) - 5  # only what the crash left undone
        assert collection.store.encoder[1] == new.name


def test_mined_triplets_use_neighbouring_chunks_and_unrelated_negatives(tiny_model_dir: Path,
                                                                        tmp_path: Path) -> None:
    from selfsim import ChunkingConfig

    encoder = load_encoder(str(tiny_model_dir))
    with Collection.create(tmp_path / "c", encoder=encoder, chunking=ChunkingConfig(6, 0)) as collection:
        collection.add(RECORDS)
        triplets = mine_triplets(collection.store, encoder)
        assert triplets and all(len(t.texts) == 3 for t in triplets)
        for anchor, positive, negative in (t.texts for t in triplets):
            home = next(d for d in TINY_DOCUMENTS + TINY_TEXTS if anchor in d)
            assert positive in home and negative not in home
    with pytest.raises(ConfigError, match="needs a training file"):
        AdaptConfig(objective="cosine")


def test_mined_triplets_can_take_positives_from_human_labels(tiny_model_dir: Path, tmp_path: Path) -> None:
    from selfsim.store.labels import Label

    encoder = load_encoder(str(tiny_model_dir))
    with Collection.create(tmp_path / "c", encoder=encoder) as collection:
        collection.add(RECORDS)  # every item is one chunk: positives can only come from labels
        science = {"d0", "d13", "d14", "d15"}
        collection.labels.put("topic", [Label(i, "science" if i in science else "life") for i in ("d0", "d13", "d14",
                                                                                                  "d15", "d1", "d2")])
        triplets = mine_triplets(collection.store, encoder, label_task="topic")
        texts = {r["id"]: r["text"] for r in RECORDS}
        by_text = {v: k for k, v in texts.items()}
        for anchor, positive, negative in (t.texts for t in triplets):
            same = (by_text[anchor] in science) == (by_text[positive] in science)
            assert same and by_text[negative] not in ({by_text[anchor]} | (science if by_text[anchor] in science
                                                                             else {"d1", "d2"}))
        assert len(triplets) == 6
