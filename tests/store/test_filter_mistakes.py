"""Filter mistakes never pass for empty results: a malformed operator is an InputError showing the accepted
forms; a field no item has, or a comparison with a type of value the field never holds, is a FilterWarning
naming the known fields (yellow on stderr in the CLI), while the results still print with exit status 0."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from selfsim import Collection
from selfsim.cli.main import app, main
from selfsim.encoders.base import Encoder
from selfsim.errors import FilterWarning, InputError
from selfsim.store.filters import filter_warnings, parse_filter_expressions

ROWS = [
    {"id": "d1", "text": "parse a date in ISO format", "lines": 3, "lang": "en", "tags": ["time"],
     "author": {"name": "ann"}, "draft": True},
    {"id": "d2", "text": "format a date as text", "lines": 12, "lang": "de", "tags": ["time", "text"],
     "[/k]": "markup in a key"},
    {"id": "d3", "text": "compress a folder into an archive", "lines": 40, "lang": "en", "tags": []},
]
KNOWN = "fields in use include [/k], author, author.name, draft, lang, lines, tags"


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Collection]:
    collection = Collection.create(tmp_path_factory.mktemp("mistakes") / "notes", encoder=encoder)
    collection.add(ROWS)
    yield collection
    collection.close()


@pytest.mark.parametrize("expression", ["lines >> 3", "lines=>3", "lines =< 3", "lines <> 3", "lines>=>3",
                                        "lines != = 3", "lines =~ 3", "lines >= ", "lines=", "lines ! 3",
                                        "lines", "lines in", ">= 3"])
def test_malformed_expressions_are_input_errors_showing_the_forms(expression: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_filter_expressions([expression])
    message = str(caught.value)
    assert repr(expression) in message and "year>=2020" in message and "tags has urgent" in message
    assert message.endswith(".") and "\n" not in message


@pytest.mark.parametrize(("expressions", "expected"), [
    (["lines==3"], {"lines": {"$eq": 3}}),
    (["op=\">=\""], {"op": {"$eq": ">="}}),  # a quoted value may start with an operator
    (["name=NaN"], {"name": {"$eq": "NaN"}}),  # words, not Python's JSON extensions
    (["name=-Infinity"], {"name": {"$eq": "-Infinity"}}),
    (["lines=1000000000000000000000000000000"], {"lines": {"$eq": 10**30}}),
])
def test_forms_that_read_well(expressions: list[str], expected: dict[str, Any]) -> None:
    assert parse_filter_expressions(expressions) == expected


def test_the_same_condition_twice_is_an_input_error() -> None:
    with pytest.raises(InputError, match="gives lang = twice.*lang in a,b"):
        parse_filter_expressions(["lang=en", "lang=de"])
    assert parse_filter_expressions(["lines>=3", "lines<10"]) == {"lines": {"$gte": 3, "$lt": 10}}


def _search(collection: Collection, filter: dict[str, Any], mode: str = "hybrid") -> tuple[set[str], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = collection.search("date", k=5, mode=mode, filter=filter)  # type: ignore[arg-type]
    messages = [str(w.message) for w in caught if issubclass(w.category, FilterWarning)]
    assert all(w.filename == __file__ for w in caught if issubclass(w.category, FilterWarning))  # points at us
    return {hit.id for hit in hits}, messages


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
@pytest.mark.parametrize(("filter", "ids", "words"), [
    ({"nosuchfield": 1}, set(), f"no item has the field 'nosuchfield' ({KNOWN}); check its spelling."),
    ({"nosuchfield": {"$ne": 1}}, {"d1", "d2"}, "no item has the field 'nosuchfield'"),  # still answers
    ({"nosuchfield": {"$exists": True}}, set(), "no item has the field 'nosuchfield'"),
    ({"author.nmae": "ann"}, set(), "no item has the field 'author.nmae'"),
    ({"lines": {"$gte": "ten"}}, set(), "no item has text in the field 'lines', only numbers, so lines $gte 'ten' "
                                        "matches nothing; compare it with a number."),
    ({"lang": {"$gt": 3}}, set(), "no item has a number in the field 'lang', only text"),
    ({"lang": {"$in": [1, 2]}}, set(), "no item has a number in the field 'lang'"),
    ({"tags": "time"}, set(), "only lists, so tags $eq 'time' matches nothing; to find a value in a list use "
                              "$contains"),
    ({"author": "ann"}, set(), "only objects, so author $eq 'ann' matches nothing; reach inside it with a dotted "
                               "name such as author.name."),
    ({"lines": 3, "lang": {"$gte": 0}}, set(), "no item has a number in the field 'lang'"),
])
def test_filter_mistakes_warn_naming_the_known_fields(notes: Collection, mode: str, filter: dict[str, Any],
                                                      ids: set[str], words: str) -> None:
    found, messages = _search(notes, filter, mode)
    assert len(messages) == 1 and words in messages[0], messages
    assert ids <= found if ids else not found  # keyword search also needs a shared word


@pytest.mark.parametrize("filter", [
    {"lines": 3}, {"lines": {"$gte": 2.5, "$lt": 50}}, {"lang": {"$in": ["en", "xx"]}}, {"lang": "xx"},
    {"tags": {"$contains": "time"}}, {"author.name": "bob"}, {"draft": True}, {"draft": False},
    {"nosuchfield": {"$exists": False}}, {"lang": None}, {"lang": {"$ne": 3}}, {"[/k]": {"$exists": True}}, {},
])
def test_filters_that_can_match_do_not_warn(notes: Collection, filter: dict[str, Any]) -> None:
    assert _search(notes, filter)[1] == []


def test_warnings_on_the_command_line_are_yellow_escaped_and_keep_exit_zero(notes: Collection) -> None:
    path = str(notes.store.directory)
    runner = CliRunner()
    for expression, shown in [("lines>=ten", "no item has text in the field 'lines'"),
                              ("nosuchfield=1", f"no item has the field 'nosuchfield' ({KNOWN})")]:
        result = runner.invoke(app, ["search", path, "date", "--filter", expression], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert "no results" in result.stdout
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("warning: ") and shown in lines[0], lines
    with_results = runner.invoke(app, ["search", path, "date", "-f", "nosuchfield!=1", "-f", "lang=en"],
                                 env={"COLUMNS": "400"})
    assert with_results.exit_code == 0 and "d1" in with_results.stdout and "no results" not in with_results.stdout
    assert "warning: no item has the field 'nosuchfield'" in with_results.stderr


def test_a_malformed_operator_on_the_command_line_is_one_sentence(notes: Collection, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["selfsim", "search", str(notes.store.directory), "date", "--filter",
                                      "lines >> 3"])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 1 and "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot read the filter 'lines >> 3': >> is not a comparison; write it like")



def test_the_check_asks_the_store_little(notes: Collection) -> None:
    """A field items have costs one query; once the search found items, only $ne conditions are checked."""
    asked: list[tuple[str, tuple[str, ...]]] = []

    def kinds_at(path: str, wanted: Any) -> set[str]:
        asked.append((path, tuple(wanted)))
        return notes.store.metadata_kinds(path, wanted)

    spec = {"lines": {"$gte": 3, "$lt": 50}, "lang": "en", "nosuchfield": {"$ne": 1}}
    messages = filter_warnings(spec, kinds_at, lambda: [])
    assert asked == [('$."lines"', ("integer", "real")), ('$."lang"', ("text",)), ('$."nosuchfield"', ())]
    assert messages == ["no item has the field 'nosuchfield' (fields in use include none: no item has metadata); "
                        "check its spelling."]
    asked.clear()
    assert len(filter_warnings(spec, kinds_at, lambda: [], matched=True)) == 1
    assert asked == [('$."nosuchfield"', ())]
