"""The compressed index on planted clustered data: recall against exact search, re-ranking, the verbs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim.errors import InputError, NotFoundError
from selfsim.objectives.vector_quantisation import VQConfig
from selfsim.store.quantised import QuantisedIndex

CONFIG = VQConfig(codebooks=4, codes=32, epochs=1, rotation_epochs=2, batch_size=512, kmeans_iterations=8)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, vectors, queries)``: 1,500 unit vectors in 32 dimensions around 30 centres, ids 0..1499, and 40
    held-out queries drawn the same way."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 32))
    points = _unit(centres[rng.integers(0, 30, 1540)] + rng.normal(0, 0.35, (1540, 32)))
    return np.arange(1500), points[:1500], points[1500:]


@pytest.fixture(scope="module")
def index(planted: tuple[np.ndarray, np.ndarray, np.ndarray]) -> QuantisedIndex:
    ids, vectors, _ = planted
    return QuantisedIndex.build(ids, vectors, CONFIG, fetch=vectors)


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found.tolist(), exact.tolist(), strict=True)]))


def test_re_ranking_recovers_the_exact_neighbours(planted, index: QuantisedIndex) -> None:
    ids, vectors, queries = planted
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    raw_scores, raw = index.search(queries, k=10)
    scores, reranked = index.search(queries, k=10, rerank=100)
    assert raw.shape == reranked.shape == (40, 10) and raw.dtype == np.int64 and scores.dtype == np.float32
    raw_recall, reranked_recall = _recall(raw, exact), _recall(reranked, exact)
    assert reranked_recall >= 0.97 and reranked_recall > raw_recall
    # Re-ranked scores are the exact inner products, best first; raw ones are the codes' approximation.
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, reranked, axis=1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    decoded = index.quantiser.decode(index.codes)
    np.testing.assert_allclose(raw_scores, np.take_along_axis(queries @ decoded.T, raw, axis=1), atol=1e-4)


def test_memory_is_the_codes_and_the_id(index: QuantisedIndex) -> None:
    memory = index.memory()
    assert memory == {**memory, "vectors": 1500, "code_bytes_per_vector": 4, "bytes_per_vector": 12,
                      "bytes": 18_000}
    assert index.report is not None and index.report.bytes_per_vector == 4


def test_a_fetch_function_gives_the_same_answers_as_an_array(planted, index: QuantisedIndex) -> None:
    _, vectors, queries = planted
    asked: list[int] = []

    def fetch(wanted: np.ndarray) -> np.ndarray:
        asked.append(len(wanted))
        return vectors[wanted]

    by_array = index.search(queries[:5], k=5, rerank=20)
    by_function = index.search(queries[:5], k=5, rerank=20, vectors=fetch)
    np.testing.assert_array_equal(by_array[1], by_function[1])
    assert asked and asked[0] <= 5 * 20  # only the candidates are fetched, once each


def test_remove_add_and_padding(planted) -> None:
    ids, vectors, queries = planted
    index = QuantisedIndex.build(ids, vectors, CONFIG, fetch=vectors)
    _, before = index.search(queries, k=10, rerank=50)
    gone = np.unique(before[:, :3])
    assert index.remove(np.append(gone, 99_999)) == len(gone) and index.ntotal == 1500 - len(gone)
    _, after = index.search(queries, k=10, rerank=50)
    assert not np.isin(after, gone).any()
    index.add(gone[:2], vectors[gone[:2]])  # back again; adding again replaces rather than duplicates
    index.add(gone[:2], vectors[gone[:2]])
    assert index.ntotal == 1500 - len(gone) + 2 and np.isin(index.search(queries, 10, 50)[1], gone[:2]).any()
    index.remove(index.ids[3:])
    scores, found = index.search(queries[:2], k=5, rerank=10)
    assert found.shape == (2, 5) and (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert set(found[0, :3].tolist()) == set(index.ids.tolist())


def test_save_and_load_give_the_same_answers(tmp_path: Path, planted, index: QuantisedIndex) -> None:
    _, vectors, queries = planted
    index.save(tmp_path / "index")
    loaded = QuantisedIndex.load(tmp_path / "index", vectors)
    for rerank in (0, 30):
        for original, reread in zip(index.search(queries, 10, rerank), loaded.search(queries, 10, rerank), strict=True):
            np.testing.assert_array_equal(original, reread)
    assert loaded.memory() == index.memory()
    with pytest.raises(NotFoundError, match="holds no quantised index"):
        QuantisedIndex.load(tmp_path / "missing")


def test_mistakes_end_in_one_clear_sentence(planted, index: QuantisedIndex) -> None:
    _, vectors, queries = planted
    bare = QuantisedIndex(index.quantiser)
    bare.add(np.arange(10), vectors[:10])
    with pytest.raises(InputError, match="re-ranking needs the float vectors"):
        bare.search(queries, k=3, rerank=10)
    with pytest.raises(InputError, match="ids to add repeat"):
        bare.add(np.array([1, 1]), vectors[:2])
    with pytest.raises(InputError, match="one vector per id"):
        bare.add(np.arange(3), vectors[:2])
    with pytest.raises(InputError, match=r"\(items, 32\)"):
        bare.search(np.zeros((1, 8), dtype=np.float32), k=3)
    short = QuantisedIndex(index.quantiser, vectors[:5])  # rows for ids 0-4 only
    short.add(np.arange(10), vectors[:10])
    with pytest.raises(InputError, match="row i is the vector of id i"):
        short.search(queries, k=3, rerank=10)
