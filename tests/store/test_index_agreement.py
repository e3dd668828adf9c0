"""The vector index never drifts from the store: no ghosts, no duplicates, reads in one snapshot,
and ``check`` finds (and with ``repair`` fixes) an index that disagrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.store import collection as store_module
from selfsim.store.database import Database


@pytest.mark.parametrize("retention", [store_module.TOMBSTONE_RETENTION, 0])
def test_a_handle_that_catches_up_after_another_pruned_leaves_no_ghosts(
        sample_copy_dir: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch, retention: int) -> None:
    monkeypatch.setattr(store_module, "TOMBSTONE_RETENTION", retention)
    first = Collection.open(sample_copy_dir, encoder=encoder)
    first.search("gzip", k=1, mode="dense")  # the first handle's index is loaded now
    victim = next(iter(first)).id
    with Collection.open(sample_copy_dir, encoder=encoder) as second:
        second.delete([victim])  # closing saves the index and may forget the deletion
    agreement = first.store.agreement()  # the first handle catches up ...
    first.close()  # ... and saves its index
    assert agreement.agrees and agreement.ghosts == 0, agreement
    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        after = reopened.store.agreement()
        assert after.agrees and after.vectors == after.chunks == reopened.store.count_chunks()
        assert victim not in [hit.id for hit in reopened.search("gzip", k=len(reopened), mode="dense")]


def test_a_snapshot_sees_one_generation_while_another_connection_writes(sample_copy_dir: Path,
                                                                        encoder: Encoder) -> None:
    reader = Database.open(sample_copy_dir / "collection.sqlite")
    try:
        with reader.snapshot():
            before = reader.generation
            chunks = len(reader.chunk_ids())
            with Collection.open(sample_copy_dir, encoder=encoder) as writer:
                writer.upsert([{"id": "new-one", "text": "a brand new item about zlib streams"}])
            assert reader.generation == before and len(reader.chunk_ids()) == chunks
        assert reader.generation == before + 1
    finally:
        reader.close()


def test_check_finds_ghosts_and_duplicates_and_repair_fixes_them(sample_copy_dir: Path, encoder: Encoder) -> None:
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        index = collection.store.index
        assert collection.store.check().ok
        ghost = np.ones((1, index.dim), dtype=np.float32) / np.sqrt(index.dim)
        index.add(np.array([10**9], dtype=np.int64), ghost)  # a vector no chunk owns
        first = index.ids()[:1]
        index.add(first, ghost)  # a second copy of a chunk's id
        report = collection.store.check()
        assert not report.ok and report.index.ghosts == 1 and report.index.duplicates == 1
        assert report.repaired is None
        repaired = collection.store.check(repair=True)
        assert repaired.ok and repaired.repaired is not None and repaired.repaired.agrees
    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        assert reopened.store.check().ok  # the repaired index was saved


def test_info_reports_index_agreement(sample: Collection) -> None:
    info = sample.info()
    assert info["index_vectors"] == info["chunks"] and info["index_agrees"] is True
    assert info["index_ghosts"] == info["index_missing"] == info["index_duplicates"] == 0
