"""Property: over the Python API, any filter (any nesting, operator, field name or value) and any query
string (any Unicode, surrogates included, FTS5 syntax included) either answers or raises a SelfsimError
subclass, in every search mode, and reads never change the collection."""

from __future__ import annotations

import hashlib
import itertools
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import FilterWarning, SelfsimError
from selfsim.store.filters import OPERATORS

ROWS = [
    {"id": "a", "text": "parse a date written in ISO format", "lines": 3, "lang": "en", "tags": ["time", "iso"],
     "author": {"name": "ann", "age": 41}, "draft": True, "big": 10**30, "ratio": 0.5},
    {"id": "b", "text": "send an email through an SMTP server", "lines": 12, "lang": "de", "tags": [],
     "draft": False, "a[0]": 1, "$d": "dollar", "naïve": "ü"},
    {"id": "c", "text": "compress a folder into a zip archive", "lines": -4, "lang": None, "tags": ["zip"],
     "author": {"name": "bo"}, "note": "x\x00y"},
    {"id": "d", "text": "NEAR the \"quoted\" AND-or-NOT text: with * stars", "lines": 7.25, "lang": "fr"},
]

# Characters that break naive SQL, JSON paths or FTS5 queries, beside arbitrary Unicode (surrogates included).
TRICKY = ["\x00", ".", '"', "'", "$", "[", "]", "\\", "\ud800", "\udfff", "*", ":", "-", "(", ")", "^", "\x1b",
          "\n", " "]
characters = st.one_of(st.characters(exclude_categories=()), st.sampled_from(TRICKY))
texts = st.text(alphabet=characters, max_size=8)
fields = st.one_of(st.sampled_from(["lines", "lang", "tags", "author", "author.name", "draft", "big", "ratio",
                                    "a[0]", "$d", "naïve", "note", "nosuchfield"]),
                   texts, st.integers(), st.none())
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**62, max_value=2**1100),
                    st.floats(allow_nan=True, allow_infinity=True), texts,
                    st.sampled_from([3, 12, "en", "ann", "time", 10**30, 0.5, -4]))
operators = st.one_of(st.sampled_from(OPERATORS), st.sampled_from(["$regex", "gt", "", "$", "$GT", "$in "]), texts,
                      st.integers())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(operators, inner, max_size=3)),
                      max_leaves=8)
conditions = st.one_of(values, st.dictionaries(operators, values, max_size=3))
filters = st.one_of(st.none(), st.dictionaries(fields, conditions, max_size=4),
                    st.one_of(st.lists(scalars, max_size=3), texts, st.integers()))  # not mappings at all
fts = st.sampled_from(['"', "*", "NEAR(", "NEAR(a b, 2)", "AND", "OR", "NOT", "-", ":", "(", ")", "^", "+",
                       "lines:3", "date", "zip", "{a b}", "\ud800", "\x00"])
queries = st.one_of(st.text(alphabet=characters, max_size=30),
                    st.lists(st.one_of(fts, texts), max_size=6).map(" ".join))
MODES = ("keyword", "dense", "hybrid")
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Collection]:
    opened = Collection.create(tmp_path_factory.mktemp("properties") / "c", encoder=encoder)
    opened.add(ROWS)
    yield opened
    opened.close()


def _state(collection: Collection) -> tuple[int, int, str, str]:
    """Item count, generation, a checksum of every item and vector, and one of the database's files."""
    digest = hashlib.sha256()
    for item in collection.items():
        digest.update(json.dumps([item.id, item.text, item.metadata], sort_keys=True).encode())
    ids, vectors = collection.vectors()
    digest.update(json.dumps(ids).encode() + vectors.tobytes())
    files = hashlib.sha256()
    for path in sorted(Path(collection.store.directory).glob("collection.sqlite*")):
        files.update(path.name.encode() + path.read_bytes())
    return len(collection), collection.info()["generation"], digest.hexdigest(), files.hexdigest()


def _answers_or_selfsim_error(call: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FilterWarning)  # a warning is a fine answer to a strange filter
        try:
            call()
        except SelfsimError as error:
            assert type(error) is not SelfsimError
            assert str(error).endswith(".") and "\n" not in str(error)


def test_any_filter_and_query_answers_or_raises_a_selfsim_error(collection: Collection) -> None:
    before = _state(collection)

    @SETTINGS
    @given(query=queries, filter=filters, k=st.one_of(st.integers(-2, 12), st.just(10**30)))
    def check(query: str, filter: Any, k: int) -> None:
        for mode in MODES:
            _answers_or_selfsim_error(lambda: collection.search(query, k=k, mode=mode, filter=filter))  # noqa: B023

    check()
    assert _state(collection) == before


def test_any_filter_on_items_answers_or_raises_a_selfsim_error(collection: Collection) -> None:
    before = _state(collection)

    @settings(SETTINGS, max_examples=200)
    @given(filter=filters)
    def check(filter: Any) -> None:
        _answers_or_selfsim_error(lambda: list(itertools.islice(collection.items(filter), 10)))
        _answers_or_selfsim_error(lambda: collection.vectors(filter))

    check()
    assert _state(collection) == before
