"""The Collection facade: add / upsert / delete semantics, reads, reopening and info()."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfsim import ChunkingConfig, Collection, Record, SearchConfig, SelfsimError
from selfsim.data.chunking import chunk_text
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, InputError, NotFoundError

ANIMALS = [
    {"id": "zebra", "text": "The zebra grazes on savanna grass near the waterhole", "kind": "animal"},
    {"id": "kernel", "text": "Compile the Linux kernel from source code", "kind": "software"},
    {"id": "bread", "text": "Bake sourdough bread with a wild yeast starter", "kind": "food"},
    {"id": "comet", "text": "A comet's tail points away from the sun", "kind": "space"},
    {"id": "violin", "text": "Tune the violin strings before the concert", "kind": "music"},
    {"id": "tax", "text": "File your income tax return before the deadline", "kind": "finance"},
]


def _dense_ids(collection: Collection, query: str, k: int = 3) -> list[str]:
    return [hit.id for hit in collection.search(query, k=k, mode="dense")]


def _keyword_ids(collection: Collection, query: str, k: int = 10) -> list[str]:
    return [hit.id for hit in collection.search(query, k=k, mode="keyword")]


# -- upsert ----------------------------------------------------------------------------------------


def test_upsert_replaces_text_metadata_chunks_and_vectors(make_collection: Callable[..., Collection]) -> None:
    long_text = " ".join(f"The zebra number {i} grazes on savanna grass." for i in range(12))
    collection = make_collection([{**ANIMALS[0], "text": long_text, "stripes": True}, *ANIMALS[1:]],
                                 chunking=ChunkingConfig(max_words=20, overlap_words=5))
    before = collection.get("zebra")
    chunks_before = collection.info()["chunks"]
    assert chunks_before > len(ANIMALS)  # the long zebra text has several chunks
    assert _dense_ids(collection, "zebras grazing on the savanna", k=1) == ["zebra"]
    assert _keyword_ids(collection, "savanna") == ["zebra"]

    new_text = "Configure the firewall to block incoming port scans"
    report = collection.upsert([{"id": "zebra", "text": new_text, "kind": "network"}])

    assert (report.items, report.chunks) == (1, 1)
    assert len(collection) == len(ANIMALS)
    item = collection.get("zebra")
    assert item.text == new_text
    assert item.metadata == {"kind": "network"}  # replaced, not merged: "stripes" is gone
    assert item.created_at == before.created_at and item.updated_at >= before.updated_at
    assert collection.info()["chunks"] == len(ANIMALS)  # the old chunks went with the old text
    # the old text is found by neither signal, the new one by both
    assert _keyword_ids(collection, "savanna grass waterhole") == []
    assert "zebra" not in _dense_ids(collection, "zebras grazing on the savanna", k=2)
    assert _dense_ids(collection, "firewall blocking port scans", k=1) == ["zebra"]
    assert _keyword_ids(collection, "firewall") == ["zebra"]
    assert [item.id for item in collection.items({"kind": "animal"})] == []


def test_upsert_of_new_and_existing_ids_together(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:2])
    collection.upsert([{"id": "kernel", "text": "Patch the kernel scheduler"}, ANIMALS[2]])
    assert [item.id for item in collection] == ["zebra", "kernel", "bread"]  # first-added order kept
    assert collection.get("kernel").text == "Patch the kernel scheduler"


# -- add -------------------------------------------------------------------------------------------


def test_add_of_an_existing_id_raises_and_writes_nothing_of_the_batch(
        make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:3])
    generation = collection.info()["generation"]
    batch = [{"id": "walrus", "text": "A walrus hauls out on the arctic ice floe"},
             {"id": "bread", "text": "Rye bread replaced"},
             {"id": "otter", "text": "An otter cracks shellfish on its belly"}]
    with pytest.raises(SelfsimError, match="'bread' already exists; use upsert"):
        collection.add(batch)
    assert len(collection) == 3
    assert "walrus" not in collection and "otter" not in collection
    assert collection.get("bread").text == ANIMALS[2]["text"]
    assert collection.info()["generation"] == generation
    assert _keyword_ids(collection, "walrus otter shellfish") == []
    assert not {"walrus", "otter"} & set(_dense_ids(collection, "a walrus on the arctic ice", k=3))


def test_add_accepts_records_and_mappings_with_nested_metadata(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection()
    report = collection.add([Record("r1", "A record object", {"lang": "en"}),
                             {"id": 2, "text": "A mapping", "metadata": {"lang": "de"}, "year": 2020}])
    assert report.items == 2
    assert collection.get("r1").metadata == {"lang": "en"}
    assert collection.get("2").metadata == {"lang": "de", "year": 2020}  # ids become text


@pytest.mark.parametrize(("record", "message"), [
    ({"id": "x"}, "has no text"),
    ({"id": "x", "text": "   "}, "has no text"),
    ({"text": "no id here"}, "has no 'id'"),
    ("just a string", "must be a Record or a mapping"),
])
def test_add_refuses_unusable_items(make_collection: Callable[..., Collection], record: object,
                                    message: str) -> None:
    collection = make_collection()
    with pytest.raises(InputError, match=message):
        collection.add([record])  # type: ignore[list-item]
    assert len(collection) == 0


def test_progress_is_reported_per_batch(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection()
    seen: list[int] = []
    report = collection.add(ANIMALS, batch_size=4, progress=seen.append)
    assert seen == [4, 2]
    assert report.items == 6 and report.items_per_second > 0


def test_add_with_a_repeated_id_raises_whatever_the_batch_size(
        make_collection: Callable[..., Collection]) -> None:
    collection = make_collection()
    with pytest.raises(SelfsimError):
        collection.add([{"id": "twin", "text": "first version"}, {"id": "twin", "text": "second version"}])


# -- delete ----------------------------------------------------------------------------------------


def test_delete_removes_items_everywhere(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS)
    assert _dense_ids(collection, "a comet in the night sky", k=1) == ["comet"]
    missing = collection.delete(["comet", "no-such-id"])
    assert missing == ["no-such-id"]
    assert len(collection) == len(ANIMALS) - 1
    assert "comet" not in collection
    with pytest.raises(NotFoundError, match="no item with id 'comet'"):
        collection.get("comet")
    assert "comet" not in [item.id for item in collection]
    assert "comet" not in _dense_ids(collection, "a comet in the night sky", k=len(ANIMALS))
    assert _keyword_ids(collection, "comet tail sun") == []
    assert "comet" not in [hit.id for hit in collection.search("comet tail", k=10)]
    assert collection.info()["chunks"] == len(ANIMALS) - 1


def test_delete_of_unknown_ids_returns_them_and_writes_nothing(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:2])
    generation = collection.info()["generation"]
    assert collection.delete(["ghost", "phantom"]) == ["ghost", "phantom"]
    assert collection.info()["generation"] == generation
    assert len(collection) == 2


def test_a_deleted_id_can_be_added_again(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:2])
    collection.delete(["zebra"])
    collection.add([{"id": "zebra", "text": "Zebra crossings help pedestrians cross the road"}])
    assert _keyword_ids(collection, "pedestrians") == ["zebra"]
    assert _dense_ids(collection, "where to cross the street safely", k=1) == ["zebra"]


# -- reads, reopening, info --------------------------------------------------------------------------


def test_get_contains_len_iter_and_items(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS)
    assert len(collection) == 6
    assert "tax" in collection and "nope" not in collection and 42 not in collection
    assert [item.id for item in collection] == [row["id"] for row in ANIMALS]
    assert [item.id for item in collection.items({"kind": {"$in": ["food", "music"]}})] == ["bread", "violin"]
    item = collection.get("violin")
    assert (item.text, item.metadata) == (ANIMALS[4]["text"], {"kind": "music"})


def test_search_refuses_bad_arguments_with_config_errors(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:2])
    with pytest.raises(InputError, match="query is empty"):  # what the user typed: an input error
        collection.search("   ")
    with pytest.raises(InputError, match="k must be at least 1"):
        collection.search("zebra", k=0)
    with pytest.raises(ConfigError, match="unknown search mode"):
        collection.search("zebra", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown fusion"):
        SearchConfig(fusion="max")  # type: ignore[arg-type]


def test_search_of_an_empty_collection_finds_nothing(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection()
    for mode in ("dense", "keyword", "hybrid"):
        assert collection.search("anything at all", k=5, mode=mode) == []  # type: ignore[arg-type]


def test_create_refuses_an_existing_collection(make_collection: Callable[..., Collection], tmp_path: Path,
                                               encoder: Encoder) -> None:
    make_collection(ANIMALS[:1], name="taken")
    with pytest.raises(ConfigError, match="already holds a collection"):
        Collection.create(tmp_path / "taken", encoder=encoder)


def test_create_refuses_a_bad_index_spec(tmp_path: Path, encoder: Encoder) -> None:
    with pytest.raises(ConfigError, match="is not an index FAISS can build"):
        Collection.create(tmp_path / "bad", encoder=encoder, index="NoSuchIndex42")


def test_open_of_a_missing_collection_says_so(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="is not a selfsim collection"):
        Collection.open(tmp_path / "nothing-here")


def test_reopened_collection_has_the_same_items_and_search_results(sample_copy_dir: Path,
                                                                   encoder: Encoder) -> None:
    queries = ["read a compressed file", "send an email message", "start a new thread"]
    modes: list[Any] = ["dense", "keyword", "hybrid"]
    with Collection.open(sample_copy_dir, encoder=encoder) as first:
        items = [(item.id, item.text, item.metadata) for item in first]
        results = {(q, mode): first.search(q, k=5, mode=mode) for q in queries for mode in modes}
        info = first.info()
    with Collection.open(sample_copy_dir, encoder=encoder) as second:
        assert [(item.id, item.text, item.metadata) for item in second] == items
        for (query, mode), expected in results.items():
            got = second.search(query, k=5, mode=mode)
            assert [(h.id, h.span, h.text) for h in got] == [(h.id, h.span, h.text) for h in expected]
            assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-5)
        assert second.info() == info


def test_info_describes_the_collection(sample: Collection, sample_dir: Path,
                                       sample_records: list[dict[str, object]], encoder: Encoder) -> None:
    info = sample.info()
    assert info["path"] == str(sample_dir)
    assert info["items"] == len(sample_records)
    assert info["chunks"] >= len(sample_records)
    assert info["encoder"] == "all-MiniLM-L6-v2" == encoder.name
    assert info["encoder_version"] == encoder.version
    assert info["dim"] == 384
    assert (info["index"], info["index_in_use"]) == ("Flat", "Flat")
    assert info["generation"] >= 1
    assert info["chunking"] == {"max_words": ChunkingConfig().max_words,
                                "overlap_words": ChunkingConfig().overlap_words}


def test_open_keeps_the_chunking_the_collection_was_made_with(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "chunky"
    with Collection.create(path, encoder=encoder, chunking=ChunkingConfig(max_words=8, overlap_words=2)):
        pass
    with Collection.open(path, encoder=encoder) as reopened:
        reopened.add([{"id": "long", "text": " ".join(f"word{i}" for i in range(30))}])
        assert reopened.info()["chunking"] == {"max_words": 8, "overlap_words": 2}
        assert reopened.info()["chunks"] > 1


def test_open_refuses_an_encoder_with_other_weights(sample_dir: Path, encoder: Encoder) -> None:
    class OtherWeights:
        name, version, dim = encoder.name, "other-weights", encoder.dim

        def encode(self, texts: Any, **options: Any) -> np.ndarray:
            return encoder.encode(texts, **options)

    with pytest.raises(ConfigError, match="open it with the model that made it"):
        Collection.open(sample_dir, encoder=OtherWeights())  # type: ignore[arg-type]


def test_update_metadata_merges_fields_without_touching_text(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(ANIMALS[:3])
    missing = collection.update_metadata({"zebra": {"kind": "mammal", "legs": 4}, "bread": {"kind": None},
                                          "ghost": {"kind": "x"}})
    assert missing == ["ghost"]
    assert collection.get("zebra").metadata == {"kind": "mammal", "legs": 4}
    assert collection.get("bread").metadata == {}
    assert collection.get("zebra").text == ANIMALS[0]["text"]
    assert [item.id for item in collection.items({"legs": {"$gte": 4}})] == ["zebra"]
    assert [hit.id for hit in collection.search("savanna", k=3, filter={"kind": "mammal"})] == ["zebra"]


def test_item_vectors_are_unit_means_of_their_chunks(make_collection: Callable[..., Collection],
                                                     torch_encoder: Encoder) -> None:
    encoder = torch_encoder  # vectors are compared with ones computed in other calls: exact only on torch
    chunking = ChunkingConfig(max_words=20, overlap_words=5)
    long_text = " ".join(row["text"] for row in ANIMALS)
    collection = make_collection([{"id": "long", "text": long_text, "kind": "mix"}, *ANIMALS[:2]],
                                 chunking=chunking, model=encoder)
    ids, vectors = collection.vectors()
    assert ids == ["long", "zebra", "kernel"]
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[1], encoder.encode([ANIMALS[0]["text"]])[0], atol=1e-4)
    chunk_vectors = encoder.encode([chunk.text for chunk in chunk_text(long_text, chunking)])
    mean = chunk_vectors.mean(axis=0)
    assert np.allclose(vectors[0], mean / np.linalg.norm(mean), atol=1e-4)
    only, matrix = collection.vectors({"kind": "software"})
    assert only == ["kernel"] and matrix.shape == (1, encoder.dim)
