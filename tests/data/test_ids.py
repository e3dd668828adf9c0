"""The id rule, applied everywhere: files, the Python API, interactions and labels.

Ids are strings; a number becomes its JSON text (1 -> "1", 1.5 -> "1.5", 1.0 -> "1.0"), so ids 1 and
"1" are the same id and the later record replaces the earlier one, which the report counts. Empty,
whitespace-only, null, boolean, list and object ids, ids over 1,000 characters and ids holding control
characters are bad records in a file and an InputError in the API. A record with no id field at all
is still addressed by a hash of its text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfsim import Collection, IngestConfig, Record
from selfsim.data.interactions import Interaction, InteractionReadConfig, collect_interactions
from selfsim.data.label_files import read_label_file
from selfsim.data.records import MAX_ID_LENGTH, as_id, check_id, id_problem
from selfsim.errors import InputError
from selfsim.store.labels import Label


@pytest.mark.parametrize(("value", "expected"), [
    ("a1", "a1"), (" a1 ", "a1"), ("007", "007"), ("[red]m2", "[red]m2"), ("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH),
    (1, "1"), (-3, "-3"), (1.5, "1.5"), (1.0, "1.0"), (1e20, "1e+20"), (np.int64(7), "7"), (np.float32(0.5), "0.5"),
])
def test_good_ids_and_their_string(value: Any, expected: str) -> None:
    assert id_problem(value) is None
    assert as_id(value) == expected == check_id(value)


@pytest.mark.parametrize(("value", "problem"), [
    ("", "is empty"), ("   ", "is only whitespace"), (None, "is null"), (True, "a boolean"), (False, "a boolean"),
    ([], "is a list"), (["a"], "is a list"), ({}, "is an object"), (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"), ("x" * (MAX_ID_LENGTH + 1), "1,001 characters long"),
    ("a\x00b", "control character U+0000"), ("a\nb", "control character U+000A"), ("\x1b[31m", "U+001B"),
    ("a\x85b", "U+0085"), ("\ud800", "lone surrogate U+D800"), (b"bytes", "is a bytes"),
])
def test_bad_ids_say_why_in_one_sentence(value: Any, problem: str) -> None:
    assert problem in (id_problem(value) or "")
    with pytest.raises(InputError) as caught:
        check_id(value)
    message = str(caught.value)
    assert problem in message and message.endswith(".") and "\n" not in message and len(message) < 300


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_the_seven_records_of_the_issue(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    # Once 7 records gave 6 items with no report: 1 and "1" collided silently, "   " and [] both became "".
    rows = [{"id": 1, "text": "one as a number"}, {"id": "1", "text": "one as a string"},
            {"id": "   ", "text": "blank id"}, {"id": [], "text": "list id"}, {"id": "b", "text": "bee"},
            {"id": 2.5, "text": "two and a half"}, {"text": "no id at all"}]
    path = _jsonl(tmp_path / "seven.jsonl", rows)
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip"))
    ids = [item.id for item in collection]
    assert ids[:3] == ["1", "b", "2.5"] and len(ids) == 4 and len(ids[3]) == 16  # the last: a hash of its text
    assert collection.get("1").text == "one as a string"  # the later record replaced the earlier one
    assert (report.items, report.replaced, report.replaced_ids) == (4, 1, ["1"])
    assert [str(e).split(";")[0] for e in report.skipped] == [
        "seven.jsonl line 3 has an id that is only whitespace",
        "seven.jsonl line 4 has an id that is a list, not a string or a number"]
    with pytest.raises(InputError, match=r"^seven.jsonl line 3 has an id that is only whitespace; .*\(1 items "):
        make_collection(name="stop").index_files([path])


def test_replacements_are_counted_across_batches_and_files(make_collection: Callable[..., Collection],
                                                           tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "x one"}, {"id": "y", "text": "y one"},
                                          {"id": "z", "text": "z one"}, {"id": "x", "text": "x two"}])
    second = _jsonl(tmp_path / "b.jsonl", [{"id": "y", "text": "y two"}])
    collection = make_collection()
    report = collection.index_files([first, second], IngestConfig(batch_size=1))
    assert (report.items, report.replaced, report.replaced_ids) == (3, 2, ["x", "y"])
    assert {item.id: item.text for item in collection} == {"x": "x two", "y": "y two", "z": "z one"}
    # a later run over the same files replaces stored items, but nothing within its own input
    again = collection.index_files([second])
    assert (again.items, again.replaced) == (1, 0)


def test_csv_ids_stay_text_and_an_empty_id_cell_is_a_bad_record(make_collection: Callable[..., Collection],
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,text\n007,seven\n7,also seven\n,no id\n 8 ,eight\n", encoding="utf-8")
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip"))
    assert sorted(item.id for item in collection) == ["007", "7", "8"]
    assert [str(e).split(";")[0] for e in report.skipped] == ["rows.csv line 4 has an id that is empty"]


def test_parquet_numbers_become_their_json_text(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": [1.5, 2.0, float("nan")], "text": ["a", "b", "c"]}), path)
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip"))
    assert sorted(item.id for item in collection) == ["1.5", "2.0"]
    assert str(report.skipped[0]).startswith("rows.parquet row 3 has an id that is nan, not a finite number")


@pytest.mark.parametrize("bad", ["", "   ", None, True, [], {"a": 1}, "x" * 1001, "a\x00b", "tab\there"])
def test_the_api_refuses_bad_ids(make_collection: Callable[..., Collection], bad: Any) -> None:
    collection = make_collection()
    with pytest.raises(InputError, match="the id .* (is|holds)"):
        collection.add([{"id": bad, "text": "some text"}])
    with pytest.raises(InputError):
        collection.upsert([Record(bad, "some text")])
    assert len(collection) == 0


def test_the_api_applies_the_same_rule(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection()
    with pytest.raises(InputError, match="the id '1' appears twice"):
        collection.add([{"id": 1, "text": "number"}, {"id": "1", "text": "string"}])
    report = collection.upsert([{"id": 1, "text": "number"}, {"id": "1", "text": "string"},
                                Record(" r ", "a record", {"score": float("nan"), "n": np.int64(3)}),
                                {"id": np.int64(5), "text": "numpy id", "ratio": np.float32(0.25)}])
    assert (report.items, report.replaced, report.replaced_ids) == (3, 1, ["1"])
    assert collection.get("1").text == "string"
    assert collection.get("r").metadata == {"score": None, "n": 3}
    assert collection.get("5").metadata == {"ratio": 0.25}
    with pytest.raises(InputError, match="nests lists or objects more than 100 levels deep"):
        nested: Any = "leaf"
        for _ in range(150):
            nested = [nested]
        collection.add([{"id": "deep", "text": "x", "nested": nested}])
    with pytest.raises(InputError, match="lone surrogate"):
        collection.add([{"id": "s", "text": "half an emoji \ud83d"}])


def test_interaction_ids_follow_the_rule(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"user": 1, "item": 10, "timestamp": 1}\n{"user": "1", "item": 2.5, "timestamp": 2}\n'
                    '{"user": " 1 ", "item": 10.0, "timestamp": 3}\n{"user": "", "item": "x", "timestamp": 4}\n')
    good, skipped = collect_interactions([path], InteractionReadConfig(on_error="skip"))
    assert [(e.user, e.item) for e in good] == [("1", "10"), ("1", "2.5"), ("1", "10.0")]
    assert [str(e).split(";")[0] for e in skipped] == ["events.jsonl line 4 has no 'user' field"]
    collection = make_collection()
    interactions = collection.interactions
    assert interactions.put([Interaction(7, "a", 1.0)]) == 1  # type: ignore[arg-type]
    assert interactions.history("7") == ["a"]
    for user, item in (("", "a"), ("u", "   "), ("u\x00", "a"), ("u", "x" * 1001)):
        with pytest.raises(InputError, match=r"the (user|item) .* (is|holds)"):
            interactions.put([Interaction(user, item, 2.0)])
    with pytest.raises(InputError, match="not a finite number"):
        interactions.put([Interaction("u", "a", float("nan"))])
    assert interactions.stats().events == 1


def test_label_ids_follow_the_rule(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    collection = make_collection([{"id": "7", "text": "seven"}, {"id": "8", "text": "eight"}])
    assert collection.labels.put("t", [Label(7, "odd", "human")]) == 1  # type: ignore[arg-type]
    assert [(label.item_id, label.label) for label in collection.labels.get("t")] == [("7", "odd")]
    with pytest.raises(InputError, match="the item id '' is empty"):
        collection.labels.put("t", [Label("", "odd", "human")])
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": 8, "label": "even"}\n{"id": "", "text": "seven", "label": "odd"}\n'
                    '{"id": 8.0, "label": "even"}\n')
    rows = read_label_file(path)
    assert [(row.item_id, row.text) for row in rows] == [("8", None), (None, "seven"), ("8.0", None)]


def test_get_delete_and_update_metadata_follow_the_id_rule(make_collection) -> None:
    collection = make_collection([{"id": 1, "text": "the first note"}, {"id": "two", "text": "the second note"}])
    assert collection.get(1).id == "1"
    assert collection.update_metadata({1: {"seen": True}}) == [] and collection.get("1").metadata == {"seen": True}
    assert collection.delete("two") == [] and len(collection) == 1  # one id, not its characters
    with pytest.raises(InputError):
        collection.get("   ")
    assert collection.delete([1]) == [] and len(collection) == 0
