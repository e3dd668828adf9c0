"""Filtered vector search: the exact pre-filter and the filter inside FAISS agree with exact search on planted
data; the search-time knobs (``ef_search``, ``nprobe``) reach FAISS; a filter's ids are cached per generation."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

import selfsim.store.vectors as vectors_module
from selfsim import Collection
from selfsim.config import SearchConfig
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError
from selfsim.store.vectors import VectorIndex

DIM = 16
IDS = np.arange(10_000, 13_000, dtype=np.int64)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def _planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectors, queries and an allowed set where each query's nearest vector is *not* allowed and an allowed
    vector sits right behind it, so a filter that leaks or loses shows up at rank 1."""
    rng = np.random.default_rng(0)
    vectors = _unit(rng.standard_normal((len(IDS), DIM)))
    queries = _unit(rng.standard_normal((8, DIM)))
    allowed_rows = rng.choice(len(IDS), 40, replace=False)
    for number, query in enumerate(queries):
        vectors[number] = _unit(query + 0.01 * rng.standard_normal(DIM))  # the nearest: not allowed
        vectors[allowed_rows[number]] = _unit(query + 0.05 * rng.standard_normal(DIM))
    return vectors, queries, np.sort(IDS[allowed_rows])


def _exact(vectors: np.ndarray, query: np.ndarray, allowed: np.ndarray, k: int) -> list[int]:
    rows = np.flatnonzero(np.isin(IDS, allowed))
    scores = vectors[rows] @ query
    return IDS[rows][np.argsort(-scores, kind="stable")][:k].tolist()


