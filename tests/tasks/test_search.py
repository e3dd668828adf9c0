"""Search: chunked items come back once with their best passage; hybrid hits explain their signals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from selfsim import ChunkingConfig, Collection, SearchConfig
from selfsim.data.chunking import chunk_text
from selfsim.encoders.base import Encoder
from selfsim.store.lexical import match_expression, query_words
from selfsim.tasks.search.fusion import reciprocal_rank_fusion, weighted_score_fusion

CHUNKING = ChunkingConfig(max_words=20, overlap_words=5)

SECTIONS = [
    "Our kitchen bakes sourdough bread every morning, kneading the dough by hand and letting it rise slowly "
    "overnight in a cool pantry before baking it in a hot oven.",
    "Astronomers point a large telescope at distant galaxies, measuring their redshift to learn how fast "
    "the universe expands and how old the oldest stars must be.",
    "Network engineers configure routers and firewalls, assigning IP addresses to every subnet and "
    "blocking suspicious traffic from unknown hosts on the perimeter.",
    "The gardener waters tomato plants, pulls weeds between the rows of lettuce and spreads compost "
    "around the roots of the young apple trees in spring.",
]
LONG = {"id": "long", "text": " ".join(SECTIONS), "kind": "essay"}
SHORT = [
    {"id": "s1", "text": "A recipe for pancakes with maple syrup", "kind": "note"},
    {"id": "s2", "text": "How to replace a flat bicycle tyre", "kind": "note"},
    {"id": "s3", "text": "The history of the printing press", "kind": "note"},
    {"id": "s4", "text": "Knitting a wool scarf for winter", "kind": "note"},
]


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Collection]:
    collection = Collection.create(tmp_path_factory.mktemp("chunked") / "c", encoder=encoder, chunking=CHUNKING)
    collection.add([LONG, *SHORT])
    yield collection
    collection.close()


def test_a_long_item_is_stored_as_several_chunks(chunked: Collection) -> None:
    expected = len(chunk_text(LONG["text"], CHUNKING))
    assert expected >= 4
    assert chunked.info()["chunks"] == expected + len(SHORT)


@pytest.mark.parametrize(("query", "words"), [
    ("telescope observing distant galaxies", ["telescope", "galaxies"]),
    ("firewall blocking traffic on a subnet", ["firewalls", "subnet"]),
    ("compost for apple trees", ["compost", "apple"]),
])
@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_search_returns_the_parent_once_with_the_best_chunk(chunked: Collection, query: str, words: list[str],
                                                            mode: Any) -> None:
    hits = chunked.search(query, k=5, mode=mode)
    ids = [hit.id for hit in hits]
    assert len(ids) == len(set(ids))  # each item at most once, however many chunks matched
    assert ids[0] == "long"
    hit = hits[0]
    item = chunked.get("long")
    assert hit.text == item.text[hit.span[0]:hit.span[1]]
    assert hit.text in [chunk.text for chunk in chunk_text(item.text, CHUNKING)]
    assert hit.chunk == [chunk.text for chunk in chunk_text(item.text, CHUNKING)].index(hit.text)
    assert hit.chunk > 0  # none of these topics is in the first window
    assert all(word in hit.text for word in words)
    assert hit.metadata == {"kind": "essay"}


def test_short_items_are_returned_whole(chunked: Collection) -> None:
    hit = chunked.search("fixing a punctured bike tire", k=1, mode="dense")[0]
    assert (hit.id, hit.text, hit.span, hit.chunk) == ("s2", SHORT[1]["text"], (0, len(SHORT[1]["text"])), 0)


def test_hit_to_dict_is_json_ready(chunked: Collection) -> None:
    hit = chunked.search("telescope", k=1)[0]
    data = json.loads(json.dumps(hit.to_dict()))
    assert data["id"] == "long" and data["span"] == list(hit.span) and data["text"] == hit.text
    assert set(data["signals"]) == set(hit.signals)
    assert data["signals"]["keyword"]["rank"] == 1


# -- hybrid signals -------------------------------------------------------------------------------------

QUERY = "decompress a gzip file"


def _by_id(hits: list[Any]) -> dict[str, tuple[int, float]]:
    return {hit.id: (rank, hit.score) for rank, hit in enumerate(hits, start=1)}


def test_hybrid_hits_carry_the_rank_and_score_of_each_signal(sample: Collection) -> None:
    config = SearchConfig()
    depth = config.candidates
    dense = _by_id(sample.search(QUERY, k=depth, mode="dense"))
    keyword = _by_id(sample.search(QUERY, k=depth, mode="keyword"))
    hits = sample.search(QUERY, k=10)  # hybrid with reciprocal-rank fusion is the default
    assert len(hits) == 10
    both = 0
    for hit in hits:
        assert hit.signals and set(hit.signals) <= {"dense", "keyword"}
        expected = 0.0
        for name, ranks in (("dense", dense), ("keyword", keyword)):
            if name in hit.signals:
                signal = hit.signals[name]
                assert (signal.rank, signal.score) == (ranks[hit.id][0], pytest.approx(ranks[hit.id][1], abs=1e-5))
                weight = config.dense_weight if name == "dense" else 1 - config.dense_weight
                expected += weight / (config.rrf_k + signal.rank)
            else:
                assert hit.id not in ranks
        assert hit.score == pytest.approx(expected)
        both += len(hit.signals) == 2
    assert both >= 3
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert hits[0].signals["dense"].rank <= 3 and hits[0].signals["keyword"].rank <= 3


def test_hybrid_matches_fusing_the_two_signal_lists_by_hand(sample: Collection) -> None:
    for config in (SearchConfig(), SearchConfig(fusion="weighted", dense_weight=0.7), SearchConfig(rrf_k=2.0)):
        dense = [(h.id, h.score) for h in sample.search(QUERY, k=config.candidates, mode="dense")]
        keyword = [(h.id, h.score) for h in sample.search(QUERY, k=config.candidates, mode="keyword")]
        weights = (config.dense_weight, 1 - config.dense_weight)
        if config.fusion == "rrf":
            expected = reciprocal_rank_fusion([dense, keyword], weights, config.rrf_k)
        else:
            expected = weighted_score_fusion([dense, keyword], weights)
        hits = sample.search(QUERY, k=8, config=config)
        assert [hit.id for hit in hits] == [key for key, _ in expected[:8]]
        assert [hit.score for hit in hits] == pytest.approx([score for _, score in expected[:8]], abs=1e-5)


def test_dense_weight_one_gives_the_dense_order(sample: Collection) -> None:
    dense = [hit.id for hit in sample.search(QUERY, k=5, mode="dense")]
    assert [hit.id for hit in sample.search(QUERY, k=5, config=SearchConfig(dense_weight=1.0))] == dense


def test_keyword_search_only_returns_items_sharing_a_word(sample: Collection) -> None:
    assert sample.search("zzqxv wqzzk", k=5, mode="keyword") == []
    hits = sample.search("zzqxv gzip", k=5, mode="keyword")
    assert hits and all("gzip" in sample.get(hit.id).text.lower() for hit in hits)
    assert all(set(hit.signals) == {"keyword"} for hit in hits)
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query", ['C++ AND "quotes"', "NEAR(a b) OR NOT x*", "-minus +plus ^caret", "???"])
def test_keyword_search_survives_fts_syntax_in_queries(sample: Collection, query: str) -> None:
    hits = sample.search(query, k=3, mode="keyword")
    assert isinstance(hits, list) and len(hits) <= 3


def test_query_words_and_match_expression() -> None:
    assert query_words("How to read THE file, the FILE!") == ["read", "file"]
    assert query_words("the and of") == ["the", "and", "of"]  # only stop words: they are kept
    assert match_expression('say "hi"') == '"say" OR "hi"'
    assert match_expression("...") is None


def test_k_larger_than_the_collection_returns_everything(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection(SHORT)
    for mode in ("dense", "hybrid"):
        hits = collection.search("winter pancakes", k=50, mode=mode)  # type: ignore[arg-type]
        assert sorted(hit.id for hit in hits) == ["s1", "s2", "s3", "s4"]
