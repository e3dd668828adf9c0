"""Duplicates: planted pairs are found (exact, semantic, lexical), grouped, kept, and written back."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, SelfsimError
from selfsim.indexes import build_item_index
from selfsim.tasks.duplicates.collection import find_duplicates, write_groups
from selfsim.tasks.duplicates.finder import (
    DuplicateFinder,
    DuplicatesConfig,
    exact_pairs,
    group_pairs,
    partitioned_pairs,
    semantic_pairs,
)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def planted(count: int = 600, dim: int = 32, copies: int = 40, seed: int = 0) -> tuple[np.ndarray, set]:
    """Random unit vectors, the last ``copies`` of them noisy copies of the first ones."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dim))
    vectors[count - copies:] = vectors[:copies] + 0.05 * rng.normal(size=(copies, dim))
    return unit(vectors), {(i, count - copies + i) for i in range(copies)}


def brute_force(vectors: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    similarity = vectors @ vectors.T
    rows, cols = np.nonzero(np.triu(similarity >= threshold, k=1))
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_semantic_pairs_match_brute_force_including_dense_regions() -> None:
    vectors, truth = planted()
    vectors[100:130] = vectors[5]  # 31 identical vectors: more neighbours above the threshold than the first k
    found, scores = semantic_pairs(vectors, 0.9, neighbours=4)
    pairs = set(map(tuple, found.tolist()))
    assert pairs == brute_force(vectors, 0.9)
    assert truth - {(5, 560)} <= pairs or truth <= pairs
    assert np.all(scores >= 0.9) and np.all(found[:, 0] < found[:, 1])


def test_partitioned_search_finds_the_planted_pairs() -> None:
    vectors, truth = planted(count=2000, dim=48, copies=60)
    found, scores = partitioned_pairs(vectors, 0.9, lists=32, probe=4)
    assert len(truth & set(map(tuple, found.tolist()))) >= 0.95 * len(truth)
    assert set(map(tuple, found.tolist())) <= brute_force(vectors, 0.9) and np.all(scores >= 0.9)


def test_ivf_index_through_a_faiss_spec() -> None:
    vectors, truth = planted(count=1000, dim=48, copies=30)
    found, _ = semantic_pairs(vectors, 0.9, index=build_item_index(vectors, "IVF16,Flat"))
    assert len(truth & set(map(tuple, found.tolist()))) >= 0.95 * len(truth)
    config = DuplicatesConfig(exact=False, exact_below=500, keep="central")
    big = DuplicateFinder(config).fit([str(i) for i in range(1000)], vectors)
    assert len(truth & {(int(p.left), int(p.right)) for p in big.pairs_}) >= 0.95 * len(truth)


def test_exact_pairs_ignore_case_spacing_and_punctuation() -> None:
    pairs = exact_pairs(["Hello, World!", "other text", "hello   world", "HELLO WORLD."])
    assert {tuple(p) for p in pairs.tolist()} == {(0, 2), (0, 3)}


def test_components_chain_but_centre_groups_do_not() -> None:
    chain = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [1, 5]])
    components = group_pairs(6, chain)
    assert len(components) == 1 and sorted(components[0][0].tolist()) == [0, 1, 2, 3, 4, 5]
    stars = group_pairs(6, chain, grouping="centre")
    members = sorted(sorted(group.tolist()) for group, _ in stars)
    assert sum(len(m) for m in members) == 6
    pairs = {tuple(sorted(p)) for p in chain.tolist()}
    for group, centre in stars:  # every member is itself a pair with its centre
        assert all(tuple(sorted((int(m), centre))) in pairs for m in group if m != centre)


def test_finder_groups_keep_the_longest_and_lists_the_rest() -> None:
    vectors, _ = planted(count=50, copies=0)
    vectors[10] = vectors[3]
    texts = [f"text number {i}" for i in range(50)]
    texts[10] = "text number 3 but longer"
    finder = DuplicateFinder(DuplicatesConfig(threshold=0.95)).fit([f"i{i}" for i in range(50)], vectors, texts)
    assert len(finder.groups_) == 1
    group = finder.groups_[0]
    assert set(group.members) == {"i3", "i10"} and group.keep == "i10" and group.members[0] == "i10"
    assert finder.duplicates_ == ["i3"]
    assert finder.pairs_[0].kinds == ("semantic",) and finder.pairs_[0].cosine == pytest.approx(1.0, abs=1e-5)


