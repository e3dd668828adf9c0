"""Ingest of every file format, and the id / text / metadata field options.

Each test indexes a small real file into a real collection (SQLite under tmp_path) with
the real encoder, then checks what the collection holds.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfsim import Collection, IngestConfig
from selfsim.data.readers import count_records, detect_format, read_records
from selfsim.errors import ConfigError

ROWS = [
    {"id": "007", "text": "Compress files into a zip archive", "year": 2019, "score": 0.5, "team": "storage"},
    {"id": "008", "text": "Send an email through an SMTP server", "year": 2021, "score": 1.25, "team": "mail"},
    {"id": "009", "text": "Parse dates written in ISO format", "year": 2023, "score": 2.0, "team": "time"},
]


def _ids(collection: Collection, filter: dict[str, Any] | None = None) -> list[str]:
    return [item.id for item in collection.items(filter)]


def _write_delimited(path: Path, rows: list[dict[str, Any]], delimiter: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_jsonl_keeps_ids_text_and_every_other_field_as_metadata(
        make_collection: Callable[..., Collection], write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    rows = [{**row, "tags": ["a", "b"], "owner": {"name": "ann"}} for row in ROWS]
    collection = make_collection()
    report = collection.index_files([write_jsonl("data.jsonl", rows)])
    assert (report.items, report.chunks, report.skipped) == (3, 3, [])
    assert _ids(collection) == ["007", "008", "009"]
    item = collection.get("008")
    assert item.text == "Send an email through an SMTP server"
    assert item.metadata == {"year": 2021, "score": 1.25, "team": "mail", "tags": ["a", "b"],
                             "owner": {"name": "ann"}}
    assert collection.search("mail server", k=1, mode="dense")[0].id == "008"


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_delimited_files_restore_numbers_and_keep_ids_as_text(
        make_collection: Callable[..., Collection], tmp_path: Path, suffix: str, delimiter: str) -> None:
    rows = [{**row, "active": "true" if row["year"] > 2020 else "false"} for row in ROWS]
    path = _write_delimited(tmp_path / f"data{suffix}", rows, delimiter)
    collection = make_collection()
    report = collection.index_files([path])
    assert report.items == 3
    assert _ids(collection) == ["007", "008", "009"]  # "007" is an id, not the number 7
    item = collection.get("009")
    assert item.metadata == {"year": 2023, "score": 2.0, "team": "time", "active": True}
    assert isinstance(item.metadata["year"], int)
    # numbers compare as numbers, so ranges work on CSV columns
    assert _ids(collection, {"year": {"$gte": 2020}}) == ["008", "009"]
    assert _ids(collection, {"score": {"$lt": 1.5}}) == ["007", "008"]
    assert _ids(collection, {"active": True}) == ["008", "009"]


def test_parquet_with_numeric_ids_lists_and_nested_fields(make_collection: Callable[..., Collection],
                                                          tmp_path: Path) -> None:
    table = pa.table({
        "id": [1, 2, 3],
        "text": [row["text"] for row in ROWS],
        "year": [row["year"] for row in ROWS],
        "tags": [["archive", "zip"], ["mail"], ["time", "iso"]],
        "info": [{"lang": "en", "pages": 3}, {"lang": "de", "pages": 5}, {"lang": "en", "pages": 8}],
    })
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    collection = make_collection()
    report = collection.index_files([path])
    assert report.items == 3
    assert _ids(collection) == ["1", "2", "3"]
    assert collection.get("2").metadata == {"year": 2021, "tags": ["mail"], "info": {"lang": "de", "pages": 5}}
    assert _ids(collection, {"tags": {"$contains": "iso"}}) == ["3"]
    assert _ids(collection, {"info.lang": "en", "info.pages": {"$gt": 4}}) == ["3"]
    assert count_records(path) == 3


def test_gzipped_jsonl(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in ROWS:
            handle.write(json.dumps(row) + "\n")
    assert detect_format(path) == "jsonl"
    assert count_records(path) == 3
    collection = make_collection()
    assert collection.index_files([path]).items == 3
    assert collection.get("007").metadata["team"] == "storage"


def test_gzipped_csv(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    plain = _write_delimited(tmp_path / "plain.csv", ROWS, ",")
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    collection = make_collection()
    assert collection.index_files([path]).items == 3
    assert collection.get("008").metadata["year"] == 2021


def test_several_files_in_one_call(make_collection: Callable[..., Collection], tmp_path: Path,
                                   write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    first = write_jsonl("first.jsonl", ROWS[:1])
    second = _write_delimited(tmp_path / "second.csv", ROWS[1:], ",")
    collection = make_collection()
    assert collection.index_files([first, second]).items == 3
    assert len(collection) == 3


def test_id_text_and_metadata_field_options(make_collection: Callable[..., Collection],
                                            write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    path = write_jsonl("docs.jsonl", [
        {"key": "a", "title": "Zip archives", "body": "Store many files in one.", "lang": "en", "noise": 1},
        {"key": "b", "title": "Mail", "lang": "de", "noise": 2},  # body missing: the title alone is the text
    ])
    config = IngestConfig(id_field="key", text_fields=("title", "body"), metadata_fields=("lang",))
    collection = make_collection()
    assert collection.index_files([path], config).items == 2
    a = collection.get("a")
    assert (a.text, a.metadata) == ("Zip archives Store many files in one.", {"lang": "en"})
    b = collection.get("b")
    assert (b.text, b.metadata) == ("Mail", {"lang": "de"})


def test_records_without_id_get_a_stable_content_hash_id(make_collection: Callable[..., Collection],
                                                          write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    rows = [{"text": row["text"], "team": row["team"]} for row in ROWS]
    path = write_jsonl("no_ids.jsonl", rows)
    first = make_collection(name="first")
    first.index_files([path])
    ids = _ids(first)
    assert len(set(ids)) == 3
    assert all(item_id and item_id not in ("None", "") for item_id in ids)
    # indexing the same file again updates rather than duplicates
    first.index_files([path])
    assert _ids(first) == ids
    # the id depends on the text only: another collection gives the same ids
    second = make_collection(name="second")
    second.index_files([write_jsonl("again.jsonl", [{"text": row["text"]} for row in reversed(rows)])])
    assert sorted(_ids(second)) == sorted(ids)
    # an empty id is a bad record, not a missing one (only a record with no id field is hashed)
    third = make_collection(name="third")
    report = third.index_files([write_jsonl("empty_ids.jsonl", [{"id": "", "text": row["text"]} for row in rows])],
                               IngestConfig(on_error="skip"))
    assert len(third) == 0 and len(report.skipped) == len(rows)
    assert str(report.skipped[0]).startswith("empty_ids.jsonl line 1 has an id that is empty")


def test_encoding_option_reads_latin1(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"id": "c", "text": "caf\u00e9 au lait"}\n'.encode("latin-1"))
    collection = make_collection()
    collection.index_files([path], IngestConfig(encoding="latin-1"))
    assert collection.get("c").text == "caf\u00e9 au lait"


def test_read_records_yields_locations(write_jsonl: Callable[[str, list[Any]], Path]) -> None:
    path = write_jsonl("two.jsonl", [ROWS[0], "", ROWS[1]])  # blank lines are ignored
    results = list(read_records(path))
    assert [location for location, _ in results] == ["line 1", "line 3"]
    assert [record.id for _, record in results] == ["007", "008"]  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["data.xml", "data", "notes.txt.gz"])
def test_unknown_extensions_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="use a .jsonl, .csv, .tsv or .parquet file"):
        detect_format(Path(name))


# -- known bugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["excel.csv", "notepad.jsonl"])
def test_files_with_a_byte_order_mark_read_like_any_other(make_collection: Callable[..., Collection],
                                                          tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    content = ("id,text,team\nx1,Compress a folder,storage\n" if name.endswith(".csv")
               else '{"id": "x1", "text": "Compress a folder", "team": "storage"}\n')
    path.write_bytes(("\ufeff" + content).encode("utf-8"))
    collection = make_collection()
    collection.index_files([path], IngestConfig(on_error="skip"))
    assert _ids(collection) == ["x1"]
    assert collection.get("x1").metadata == {"team": "storage"}


def test_csv_text_cells_that_look_like_nan_stay_text(make_collection: Callable[..., Collection],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,text,author\n1,A short note on archives,Nan\n", encoding="utf-8")
    collection = make_collection()
    collection.index_files([path])
    assert collection.get("1").metadata == {"author": "Nan"}


def test_csv_infinity_cell_does_not_break_filtered_queries(make_collection: Callable[..., Collection],
                                                           tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("id,text,score\n1,Zip archives,inf\n2,Email servers,3\n", encoding="utf-8")
    collection = make_collection()
    collection.index_files([path])
    assert _ids(collection, {"score": {"$gte": 3}}) in (["2"], ["1", "2"])


def test_tsv_quotes_are_plain_characters(make_collection: Callable[..., Collection], tmp_path: Path) -> None:
    path = tmp_path / "quotes.tsv"
    path.write_text('id\ttext\n1\t"Quoted" words at the start\n2\t"an unclosed quote\n3\tthird row\n',
                    encoding="utf-8")
    collection = make_collection()
    collection.index_files([path])
    assert _ids(collection) == ["1", "2", "3"]
    assert collection.get("1").text == '"Quoted" words at the start'
    assert collection.get("2").text == '"an unclosed quote'


def test_utf16_files_are_read_with_the_encoding_option(make_collection: Callable[..., Collection],
                                                       tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-16")
    collection = make_collection()
    report = collection.index_files([path], IngestConfig(encoding="utf-16", on_error="skip"))
    assert report.skipped == []
    assert _ids(collection) == ["007", "008", "009"]
