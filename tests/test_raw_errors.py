"""Values that used to escape as raw Python or SQLite errors (OverflowError, sqlite3.OperationalError,
a tokenizer's TypeError) now answer, or end in one sentence of the right SelfsimError subclass."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from selfsim import Collection
from selfsim.cli.main import main
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, InputError, SelfsimError

MODES = ("keyword", "dense", "hybrid")
ROWS = [
    {"id": "big", "text": "a ledger of enormous sums", "amount": 10**30, "lines": 3},
    {"id": "small", "text": "a ledger of petty cash", "amount": 5, "lines": 10},
    {"id": "odd", "text": "a ledger with odd field names", "a[0]": 1, "$d": 2, "sp ace": 3, "lines": 7},
]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Collection]:
    collection = Collection.create(tmp_path_factory.mktemp("raw") / "ledger", encoder=encoder)
    collection.add(ROWS)
    yield collection
    collection.close()


def _sentence(error: SelfsimError) -> str:
    message = str(error)
    assert type(error) is not SelfsimError  # the base class says nothing about the kind of mistake
    assert message.endswith(".") and "\n" not in message, message
    return message


def _ids(collection: Collection, query: str = "ledger", **options: Any) -> set[str]:
    return {hit.id for hit in collection.search(query, k=10, **options)}


@pytest.mark.parametrize("mode", MODES)
def test_an_integer_beyond_sqlite_compares_as_a_float(ledger: Collection, mode: str) -> None:
    assert _ids(ledger, mode=mode, filter={"amount": 10**30}) == {"big"}
    assert _ids(ledger, mode=mode, filter={"amount": {"$gte": 10**29}}) == {"big"}
    assert _ids(ledger, mode=mode, filter={"amount": {"$lt": 10**30}}) == {"small"}
    assert _ids(ledger, mode=mode, filter={"amount": {"$in": [10**30, -(10**40)]}}) == {"big"}


def test_an_integer_beyond_sqlite_from_the_command_line(ledger: Collection, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ledger.store.directory)
    monkeypatch.setattr(sys, "argv", ["selfsim", "search", path, "ledger", "--json", "--filter",
                                      "lines=1000000000000000000000000000000"])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 0, captured.err
    assert captured.out.strip() == "[]" and "Traceback" not in captured.err


@pytest.mark.parametrize("field", ["a\x00b", "lines\x00", 'na"me', "back\\slash", "tab\there", "", ".lines",
                                   "lines.", "a..b", "\ud800", 7, None, ("lines",)])
def test_unreachable_field_names_are_input_errors(ledger: Collection, field: Any) -> None:
    for mode in MODES:
        with pytest.raises(InputError, match="is not a field name") as caught:
            ledger.search("ledger", mode=mode, filter={field: 1})  # type: ignore[dict-item]
        _sentence(caught.value)
    with pytest.raises(InputError, match="is not a field name"):
        list(ledger.items({field: 1}))  # type: ignore[dict-item]


def test_dollars_brackets_and_spaces_in_field_names_work(ledger: Collection) -> None:
    for mode in MODES:
        assert _ids(ledger, mode=mode, filter={"a[0]": 1}) == {"odd"}
        assert _ids(ledger, mode=mode, filter={"$d": {"$gte": 2}}) == {"odd"}
        assert _ids(ledger, mode=mode, filter={"sp ace": 3}) == {"odd"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", ["\ud800", "ledger \udfff sums", "\udc80"])
def test_a_lone_surrogate_in_a_query_is_an_input_error(ledger: Collection, mode: str, query: str) -> None:
    with pytest.raises(InputError, match="lone surrogate") as caught:
        ledger.search(query, mode=mode)  # type: ignore[arg-type]
    _sentence(caught.value)


@pytest.mark.parametrize(("filter", "words"), [
    ({"lines": float("nan")}, "use a finite number"),
    ({"lines": {"$gt": float("inf")}}, "use a finite number"),
    ({"lines": {"$in": [1, float("-inf")]}}, "use a finite number"),
    ({"lines": 10**400}, "too large to compare"),
    ({"lines": "\ud800"}, "not valid Unicode"),
    ({"lines": {"$contains": "\udfff"}}, "not valid Unicode"),
    ({"lines": {"$gt": None}}, "needs a number or text"),
    ({"lines": {"$exists": "no"}}, "takes true or false"),
    ({"lines": {"$in": [[1]]}}, "must be text, a number or a boolean, not list"),
    ({"lines": {"$eq": {"$gt": 1}}}, "not dict"),
    ({"lines": {"gt": 1}}, "write a nested field as lines.gt"),
    ({"lines": {5: 1}}, "unknown filter operator 5"),
    ({f"f{i}": 1 for i in range(101)}, "more than 100 conditions"),
    ([("lines", 1)], "a filter must be a mapping"),
    ("lines=3", "a filter must be a mapping"),
    (3, "a filter must be a mapping"),
])
def test_bad_filter_values_are_input_errors(ledger: Collection, filter: Any, words: str) -> None:
    for mode in MODES:
        with pytest.raises(InputError, match=words) as caught:
            ledger.search("ledger", mode=mode, filter=filter)
        _sentence(caught.value)


def test_a_long_in_list_is_not_limited_by_sqlite_parameters(ledger: Collection) -> None:
    values = list(range(-50_000, 0)) + [7]
    for mode in MODES:
        assert _ids(ledger, mode=mode, filter={"lines": {"$in": values}}) == {"odd"}


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda c: c.search("ledger", k=0), InputError, "k must be at least 1, not 0"),
    (lambda c: c.search("ledger", k=-5), InputError, "k must be at least 1"),
    (lambda c: c.search("ledger", k=2.5), InputError, "k must be a whole number"),
    (lambda c: c.search("ledger", k=True), InputError, "k must be a whole number"),
    (lambda c: c.search("ledger", k="3"), InputError, "k must be a whole number"),
    (lambda c: c.search(""), InputError, "the query is empty"),
    (lambda c: c.search(" \t\n"), InputError, "the query is empty"),
    (lambda c: c.search(None), InputError, "the query must be text, not NoneType"),
    (lambda c: c.search(b"ledger"), InputError, "the query must be text, not bytes"),
    (lambda c: c.search("ledger", mode="fuzzy"), ConfigError, "unknown search mode 'fuzzy'"),
    (lambda c: c.search("ledger", mode=["dense"]), ConfigError, "unknown search mode"),
])
def test_bad_search_arguments_are_one_sentence(ledger: Collection, call: Callable[[Collection], Any],
                                               error: type[SelfsimError], words: str) -> None:
    with pytest.raises(error, match=words) as caught:
        call(ledger)
    _sentence(caught.value)


@pytest.mark.parametrize("mode", MODES)
def test_a_huge_k_returns_every_match(ledger: Collection, mode: str) -> None:
    hits = ledger.search("ledger", k=10**30, mode=mode)  # type: ignore[arg-type]
    assert {hit.id for hit in hits} == {"big", "small", "odd"}


def test_fts_syntax_and_control_characters_in_queries_answer(ledger: Collection) -> None:
    for query in ['"', "*", "NEAR(", "ledger AND", "-ledger", "amount:5", "\x00ledger", "led\x1bger", "^", "))"]:
        for mode in MODES:
            assert isinstance(ledger.search(query, mode=mode), list)  # type: ignore[arg-type]


def test_the_cli_keeps_such_errors_to_one_sentence(ledger: Collection, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = str(ledger.store.directory)
    for arguments, words in [(["-k", "0"], "k must be at least 1"), (["--filter", "lines=NaN"], None),
                             (["--filter", "lines=1e999"], "use a finite number")]:
        monkeypatch.setattr(sys, "argv", ["selfsim", "search", path, "ledger", "--json", *arguments])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        if words is None:  # NaN on a command line is a word, compared as text: a warning, no error
            assert exited.value.code == 0 and "warning: no item has text in the field 'lines'" in captured.err
        else:
            assert exited.value.code == 1 and words in captured.err