def _force(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    below, per_root = (10**9, 0.0) if path == "pre-filter" else (-1, -1.0)
    monkeypatch.setattr(vectors_module, "PREFILTER_BELOW", below)
    monkeypatch.setattr(vectors_module, "PREFILTER_PER_ROOT", per_root)


@pytest.mark.parametrize("path", ["pre-filter", "selector"])
@pytest.mark.parametrize("spec", ["Flat", "HNSW32", "IVF8,Flat", "IVF8,SQ8,RFlat"])
def test_both_filter_paths_match_exact_search(spec: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, queries, allowed = _planted()
    index = VectorIndex.build(spec, DIM, IDS, vectors)
    _force(monkeypatch, path)
    if path == "pre-filter" and spec.startswith("IVF8,Flat"):
        assert not index.prefilters(len(allowed))  # no uncompressed store to read: always inside FAISS
    scores, found = index.search(queries, 10, allowed)
    for row, query in enumerate(queries):
        expected = _exact(vectors, query, allowed, 10)
        assert found[row][0] == expected[0]  # the planted allowed neighbour, never the closer forbidden one
        assert set(found[row][found[row] >= 0].tolist()) <= set(allowed.tolist())
        if path == "pre-filter" or spec == "Flat":
            assert found[row].tolist() == expected
            assert scores[row] == pytest.approx(np.sort(vectors[np.isin(IDS, expected)] @ query)[::-1], abs=1e-5)


def test_the_pre_filter_pads_when_fewer_are_allowed_than_asked() -> None:
    vectors, queries, allowed = _planted()
    index = VectorIndex.build("HNSW32", DIM, IDS, vectors)
    scores, found = index.search(queries[0], 50, allowed[:3])
    assert sorted(found[0][:3].tolist()) == sorted(allowed[:3].tolist())
    assert found[0][3:].tolist() == [-1] * 47 and np.isneginf(scores[0][3:]).all()


def test_small_allowed_sets_take_the_pre_filter() -> None:
    vectors, _, _ = _planted()
    flat = VectorIndex.build("Flat", DIM, IDS, vectors)
    limit = max(vectors_module.PREFILTER_BELOW, int(vectors_module.PREFILTER_PER_ROOT * np.sqrt(len(IDS))))
    assert flat.prefilters(limit) and not flat.prefilters(limit + 1)
    assert not VectorIndex.build("IVF8,Flat", DIM, IDS, vectors).prefilters(1)


def test_ef_search_reaches_faiss() -> None:
    vectors, queries, _ = _planted()
    index = VectorIndex.build("HNSW32", DIM, IDS, vectors)
    assert index.knobs == {"ef_search": 384}
    visited = {}
    for ef in (16, 1200):
        faiss.cvar.hnsw_stats.reset()
        index.search(queries, 10, ef_search=ef)
        visited[ef] = faiss.cvar.hnsw_stats.ndis
    assert visited[1200] > 3 * visited[16]
    faiss.cvar.hnsw_stats.reset()
    index.search(queries, 10)
    assert visited[16] < faiss.cvar.hnsw_stats.ndis < visited[1200]  # the default lies between


@pytest.mark.parametrize("spec", ["IVF32,Flat", "IVF32,SQ8,RFlat", "IVF32_HNSW8,Flat"])
def test_nprobe_reaches_faiss(spec: str) -> None:
    vectors, queries, _ = _planted()
    index = VectorIndex.build(spec, DIM, IDS, vectors)
    assert index.knobs["nprobe"] == 32
    for nprobe in (1, 5):
        faiss.cvar.indexIVF_stats.reset()
        index.search(queries, 10, nprobe=nprobe)
        assert faiss.cvar.indexIVF_stats.nq == len(queries)
        assert faiss.cvar.indexIVF_stats.nlist == nprobe * len(queries)


def test_a_selective_filter_inside_faiss_widens_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, queries, allowed = _planted()
    index = VectorIndex.build("IVF32,Flat", DIM, IDS, vectors)
    faiss.cvar.indexIVF_stats.reset()
    index.search(queries[0], 10, allowed, nprobe=2)  # 40 of 3,000 allowed: nprobe x 0.1 / share, at most nlist
    assert faiss.cvar.indexIVF_stats.nlist == 15


@pytest.mark.parametrize("spec", ["Flat", "HNSW32", "IVF8,Flat"])
def test_knobs_an_index_lacks_are_ignored(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, queries, allowed = _planted()
    index = VectorIndex.build(spec, DIM, IDS, vectors)
    _force(monkeypatch, "selector")
    for restrict in (None, allowed):
        _, found = index.search(queries, 5, restrict, ef_search=64, nprobe=8)
        assert (found[:, 0] >= 0).all()


def test_search_config_validates_and_passes_the_knobs(sample_copy_dir: Path, encoder: Encoder) -> None:
    with pytest.raises(ConfigError, match="ef_search"):
        SearchConfig(ef_search=0)
    with pytest.raises(ConfigError, match="nprobe"):
        SearchConfig(nprobe=True)  # type: ignore[arg-type]
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        collection.set_index("IVF4,Flat")
        for nprobe in (1, 3):
            faiss.cvar.indexIVF_stats.reset()
            collection.search("decompress a gzip file", k=3, mode="dense", config=SearchConfig(nprobe=nprobe))
            assert faiss.cvar.indexIVF_stats.nlist == nprobe
        collection.set_index("HNSW32")
        faiss.cvar.hnsw_stats.reset()
        collection.search("decompress a gzip file", k=3, mode="dense", config=SearchConfig(ef_search=8))
        few = faiss.cvar.hnsw_stats.ndis
        faiss.cvar.hnsw_stats.reset()
        collection.search("decompress a gzip file", k=3, mode="dense", config=SearchConfig(ef_search=100))
        assert faiss.cvar.hnsw_stats.ndis > few


@pytest.mark.parametrize("spec", ["Flat", "HNSW32"])
def test_filtered_collection_search_matches_exact(sample_copy_dir: Path, encoder: Encoder, spec: str) -> None:
    area = {"area": "compression and archives"}
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        exact = [hit.id for hit in collection.search("read a compressed file", k=8, mode="dense", filter=area)]
        collection.set_index(spec)
        got = [hit.id for hit in collection.search("read a compressed file", k=8, mode="dense", filter=area)]
        assert got == exact and len(got) == 8


def test_a_filters_ids_are_cached_until_the_next_write(sample_copy: Collection) -> None:
    store = sample_copy.store
    area = {"area": "compression and archives"}
    first = store.chunk_ids_matching(area)
    assert store.chunk_ids_matching(area) is first  # the same array: served from the cache
    outsider = next(item for item in sample_copy.items() if item.metadata["area"] != area["area"])
    sample_copy.update_metadata({outsider.id: {"area": area["area"]}})  # a write: a new generation
    after = store.chunk_ids_matching(area)
    assert len(after) == len(first) + 1
    assert sample_copy.search("anything", k=100, mode="dense", filter=area)[0].metadata["area"] == area["area"]
