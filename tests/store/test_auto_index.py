"""``auto``: the index kind follows the collection's size, resolved whenever the index is built, rebuilt once
when the collection grows past a threshold (not on every add) and never rebuilt down when it shrinks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import selfsim.indexes as indexes
from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.indexes import AUTO_FLAT_BELOW, AUTO_HNSW_BELOW, auto_spec, planned_spec
from selfsim.store.vectors import VectorIndex

NEW = [{"id": f"new-{n}", "text": text} for n, text in enumerate([
    "The lighthouse keeper trims the lamp wick before the storm",
    "A glacier carves a deep valley over thousands of years",
    "Bees dance to tell the hive where the flowers are",
])]


@pytest.mark.parametrize(("count", "dim", "expected"), [
    (0, 384, "Flat"),
    (AUTO_FLAT_BELOW - 1, 384, "Flat"),
    (AUTO_FLAT_BELOW, 384, "HNSW32"),
    (AUTO_HNSW_BELOW - 1, 384, "HNSW32"),
    (AUTO_HNSW_BELOW, 384, "IVF4096,PQ48,Refine(SQ8)"),  # 4 sqrt(2M) = 5,657: the nearest power of two
    (10_000_000, 384, "IVF16384,PQ48,Refine(SQ8)"),
    (10_000_000, 768, "IVF16384,PQ96,Refine(SQ8)"),
    (10_000_000, 100, "IVF16384,PQ10,Refine(SQ8)"),  # PQ codes must divide the dimension
])
def test_auto_resolves_by_size(count: int, dim: int, expected: str) -> None:
    assert auto_spec(count, dim) == expected
    indexes.new_index(expected, dim)  # and FAISS can build what it names


def test_planned_spec_answers_exactly_until_an_index_can_be_trained() -> None:
    assert planned_spec("IVF64,Flat", 63, 16) == "Flat"
    assert planned_spec("IVF64,Flat", 64, 16) == "IVF64,Flat"
    assert planned_spec("HNSW32", 1, 16) == "HNSW32"
    assert planned_spec("auto", 10, 16) == "Flat"


def _vectors(n: int, dim: int = 16) -> np.ndarray:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_an_auto_index_records_what_it_was_built_as(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(indexes, "AUTO_FLAT_BELOW", 100)
    small = VectorIndex.build("auto", 16, np.arange(50), _vectors(50))
    assert (small.spec, small.built_spec, small.outgrown) == ("auto", "Flat", False)
    large = VectorIndex.build("auto", 16, np.arange(150), _vectors(150))
    assert (large.spec, large.built_spec) == ("auto", "HNSW32")
    large.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and (loaded.spec, loaded.built_spec) == ("auto", "HNSW32")
    small.add(np.arange(50, 150), _vectors(150)[50:])
    assert small.outgrown  # grown past the threshold: due for a rebuild
    large.remove(np.arange(100))
    assert not large.outgrown  # shrinking below it never asks for one


def test_an_auto_collection_is_rebuilt_once_when_it_crosses_a_threshold(
        sample_copy_dir: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        chunks = collection.info()["chunks"]
        monkeypatch.setattr(indexes, "AUTO_FLAT_BELOW", chunks + 2)
        collection.set_index("auto")
        info = collection.info()
        assert (info["index"], info["index_in_use"]) == ("auto", "Flat")
        before = collection.store.index
        collection.add(NEW[:1])
        assert collection.store.index is before  # an add below the threshold is applied in place
        collection.add(NEW[1:])
        after = collection.store.index
        assert after is not before and after.built_spec == "HNSW32"
        assert collection.search(NEW[2]["text"], k=1, mode="dense")[0].id == NEW[2]["id"]
        collection.add([{"id": "one-more", "text": "Tides follow the moon"}])
        assert collection.store.index is after  # past the threshold, adds are applied in place again
        collection.delete([item["id"] for item in NEW])
        assert collection.store.index.built_spec == "HNSW32"  # never rebuilt down
    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        info = reopened.info()
        assert (info["index"], info["index_in_use"], info["index_agrees"]) == ("auto", "HNSW32", True)


def test_auto_is_a_valid_spec_for_a_new_collection(tmp_path: Path, encoder: Encoder) -> None:
    with Collection.create(tmp_path / "c", encoder=encoder, index="auto") as collection:
        collection.add(NEW)
        info = collection.info()
        assert (info["index"], info["index_in_use"]) == ("auto", "Flat")
