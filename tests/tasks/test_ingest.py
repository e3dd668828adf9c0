"""Bad input: every problem a user's file can have ends in one clear sentence naming file and line,
and the error policy decides whether the run stops (keeping what came before) or skips and reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selfsim import Collection, IngestConfig
from selfsim.errors import ConfigError, InputError, NotFoundError, SelfsimError
from selfsim.tasks.ingest import StoppedAtError

GOOD = [{"id": f"g{i}", "text": f"Good record number {i} about sailing boats"} for i in range(4)]

# (raw line bytes, words the message must contain)
BAD_LINES: dict[str, tuple[bytes, list[str]]] = {
    "malformed JSON": (b'{"id": "bad1", "text": "unterminated', ["is not valid JSON"]),
    "missing text field": (b'{"id": "bad2", "body": "text under another name"}', ["has no 'text' field"]),
    "empty text": (b'{"id": "bad3", "text": "   "}', ["has an empty 'text' field"]),
    "wrong encoding": (b'{"id": "bad4", "text": "caf\xe9"}', ["is not valid utf-8", "0xe9"]),
    "not an object": (b'["bad5", "a list, not an object"]', ["is not a JSON object"]),
}


def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _good(i: int) -> bytes:
    return json.dumps(GOOD[i]).encode()


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_stops_the_run_with_file_and_line_and_keeps_what_came_before(
        make_collection: Callable[..., Collection], tmp_path: Path, case: str) -> None:
    raw, words = BAD_LINES[case]
    path = _write_lines(tmp_path / "records.jsonl", [_good(0), _good(1), raw, _good(2)])
    collection = make_collection()
    with pytest.raises(StoppedAtError) as caught:
        collection.index_files([path], IngestConfig(on_error="stop"))
    error = caught.value
    message = str(error)
    assert isinstance(error, InputError) and isinstance(error, SelfsimError)
    assert message.startswith("records.jsonl line 3 ")
    for word in words:
        assert word in message
    assert message.endswith(".") and "\n" not in message  # one sentence
    assert "2 items before it were stored" in message
    assert error.stored == 2
    assert [item.id for item in collection] == ["g0", "g1"]  # good records before it are stored
    assert collection.search("sailing boats", k=5, mode="dense")[0].id in ("g0", "g1")


def test_skip_indexes_the_good_records_and_reports_every_bad_one(make_collection: Callable[..., Collection],
                                                                 tmp_path: Path) -> None:
    lines = [_good(0)]
    for raw, _ in BAD_LINES.values():
        lines += [raw]
    lines += [_good(1), b"", _good(2), _good(3)]
    path = _write_lines(tmp_path / "mixed.jsonl", lines)
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip", batch_size=2))
    assert report.items == 4
    assert [item.id for item in collection] == ["g0", "g1", "g2", "g3"]
    assert len(report.skipped) == len(BAD_LINES)
    for number, (error, (_, words)) in enumerate(zip(report.skipped, BAD_LINES.values(), strict=True), start=2):
        assert isinstance(error, InputError)
        assert str(error).startswith(f"mixed.jsonl line {number} ")
        assert all(word in str(error) for word in words)
    assert not any(f"bad{i}" in collection for i in range(1, 6))


def test_bad_rows_in_csv_are_reported_by_line(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"id,text,team\n1,Sailing boats,blue\n2,,red\n3,caf\xe9 society,green\n4,Rowing boats,blue\n")
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip"))
    assert [item.id for item in collection] == ["1", "4"]
    messages = [str(error) for error in report.skipped]
    assert len(messages) == 2
    assert any(m.startswith("rows.csv line 3 has an empty 'text' field") for m in messages)
    assert any(m.startswith("rows.csv line 4 is not valid utf-8") for m in messages)


def test_a_csv_without_the_text_column_is_refused_at_once(make_collection: Callable[..., Collection],
                                                          tmp_path: Path) -> None:
    path = tmp_path / "columns.csv"
    path.write_text("id,body\n1,Sailing boats\n", encoding="utf-8")
    collection = make_collection()
    with pytest.raises(InputError, match=r"columns.csv has no 'text' column \(its columns are id, body\)"):
        collection.index_files([path], IngestConfig(on_error="skip"))
    report = collection.index_files([path], IngestConfig(text_fields=("body",)))
    assert report.items == 1


def test_a_parquet_file_with_a_missing_text_value_is_reported_by_row(make_collection: Callable[..., Collection],
                                                                     tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["Sailing boats", None]}), path)
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(on_error="skip"))
    assert [item.id for item in collection] == ["a"]
    assert [str(e) for e in report.skipped] == [
        "rows.parquet row 2 has no 'text' field; name the field that holds the text with --text-field."]


def test_a_broken_parquet_file_is_refused(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputError, match="broken.parquet is not a readable Parquet file"):
        make_collection().index_files([path])


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_unknown_extension_and_missing_file_are_refused_whatever_the_policy(
        make_collection: Callable[..., Collection], tmp_path: Path, on_error: Any) -> None:
    unknown = tmp_path / "records.xml"
    unknown.write_text("<records/>", encoding="utf-8")
    collection = make_collection()
    with pytest.raises(ConfigError, match=r"cannot read records.xml: use a .jsonl, .csv, .tsv or .parquet file"):
        collection.index_files([unknown], IngestConfig(on_error=on_error))
    with pytest.raises(NotFoundError, match="missing.jsonl does not exist; check the path"):
        collection.index_files([tmp_path / "missing.jsonl"], IngestConfig(on_error=on_error))
    assert len(collection) == 0


def test_impossible_ingest_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="on_error must be 'stop' or 'skip'"):
        IngestConfig(on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        IngestConfig(batch_size=0)
    with pytest.raises(ConfigError, match="at least one text field"):
        IngestConfig(text_fields=())


def test_within_a_file_a_later_line_replaces_an_earlier_one(make_collection: Callable[..., Collection],
                                                            tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "twice.jsonl", [_good(0), json.dumps({"id": "g0", "text": "Later"}).encode()])
    collection = make_collection()
    collection.index_files([path])
    assert [(item.id, item.text) for item in collection] == [("g0", "Later")]


def test_a_missing_file_later_in_the_list_has_an_outcome_independent_of_batch_size(
        make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    good = _write_lines(tmp_path / "good.jsonl", [_good(i) for i in range(3)])
    stored = []
    for batch_size in (2, 256):
        collection = make_collection(name=f"batch{batch_size}")
        with pytest.raises(NotFoundError):
            collection.index_files([good, tmp_path / "missing.jsonl"], IngestConfig(batch_size=batch_size))
        stored.append(len(collection))
    assert stored[0] == stored[1]
