"""Deletes on indexes that cannot remove (HNSW, refined IVF-PQ): tombstones that no search returns, saved with
the index, not counted as the index's vectors, and cleared by a rebuild once they pile up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.store.vectors import COMPACT_FRACTION, MANIFEST, VectorIndex

DIM = 16


def _unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


IDS = np.arange(5000, 5400, dtype=np.int64)
VECTORS = _unit_vectors(len(IDS))
QUERIES = VECTORS[::7]  # each query's own vector is its nearest neighbour


def _returned(index: VectorIndex, allowed: np.ndarray | None = None) -> set[int]:
    """Every id any query finds when asking for all of them."""
    _, ids = index.search(QUERIES, len(IDS), allowed)
    return set(ids[ids >= 0].tolist())


@pytest.mark.parametrize("spec", ["HNSW32", "IVF4,SQ8,RFlat"])
def test_removed_ids_never_come_back(spec: str) -> None:
    index = VectorIndex.build(spec, DIM, IDS, VECTORS)
    assert not index.can_remove
    removed = IDS[::7][:20]  # among them the nearest neighbour of 20 queries
    index.remove(np.concatenate([removed, [999_999]]))  # an id the index never held is ignored
    assert index.deleted == len(removed) and index.size == len(IDS) - len(removed)
    assert sorted(index.ids().tolist()) == sorted(set(IDS.tolist()) - set(removed.tolist()))
    assert not _returned(index) & set(removed.tolist())
    assert not _returned(index, IDS[::3]) & set(removed.tolist())  # filtered, through either path
    assert not _returned(index, IDS[:300]) & set(removed.tolist())
    index.remove(removed)  # removing again changes nothing
    assert index.deleted == len(removed)
    with pytest.raises(ValueError, match="rebuild"):
        index.add(removed[:1], VECTORS[:1])


def test_tombstones_are_saved_and_loaded_with_the_index(tmp_path: Path) -> None:
    index = VectorIndex.build("HNSW32", DIM, IDS, VECTORS, generation=4)
    removed = IDS[::7][:20]
    index.remove(removed)
    assert index.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["deleted"] == 20 and (tmp_path / manifest["deleted_file"]).is_file()
    assert manifest["size"] == len(IDS) - 20
    loaded = VectorIndex.load(tmp_path)
    assert loaded is not None and loaded.deleted == 20 and loaded.size == len(IDS) - 20
    assert not _returned(loaded) & set(removed.tolist())
    # a later save without tombstones leaves no stale tombstone file behind
    VectorIndex.build("HNSW32", DIM, IDS, VECTORS, generation=5).save(tmp_path)
    assert not list(tmp_path.glob("*.deleted.npy"))


def test_a_missing_tombstone_file_means_the_index_is_rebuilt(tmp_path: Path) -> None:
    index = VectorIndex.build("HNSW32", DIM, IDS, VECTORS, generation=1)
    index.remove(IDS[:5])
    index.save(tmp_path)
    next(tmp_path.glob("*.deleted.npy")).unlink()
    assert VectorIndex.load(tmp_path) is None  # never an index whose deletes came back


def test_compaction_is_wanted_past_the_fraction() -> None:
    index = VectorIndex.build("HNSW32", DIM, IDS, VECTORS)
    limit = int(COMPACT_FRACTION * len(IDS))
    index.remove(IDS[:limit])
    assert not index.wants_compaction
    index.remove(IDS[limit:limit + 1])
    assert index.wants_compaction


def _hnsw_copy(directory: Path, encoder: Encoder) -> Collection:
    collection = Collection.open(directory, encoder=encoder)
    collection.set_index("HNSW32")
    return collection


def _everything(collection: Collection, vector: np.ndarray) -> set[int]:
    return {hit.key for hit in collection.store.nearest_items(vector, len(collection) + 10)}


def test_deletes_on_an_hnsw_collection_never_come_back(sample_copy_dir: Path, encoder: Encoder) -> None:
    with _hnsw_copy(sample_copy_dir, encoder) as collection:
        store = collection.store
        ids = [item.id for item in collection.items()]
        victims = ids[:6]
        vectors = {i: store.item_vector(i) for i in victims}
        keys = {store.get(i).key for i in victims}  # type: ignore[union-attr]
        built = store.index
        assert collection.delete(victims) == []
        assert store.index is built  # no rebuild: the deleted vectors became tombstones
        assert built.deleted == len(victims) and built.size == len(ids) - len(victims)
        for vector in vectors.values():
            assert not _everything(collection, vector) & keys
        info = collection.info()
        assert info["index_agrees"] and info["index_vectors"] == len(ids) - len(victims)

    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        assert reopened.store.index.deleted == len(victims)  # loaded with its tombstones, not rebuilt
        for vector in vectors.values():
            assert not _everything(reopened, vector) & keys
        assert reopened.check().ok

        # more deletes, until the tombstones pass the fraction: the index is rebuilt without them
        more = ids[len(victims):len(victims) + int(COMPACT_FRACTION * len(ids)) + 1]
        reopened.delete(more)
        assert reopened.store.index.deleted == 0
        assert reopened.store.index.size == len(reopened)
        for vector in vectors.values():
            assert not _everything(reopened, vector) & keys
        assert reopened.info()["index_in_use"] == "HNSW32"


def test_a_delete_by_another_handle_never_comes_back(sample_copy_dir: Path, encoder: Encoder) -> None:
    _hnsw_copy(sample_copy_dir, encoder).close()
    with Collection.open(sample_copy_dir, encoder=encoder) as writer, \
            Collection.open(sample_copy_dir, encoder=encoder) as reader:
        victim = next(iter(reader.items()))
        vector = reader.store.item_vector(victim.id)
        assert victim.key in _everything(reader, vector)  # the reader's index is loaded
        writer.delete([victim.id])
        assert victim.key not in _everything(reader, vector)
        assert reader.store.index.deleted == 1
