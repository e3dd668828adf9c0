"""VectorIndex: FAISS indexes keyed by chunk id, filtered search, training fallback, atomic save/load."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from selfsim.errors import ConfigError
from selfsim.store.vectors import LOCK, MANIFEST, VectorIndex

DIM = 16


def _unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> list[int]:
    mask = np.ones(len(ids), dtype=bool) if allowed is None else np.isin(ids, allowed)
    scores = vectors[mask] @ query
    return ids[mask][np.argsort(-scores, kind="stable")][:k].tolist()


IDS = np.arange(1000, 1300, dtype=np.int64)  # chunk ids need not start at 0
VECTORS = _unit_vectors(len(IDS))
QUERY = _unit_vectors(1, seed=99)[0]


@pytest.mark.parametrize("spec", ["Flat", "HNSW32", "IVF4,Flat"])
def test_search_returns_ids_best_first(spec: str) -> None:
    index = VectorIndex.build(spec, DIM, IDS, VECTORS, generation=7)
    assert (index.size, index.generation, index.built_spec) == (len(IDS), 7, spec)
    scores, ids = index.search(QUERY, 10)
    assert scores.shape == ids.shape == (1, 10)
    assert list(scores[0]) == sorted(scores[0], reverse=True)
    expected = _exact_top(VECTORS, IDS, QUERY, 10)
    assert ids[0][0] == expected[0]
    assert len(set(ids[0].tolist()) & set(expected)) >= 8


@pytest.mark.parametrize("spec", ["Flat", "HNSW32", "IVF4,Flat"])
def test_search_restricted_to_allowed_ids(spec: str) -> None:
    index = VectorIndex.build(spec, DIM, IDS, VECTORS)
    allowed = IDS[::25]  # 12 of 300
    scores, ids = index.search(QUERY, 5, allowed)
    found = ids[0][ids[0] >= 0].tolist()
    assert found and set(found) <= set(allowed.tolist())
    if spec == "Flat":
        assert found == _exact_top(VECTORS, IDS, QUERY, 5, allowed)


def test_asking_for_more_than_there_is_pads_with_minus_one() -> None:
    index = VectorIndex.build("Flat", DIM, IDS[:3], VECTORS[:3])
    scores, ids = index.search(QUERY, 5)
    assert ids[0].tolist()[3:] == [-1, -1]
    empty = VectorIndex.build("Flat", DIM, IDS[:0], VECTORS[:0])
    scores, ids = empty.search(QUERY, 4)
    assert ids.tolist() == [[-1, -1, -1, -1]] and np.isneginf(scores).all()


def test_add_and_remove() -> None:
    index = VectorIndex.build("Flat", DIM, IDS[:100], VECTORS[:100])
    index.add(IDS[100:], VECTORS[100:])
    assert index.size == len(IDS)
    best = _exact_top(VECTORS, IDS, QUERY, 1)[0]
    assert index.can_remove
    index.remove(np.array([best, 999_999], dtype=np.int64))  # an absent id is ignored
    assert index.size == len(IDS) - 1
    _, ids = index.search(QUERY, 300)
    assert best not in ids[0].tolist()


def test_hnsw_cannot_remove_in_place() -> None:
    assert not VectorIndex.build("HNSW32", DIM, IDS, VECTORS).can_remove


def test_an_untrainable_spec_answers_exactly_until_there_are_enough_vectors() -> None:
    small = VectorIndex.build("IVF64,Flat", DIM, IDS[:20], VECTORS[:20])
    assert (small.spec, small.built_spec, small.wants_rebuild) == ("IVF64,Flat", "Flat", True)
    assert not small.trainable_with(20) and small.trainable_with(64)
    _, ids = small.search(QUERY, 3)
    assert ids[0].tolist() == _exact_top(VECTORS[:20], IDS[:20], QUERY, 3)
    trained = VectorIndex.build("IVF4,Flat", DIM, IDS, VECTORS)
    assert (trained.built_spec, trained.wants_rebuild) == ("IVF4,Flat", False)


@pytest.mark.parametrize("spec", ["Bogus", "IVF,Flat", ""])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="is not an index FAISS can build"):
        VectorIndex.check_spec(spec, DIM)


@pytest.mark.parametrize("spec", ["Flat", "HNSW32", "IVF4,Flat"])
def test_save_and_load_round_trip(tmp_path: Path, spec: str) -> None:
    index = VectorIndex.build(spec, DIM, IDS, VECTORS, generation=3)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None
    assert (loaded.spec, loaded.built_spec, loaded.dim, loaded.generation, loaded.size) == (
        spec, spec, DIM, 3, len(IDS))
    assert loaded.search(QUERY, 5)[1].tolist() == index.search(QUERY, 5)[1].tolist()
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["generation"] == 3 and (tmp_path / manifest["file"]).is_file()


def test_a_newer_save_replaces_the_older_file(tmp_path: Path) -> None:
    index = VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=1)
    index.save(tmp_path)
    index.generation = 2
    index.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir() if p.name != LOCK)
    assert files[0] == MANIFEST and len(files) == 2 and files[1].startswith("vectors-000000000002-")
    assert VectorIndex.load(tmp_path).generation == 2  # type: ignore[union-attr]


def test_an_older_save_never_replaces_a_newer_one(tmp_path: Path) -> None:
    newer = VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=5)
    assert newer.save(tmp_path)
    older = VectorIndex.build("Flat", DIM, IDS[:2], VECTORS[:2], generation=4)
    assert not older.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and loaded.generation == 5 and loaded.size == len(IDS)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("vectors-")]) == 1


def test_a_save_removes_what_a_dead_save_left_behind(tmp_path: Path) -> None:
    VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=1).save(tmp_path)
    (tmp_path / "vectors-000000000002-999-dead.faiss.tmp").write_bytes(b"half written")
    (tmp_path / f"{MANIFEST}.999-dead.tmp").write_text("{")
    VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=3).save(tmp_path)
    assert sorted(p.name.split("-")[1] if p.name.startswith("vectors-") else p.name
                  for p in tmp_path.iterdir()) == sorted([MANIFEST, LOCK, "000000000003"])


def _save_many(directory: str, worker: int) -> int:
    rng = np.random.default_rng(worker)
    for step in range(40):
        generation = int(rng.integers(1, 1000))
        VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=generation).save(Path(directory))
        loaded = VectorIndex.load(Path(directory))
        assert loaded is not None and loaded.size == len(IDS), (worker, step)
    return worker


def test_saves_from_many_processes_never_fail_or_lose_the_index(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        assert sorted(pool.map(_save_many, [str(tmp_path)] * 4, range(4))) == [0, 1, 2, 3]
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("vectors-")] == [manifest["file"]]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("spec", ["Flat", "HNSW8", "IVF4,Flat"])
def test_ids_lists_what_the_index_holds(spec: str) -> None:
    index = VectorIndex.build(spec, DIM, IDS, VECTORS)
    assert sorted(index.ids().tolist()) == sorted(IDS.tolist())


def test_missing_or_corrupt_indexes_load_as_none(tmp_path: Path) -> None:
    assert VectorIndex.load(tmp_path / "nowhere") is None
    index = VectorIndex.build("Flat", DIM, IDS, VECTORS, generation=1)
    index.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (tmp_path / manifest["file"]).write_bytes(b"not a faiss index")
    assert VectorIndex.load(tmp_path) is None
    (tmp_path / MANIFEST).write_text("{ not json")
    assert VectorIndex.load(tmp_path) is None
