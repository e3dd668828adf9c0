"""Metadata filters: every operator, nested fields, CLI expressions, and filtered vector search that
still returns k hits when only a rare subset passes."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import InputError
from selfsim.store.filters import parse_filter_expressions

TICKETS = [
    {"id": "p1", "text": "Ticket: the invoice total is wrong", "lang": "en", "year": 2019, "rating": 4.5,
     "tags": ["urgent", "billing"], "author": {"name": "ann", "country": "uk"}, "draft": False},
    {"id": "p2", "text": "Ticket: Rechnung doppelt bezahlt", "lang": "de", "year": 2020, "rating": 3,
     "tags": ["billing"], "author": {"name": "bob", "country": "de"}, "draft": True},
    {"id": "p3", "text": "Ticket: cannot log in after password reset", "lang": "en", "year": 2021,
     "tags": ["login"], "author": {"name": "cy", "country": "us"}},
    {"id": "p4", "text": "Ticket: la facture est en retard", "lang": "fr", "year": 2022, "rating": 5,
     "tags": [], "draft": False},
    {"id": "p5", "text": "Ticket: the app crashes when I upload a photo", "year": 2023, "rating": 1.5,
     "tags": ["urgent"], "author": {"name": "ann", "country": "us"}},
]

DENSE_QUERY = "schedule a function to run in a new thread"


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Collection]:
    collection = Collection.create(tmp_path_factory.mktemp("filters") / "tickets", encoder=encoder)
    collection.add(TICKETS)
    yield collection
    collection.close()


def _ids(collection: Collection, filter: Any) -> list[str]:
    return [item.id for item in collection.items(filter)]


@pytest.mark.parametrize(("filter", "expected"), [
    ({}, ["p1", "p2", "p3", "p4", "p5"]),
    ({"lang": "en"}, ["p1", "p3"]),
    ({"lang": {"$eq": "en"}}, ["p1", "p3"]),
    ({"lang": {"$ne": "en"}}, ["p2", "p4", "p5"]),  # a missing field is not equal
    ({"lang": {"$in": ["de", "fr"]}}, ["p2", "p4"]),
    ({"year": {"$in": [2019, 2023]}}, ["p1", "p5"]),
    ({"year": {"$gt": 2021}}, ["p4", "p5"]),
    ({"year": {"$gte": 2021}}, ["p3", "p4", "p5"]),
    ({"year": {"$lt": 2020}}, ["p1"]),
    ({"year": {"$lte": 2020}}, ["p1", "p2"]),
    ({"year": {"$gte": 2020, "$lt": 2022}}, ["p2", "p3"]),
    ({"rating": {"$gt": 4}}, ["p1", "p4"]),  # integers and floats compare as numbers
    ({"rating": {"$exists": True}}, ["p1", "p2", "p4", "p5"]),
    ({"rating": {"$exists": False}}, ["p3"]),
    ({"tags": {"$contains": "urgent"}}, ["p1", "p5"]),
    ({"tags": {"$contains": "nothing"}}, []),
    ({"author.country": "us"}, ["p3", "p5"]),
    ({"author.name": "ann", "year": {"$gt": 2020}}, ["p5"]),
    ({"author.name": {"$exists": False}}, ["p4"]),
    ({"draft": True}, ["p2"]),
    ({"draft": False}, ["p1", "p4"]),
    ({"lang": "en", "tags": {"$contains": "billing"}}, ["p1"]),
    ({"lang": "xx"}, []),
])
def test_filter_operators(tickets: Collection, filter: dict[str, Any], expected: list[str]) -> None:
    assert _ids(tickets, filter) == expected


def test_filters_apply_inside_keyword_dense_and_hybrid_search(tickets: Collection) -> None:
    for mode in ("keyword", "dense", "hybrid"):
        hits = tickets.search("ticket invoice", k=5, mode=mode, filter={"lang": "en"})  # type: ignore[arg-type]
        assert sorted(hit.id for hit in hits) == ["p1", "p3"], mode
        nested = tickets.search("ticket", k=5, mode=mode, filter={"author.country": "us"})  # type: ignore[arg-type]
        assert sorted(hit.id for hit in nested) == ["p3", "p5"], mode
        assert tickets.search("ticket", k=5, mode=mode, filter={"lang": "xx"}) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(("filter", "message"), [
    ({"lang": {"$regex": "e.*"}}, "unknown filter operator '\\$regex' on 'lang'"),
    ({"lang": {}}, "the condition on 'lang' is empty"),
    ({"a..b": "x"}, "is not a field name"),
    ({'na"me': "x"}, "is not a field name"),
    ({"lang": {"$in": "en"}}, "\\$in on 'lang' needs a non-empty list"),
    ({"lang": {"$in": []}}, "\\$in on 'lang' needs a non-empty list"),
    ({"lang": ["en", "de"]}, "must be text, a number or a boolean"),
    (["lang", "en"], "a filter must be a mapping"),
])
def test_bad_filters_are_input_errors_everywhere(tickets: Collection, filter: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _ids(tickets, filter)
    for mode in ("dense", "keyword", "hybrid"):
        with pytest.raises(InputError, match=message):
            tickets.search("ticket", k=3, mode=mode, filter=filter)  # type: ignore[arg-type]


# -- command-line filter expressions ------------------------------------------------------------


@pytest.mark.parametrize(("expressions", "expected"), [
    (["lang=en"], {"lang": {"$eq": "en"}}),
    (["lang = en"], {"lang": {"$eq": "en"}}),
    (["lang!=en"], {"lang": {"$ne": "en"}}),
    (["year>=2020", "year<2024"], {"year": {"$gte": 2020, "$lt": 2024}}),
    (["year>2020"], {"year": {"$gt": 2020}}),
    (["year<=2020"], {"year": {"$lte": 2020}}),
    (["rating>4.5"], {"rating": {"$gt": 4.5}}),
    (["draft=true"], {"draft": {"$eq": True}}),
    (["code=007"], {"code": {"$eq": "007"}}),  # not valid JSON, so kept as text
    (["area in text, markup"], {"area": {"$in": ["text", "markup"]}}),
    (["year in 2019,2023"], {"year": {"$in": [2019, 2023]}}),
    (["tags has urgent"], {"tags": {"$contains": "urgent"}}),
    (["author exists"], {"author": {"$exists": True}}),
    (["author missing"], {"author": {"$exists": False}}),
    (["author.country=us"], {"author.country": {"$eq": "us"}}),
    ([], {}),
])
def test_parse_filter_expressions(expressions: list[str], expected: dict[str, Any]) -> None:
    assert parse_filter_expressions(expressions) == expected


@pytest.mark.parametrize("expression", ["year~2020", "=en", "lang", "lang en", "tags has"])
def test_unreadable_filter_expressions_are_input_errors(expression: str) -> None:
    with pytest.raises(InputError, match="cannot read the filter"):
        parse_filter_expressions([expression])


@pytest.mark.parametrize(("expressions", "expected"), [
    (["year>=2020", "year<2022"], ["p2", "p3"]),
    (["lang in de,fr"], ["p2", "p4"]),
    (["tags has urgent", "author.country=us"], ["p5"]),
    (["rating missing"], ["p3"]),
    (["draft=false"], ["p1", "p4"]),
])
def test_parsed_expressions_filter_the_collection(tickets: Collection, expressions: list[str],
                                                  expected: list[str]) -> None:
    assert _ids(tickets, parse_filter_expressions(expressions)) == expected


def test_a_numeric_range_does_not_pass_text_values(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([{"id": "known", "text": "A dated note", "year": 2021},
                                  {"id": "unknown", "text": "An undated note", "year": "unknown"}])
    assert _ids(collection, {"year": {"$gt": 2020}}) == ["known"]


# -- filtered vector search: k hits from a rare subset ------------------------------------------------


def _rare_area(records: list[dict[str, Any]]) -> str:
    return collections.Counter(r["area"] for r in records).most_common(1)[0][0]


def _check_filtered_dense(collection: Collection, records: list[dict[str, Any]], k: int = 10) -> list[str]:
    rare = _rare_area(records)
    passing = set(_ids(collection, {"area": rare}))
    assert k <= len(passing) <= len(records) // 4  # a rare subset, but enough to fill k
    unfiltered = collection.search(DENSE_QUERY, k=k, mode="dense")
    assert len(unfiltered) == k
    assert not passing & {hit.id for hit in unfiltered}  # none of them would make the unfiltered top k

    hits = collection.search(DENSE_QUERY, k=k, mode="dense", filter={"area": rare})
    assert len(hits) == k
    assert len({hit.id for hit in hits}) == k
    assert all(hit.id in passing and hit.metadata["area"] == rare for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)

    # fewer pass than asked for: all of them come back
    small_area = min(collections.Counter(r["area"] for r in records).items(), key=lambda pair: pair[1])[0]
    few = set(_ids(collection, {"area": small_area}))
    assert 0 < len(few) < k
    few_hits = collection.search(DENSE_QUERY, k=k, mode="dense", filter={"area": small_area})
    assert {hit.id for hit in few_hits} == few and len(few_hits) == len(few)

    # the same holds for a combined filter and for hybrid search
    combined = {"area": {"$in": [rare, small_area]}, "kind": {"$ne": "module"}}
    allowed = set(_ids(collection, combined))
    combined_hits = collection.search(DENSE_QUERY, k=k, mode="dense", filter=combined)
    assert len(combined_hits) == min(k, len(allowed)) and {h.id for h in combined_hits} <= allowed
    hybrid_hits = collection.search(DENSE_QUERY, k=k, mode="hybrid", filter={"area": rare})
    assert len(hybrid_hits) == k and all(hit.id in passing for hit in hybrid_hits)
    return [hit.id for hit in hits]


def test_filtered_dense_search_fills_k_from_a_rare_subset_exactly(sample: Collection,
                                                                  sample_records: list[dict[str, Any]]) -> None:
    got = _check_filtered_dense(sample, sample_records)
    # with the exact index the filtered hits are exactly the best passing items of the full ranking
    rare = _rare_area(sample_records)
    everything = sample.search(DENSE_QUERY, k=len(sample_records), mode="dense")
    assert got == [hit.id for hit in everything if hit.metadata["area"] == rare][:10]


@pytest.mark.parametrize(("spec", "built"), [("HNSW32", "HNSW32"), ("IVF2,Flat", "IVF2,Flat")])
def test_filtered_dense_search_fills_k_with_approximate_indexes(sample_copy: Collection, sample: Collection,
                                                                sample_records: list[dict[str, Any]],
                                                                spec: str, built: str) -> None:
    sample_copy.set_index(spec)
    assert (sample_copy.info()["index"], sample_copy.info()["index_in_use"]) == (spec, built)
    got = _check_filtered_dense(sample_copy, sample_records)
    rare = _rare_area(sample_records)
    exact = [hit.id for hit in sample.search(DENSE_QUERY, k=10, mode="dense", filter={"area": rare})]
    assert got[0] == exact[0]
    assert len(set(got) & set(exact)) >= 8


def test_collection_created_with_hnsw_filters_adds_and_deletes(make_collection: Callable[..., Collection],
                                                              sample_records: list[dict[str, Any]]) -> None:
    records = sample_records[:40]
    collection = make_collection(records, index="HNSW32")
    assert collection.info()["index_in_use"] == "HNSW32"
    areas = collections.Counter(r["area"] for r in records)
    small = min(areas, key=areas.__getitem__)
    passing = set(_ids(collection, {"area": small}))
    assert not passing & {hit.id for hit in collection.search(DENSE_QUERY, k=3, mode="dense")}
    hits = collection.search(DENSE_QUERY, k=3, mode="dense", filter={"area": small})
    assert len(hits) == 3 and all(hit.metadata["area"] == small for hit in hits)
    every = collection.search(DENSE_QUERY, k=10, mode="dense", filter={"area": small})
    assert {hit.id for hit in every} == passing and len(every) == len(passing) < 10
    # writes after creation are caught up, deletions included (HNSW rebuilds rather than removes)
    collection.add([{"id": "thread-note", "text": "Schedule a function to run in a new thread of its own",
                     "area": small}])
    first = collection.search(DENSE_QUERY, k=3, mode="dense", filter={"area": small})[0]
    assert first.id == "thread-note"
    collection.delete(["thread-note"])
    after = collection.search(DENSE_QUERY, k=areas[small] + 5, mode="dense", filter={"area": small})
    assert "thread-note" not in {hit.id for hit in after} and len(after) == areas[small]


def test_fields_named_like_csv_headers_can_be_filtered(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([{"id": "a", "text": "A dated note", "Created At": "2020-01-01", "année": 2020},
                                  {"id": "b", "text": "Another note", "Created At": "2021-05-05", "année": 2021}])
    assert _ids(collection, {"Created At": "2020-01-01"}) == ["a"]
    assert _ids(collection, {"année": {"$gte": 2021}}) == ["b"]