def test_lexical_detector_finds_copy_paste_with_small_edits() -> None:
    base = ("the quarterly report shows revenue grew by twelve percent while costs fell slightly across "
            "all regions except the northern one where a new warehouse opened in march")
    texts = [base, base.replace("twelve", "eleven"), "an unrelated note about gardening and tomatoes", base + " ok"]
    finder = DuplicateFinder(DuplicatesConfig(exact=False, semantic=False, lexical=True, lexical_threshold=0.7,
                                              keep="first")).fit(["a", "b", "c", "d"], None, texts)
    assert len(finder.groups_) == 1 and set(finder.groups_[0].members) == {"a", "b", "d"}
    assert finder.groups_[0].keep == "a"
    assert all(p.jaccard is not None and p.jaccard >= 0.7 for p in finder.pairs_)


@pytest.mark.parametrize("threshold", [1.5, -1.01])
def test_threshold_outside_cosine_range_is_one_clear_sentence(threshold: float) -> None:
    with pytest.raises(ConfigError, match="between -1 and 1"):
        DuplicatesConfig(threshold=threshold)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError):
        DuplicatesConfig(grouping="chains")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        DuplicatesConfig(exact=False, semantic=False, lexical=False)
    with pytest.raises(SelfsimError, match="no items"):
        DuplicateFinder().fit([], np.zeros((0, 4), dtype=np.float32), [])


PARAPHRASES = [
    {"id": "p1", "text": "How do I reset my password if I forgot it?", "topic": "account"},
    {"id": "p2", "text": "I forgot my password, how can I reset it?", "topic": "account"},
    {"id": "e1", "text": "The train to Paris leaves at nine.", "topic": "travel"},
    {"id": "e2", "text": "the train to paris leaves at nine", "topic": "travel"},
    {"id": "o1", "text": "Photosynthesis turns sunlight into chemical energy in plants.", "topic": "science"},
    {"id": "o2", "text": "The stock market closed lower on Friday after weak earnings.", "topic": "finance"},
    {"id": "o3", "text": "Knitting a warm wool scarf takes a weekend.", "topic": "craft"},
]


@pytest.fixture(scope="module")
def paraphrase_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A closed collection of PARAPHRASES, embedded once for the module."""
    path = tmp_path_factory.mktemp("paraphrases") / "collection"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(PARAPHRASES)
    return path


@pytest.fixture
def paraphrases(paraphrase_dir: Path, tmp_path: Path, encoder: Encoder) -> Iterator[Collection]:
    """A private, writable copy of the paraphrase collection."""
    shutil.copytree(paraphrase_dir, tmp_path / "copy")
    with Collection.open(tmp_path / "copy", encoder=encoder) as collection:
        yield collection


def test_collection_duplicates_and_write_back_filter(paraphrases: Collection) -> None:
    collection = paraphrases
    finder = find_duplicates(collection.store, DuplicatesConfig(threshold=0.85))
    groups = {frozenset(g.members) for g in finder.groups_}
    assert groups == {frozenset({"p1", "p2"}), frozenset({"e1", "e2"})}
    exact = next(p for p in finder.pairs_ if {p.left, p.right} == {"e1", "e2"})
    assert "exact" in exact.kinds
    assert write_groups(collection.store, finder) == 4
    kept = {item.id for item in collection.items({"duplicate_keep": {"$ne": False}})}
    assert kept == {"o1", "o2", "o3"} | {g.keep for g in finder.groups_}
    assert {i.id for i in collection.items({"duplicate_group": finder.groups_[0].group})} == set(
        finder.groups_[0].members)
    # A stricter second run leaves no group behind and clears the old fields.
    strict = find_duplicates(collection.store, DuplicatesConfig(threshold=0.999, exact=False))
    assert strict.groups_ == []
    write_groups(collection.store, strict)
    assert not list(collection.items({"duplicate_group": {"$exists": True}}))


def test_filter_restricts_the_items_compared(paraphrases: Collection) -> None:
    finder = find_duplicates(paraphrases.store, DuplicatesConfig(threshold=0.85), filter={"topic": "travel"})
    assert [set(g.members) for g in finder.groups_] == [{"e1", "e2"}]


def test_empty_collection_is_one_clear_sentence(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([])
    with pytest.raises(SelfsimError, match="no items"):
        find_duplicates(collection.store)
