"""Several encoder processes: the same vectors as one process, and a collection indexed through them.

Each pool spawns real worker processes that import selfsim and load the model, which
takes seconds; the default run keeps one such test (the collection path).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS

from selfsim.app import Collection, load_encoder
from selfsim.encoders.pool import EncoderPool
from selfsim.errors import ConfigError

TEXTS = (TINY_TEXTS + TINY_DOCUMENTS) * 6


def test_collection_indexes_through_processes(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "text": text}) + "\n" for i, text in enumerate(TEXTS)))
    single = load_encoder(str(tiny_model_dir), "onnx-int8").encode(TEXTS)
    done: list[int] = []
    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir), backend="onnx-int8") as collection:
        report = collection.index_files([source], progress=done.append, processes=2)
        assert report.items == len(TEXTS) == len(collection) and sum(done) == len(TEXTS)
        stored = np.stack([collection.store.item_vector(str(i)) for i in range(len(TEXTS))])
        assert (stored * single).sum(axis=1).min() >= 0.98  # int8: ~0.99 across batchings, as in one process
        assert collection.search(TEXTS[1], k=1, mode="dense")[0].text == TEXTS[1]


@pytest.mark.slow
def test_pool_vectors_match_one_process_on_torch(tiny_model_dir: Path) -> None:
    local = load_encoder(str(tiny_model_dir), "torch")
    expected = local.encode(TEXTS, batch_size=4)
    with EncoderPool(local, partial(load_encoder, str(tiny_model_dir), "torch", threads=1), processes=2) as pool:
        assert (pool.name, pool.version, pool.dim) == (local.name, local.version, local.dim)
        vectors = pool.encode(TEXTS, batch_size=4)
        assert pool._executor is not None  # the bulk call really went to the workers
    assert vectors.dtype == np.float32 and np.allclose(vectors, expected, atol=1e-5)


def test_few_texts_stay_in_the_calling_process(tiny_model_dir: Path) -> None:
    local = load_encoder(str(tiny_model_dir), "torch")
    with EncoderPool(local, partial(load_encoder, str(tiny_model_dir), "torch", threads=1), processes=2) as pool:
        assert np.allclose(pool.encode(TEXTS[:3]), local.encode(TEXTS[:3]), atol=1e-6)
        assert pool._executor is None


def test_pool_needs_a_process(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        EncoderPool(load_encoder(str(tiny_model_dir), "torch"), partial(load_encoder, str(tiny_model_dir)), processes=0)
