"""The vector index follows the database: catch-up on open, rebuild of a lost index, writes seen
across Collection objects, and index spec changes."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError
from selfsim.store.vectors import MANIFEST, VectorIndex

NEW = [
    {"id": "new-lighthouse", "text": "The lighthouse keeper trims the lamp wick before the storm", "area": "new"},
    {"id": "new-glacier", "text": "A glacier carves a deep valley over thousands of years", "area": "new"},
]
QUERIES = ["decompress a gzip file", "start a new thread", "parse an email message", "hash a password"]


def _dense(collection: Collection, query: str, k: int = 5) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in collection.search(query, k=k, mode="dense")]


def _same(got: Any, expected: Any) -> bool:
    """Same ids in the same order, scores equal up to float noise (for dicts of such lists too)."""
    if isinstance(got, dict):
        return got.keys() == expected.keys() and all(_same(got[key], expected[key]) for key in got)
    return ([i for i, _ in got] == [i for i, _ in expected]
            and [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-5))


def _saved_generation(directory: Path) -> int:
    saved = VectorIndex.load(directory / "index")
    assert saved is not None
    return saved.generation


def test_an_older_saved_index_is_brought_up_to_date(sample_copy_dir: Path, encoder: Encoder,
                                                    tmp_path: Path) -> None:
    index_dir = sample_copy_dir / "index"
    old_index = tmp_path / "old-index"
    shutil.copytree(index_dir, old_index)
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        victim = collection.search("decompress a gzip file", k=1, mode="dense")[0].id
        collection.add(NEW)
        assert collection.delete([victim]) == []
        generation = collection.info()["generation"]
        expected = {query: _dense(collection, query) for query in QUERIES}
    shutil.rmtree(index_dir)
    shutil.copytree(old_index, index_dir)
    assert _saved_generation(sample_copy_dir) < generation  # the saved index is older than the store

    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        assert reopened.info()["generation"] == generation
        for item in NEW:
            assert reopened.search(item["text"], k=1, mode="dense")[0].id == item["id"]
        everything = [hit.id for hit in reopened.search("decompress a gzip file", k=len(reopened) + 5,
                                                        mode="dense")]
        assert victim not in everything
        assert len(everything) == len(reopened)
        assert _same({query: _dense(reopened, query) for query in QUERIES}, expected)
    assert _saved_generation(sample_copy_dir) == generation  # and the caught-up index was saved


@pytest.mark.parametrize("damage", ["delete directory", "corrupt vectors file", "delete vectors file",
                                    "corrupt manifest"])
def test_a_missing_or_corrupt_index_is_rebuilt(sample_copy_dir: Path, sample: Collection, encoder: Encoder,
                                               damage: str) -> None:
    expected = {query: _dense(sample, query) for query in QUERIES}
    index_dir = sample_copy_dir / "index"
    vectors_files = list(index_dir.glob("vectors-*.faiss"))
    assert len(vectors_files) == 1
    if damage == "delete directory":
        shutil.rmtree(index_dir)
    elif damage == "corrupt vectors file":
        vectors_files[0].write_bytes(b"\x00garbage" * 100)
    elif damage == "delete vectors file":
        vectors_files[0].unlink()
    else:
        (index_dir / MANIFEST).write_text('{"file": ')

    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        assert _same({query: _dense(collection, query) for query in QUERIES}, expected)
        assert collection.info()["index_in_use"] == "Flat"
        generation = collection.info()["generation"]
    assert _saved_generation(sample_copy_dir) == generation  # rebuilt and saved again


def test_writes_of_one_collection_object_are_seen_by_another(sample_copy_dir: Path, encoder: Encoder) -> None:
    lighthouse = NEW[0]
    with Collection.open(sample_copy_dir, encoder=encoder) as writer, \
            Collection.open(sample_copy_dir, encoder=encoder) as reader:
        assert reader.search(lighthouse["text"], k=1, mode="dense")[0].id != lighthouse["id"]  # index loaded
        writer.add([lighthouse])
        assert lighthouse["id"] in reader and len(reader) == len(writer)
        assert reader.search(lighthouse["text"], k=1, mode="dense")[0].id == lighthouse["id"]
        assert reader.search("lighthouse keeper", k=1, mode="keyword")[0].id == lighthouse["id"]

        writer.upsert([{"id": lighthouse["id"], "text": NEW[1]["text"]}])
        assert reader.search(NEW[1]["text"], k=1, mode="dense")[0].id == lighthouse["id"]
        assert reader.search("lighthouse keeper", k=3, mode="keyword") == []
        assert lighthouse["id"] not in [h.id for h in reader.search(lighthouse["text"], k=3, mode="dense")]

        writer.delete([lighthouse["id"]])
        assert lighthouse["id"] not in reader
        every = reader.search(NEW[1]["text"], k=len(reader) + 5, mode="dense")
        assert lighthouse["id"] not in [hit.id for hit in every] and len(every) == len(reader)

        # and the other way round
        reader.add([NEW[1]])
        assert writer.search(NEW[1]["text"], k=1, mode="dense")[0].id == NEW[1]["id"]


def test_a_writer_that_never_saved_its_index_is_caught_up_by_the_next_open(sample_copy_dir: Path,
                                                                           encoder: Encoder) -> None:
    writer = Collection.open(sample_copy_dir, encoder=encoder)
    try:
        victim = writer.search("start a new thread", k=1, mode="dense")[0].id
        writer.add(NEW)
        writer.delete([victim])
        # a second collection opened now finds a saved index older than the database
        with Collection.open(sample_copy_dir, encoder=encoder) as fresh:
            assert _saved_generation(sample_copy_dir) < fresh.info()["generation"]
            for item in NEW:
                assert fresh.search(item["text"], k=1, mode="dense")[0].id == item["id"]
            everything = fresh.search("start a new thread", k=len(fresh) + 5, mode="dense")
            assert victim not in [hit.id for hit in everything] and len(everything) == len(fresh)
    finally:
        writer.close()


def test_set_index_changes_the_spec_and_search_still_works(sample_copy_dir: Path, sample: Collection,
                                                          encoder: Encoder) -> None:
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        collection.set_index("HNSW32")
        info = collection.info()
        assert (info["index"], info["index_in_use"]) == ("HNSW32", "HNSW32")
        for query in QUERIES:
            assert _same(_dense(collection, query, k=1), _dense(sample, query, k=1))
    with Collection.open(sample_copy_dir, encoder=encoder) as reopened:
        assert reopened.info()["index"] == "HNSW32"
        assert _same(_dense(reopened, QUERIES[0], k=3), _dense(sample, QUERIES[0], k=3))
        reopened.set_index("Flat")
        assert reopened.info()["index_in_use"] == "Flat"
        assert _same({q: _dense(reopened, q) for q in QUERIES}, {q: _dense(sample, q) for q in QUERIES})


def test_an_ivf_spec_on_a_small_collection_falls_back_to_exact_search(sample_copy: Collection,
                                                                      sample: Collection) -> None:
    sample_copy.set_index("IVF256,Flat")
    info = sample_copy.info()
    assert (info["index"], info["index_in_use"]) == ("IVF256,Flat", "Flat")
    assert _same({q: _dense(sample_copy, q) for q in QUERIES}, {q: _dense(sample, q) for q in QUERIES})


def test_an_ivf_index_is_trained_once_the_collection_is_big_enough(make_collection: Callable[..., Collection],
                                                                   sample_records: list[dict[str, object]]) -> None:
    collection = make_collection(sample_records[:5], index="IVF8,Flat")
    assert collection.info()["index_in_use"] == "Flat"
    collection.add(sample_records[5:12])
    assert collection.info()["index_in_use"] == "IVF8,Flat"
    target = sample_records[7]
    assert collection.search(str(target["text"]), k=1, mode="dense")[0].id == target["id"]


def test_a_bad_spec_leaves_the_index_as_it_was(sample_copy: Collection) -> None:
    with pytest.raises(ConfigError, match="is not an index FAISS can build"):
        sample_copy.set_index("NotAnIndex")
    assert sample_copy.info()["index"] == "Flat"
    assert sample_copy.search("decompress a gzip file", k=1, mode="dense")


def test_close_is_idempotent(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([NEW[0]])
    collection.close()
    collection.close()
    assert collection.store.database_path.exists()


def test_a_reader_stays_exact_after_another_writer_deleted_and_saved(sample_copy_dir: Path,
                                                                     encoder: Encoder) -> None:
    query = "decompress a gzip file"
    reader = Collection.open(sample_copy_dir, encoder=encoder)
    closed = False
    try:
        top = [hit.id for hit in reader.search(query, k=2, mode="dense")]  # the reader's index is loaded now
        area = reader.get(top[0]).metadata["area"]
        with Collection.open(sample_copy_dir, encoder=encoder) as writer:
            writer.delete([top[0]])
            writer.upsert([{"id": top[1], "text": NEW[1]["text"]}])
        # the writer has saved its index and forgotten the deletions it reflects
        for collection in (reader, None):
            if collection is None:
                reader.close()
                closed = True
                collection = Collection.open(sample_copy_dir, encoder=encoder)
            try:
                every = [hit.id for hit in collection.search(query, k=len(collection) + 5, mode="dense")]
                assert top[0] not in every and len(every) == len(collection) == len(set(every))
                assert collection.search(query, k=1, mode="dense")[0].id not in top
                assert collection.search(NEW[1]["text"], k=1, mode="dense")[0].id == top[1]
                filtered = collection.search(query, k=50, mode="dense", filter={"area": area})
                assert len(filtered) == len(list(collection.items({"area": area})))
            finally:
                if collection is not reader:
                    collection.close()
    finally:
        if not closed:
            reader.close()
