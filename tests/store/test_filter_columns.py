"""Field tables (selfsim.store.filter_columns) answer every filter exactly as the JSON does: a property over tricky
metadata (numbers of every size, booleans, nulls, lists, objects, missing fields, any text), and the tables follow
the generation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from selfsim import Collection
from selfsim.encoders.base import Encoder
from selfsim.errors import InputError
from selfsim.store.filter_columns import FieldColumns, plain_chunk_ids
from selfsim.store.filters import compile_filter

ROWS = [
    {"id": "a", "text": "parse a date", "n": 3, "s": "en", "tags": ["time", "iso"], "o": {"k": 41}, "b": True,
     "big": 10**30},
    {"id": "b", "text": "send an email", "n": 12, "s": "de", "tags": [], "b": False, "big": 2**63 - 1, "f": 0.5},
    {"id": "c", "text": "zip a folder", "n": -4, "s": None, "tags": ["zip"], "o": {"k": "bo"}, "f": 3.0},
    {"id": "d", "text": "quoted text", "n": 7.25, "s": "fr", "b": 1, "big": -(2**63), "f": "3"},
    {"id": "e", "text": "sleep until", "n": "12", "s": "ü", "tags": "zip", "o": [1, 2], "b": 0, "f": None},
    {"id": "f", "text": "format hours", "n": 3.0, "s": "", "o": None, "big": 2**53 + 1, "f": -0.0},
    {"id": "g", "text": "nothing here"},
]
FIELDS = ["n", "s", "tags", "o", "o.k", "b", "big", "f", "missing"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-20, 20), st.sampled_from([10**30, 2**63 - 1, 2**53 + 1,
                                                                                      -(2**63), 2**70]),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from([0.5, 3.0, -0.0]),
                    st.sampled_from(["en", "de", "12", "3", "", "ü", "zip", "time", '["zip"]', "[1,2]", "bo"]),
                    st.text(max_size=3))
operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$exists", "$contains"])


@st.composite
def conditions(draw: st.DrawFn) -> object:
    operator = draw(operators)
    if operator == "$in":
        return {"$in": draw(st.lists(scalars, min_size=1, max_size=4))}
    if operator == "$exists":
        return {"$exists": draw(st.booleans())}
    value = draw(scalars)
    return value if operator == "$eq" and draw(st.booleans()) else {operator: value}


filters = st.dictionaries(st.sampled_from(FIELDS), conditions(), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[sqlite3.Connection]:
    path = tmp_path_factory.mktemp("columns") / "c"
    with Collection.create(path, encoder=encoder) as collection:
        collection.add(ROWS)
        database = collection.store.database_path
    reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    yield reader
    reader.close()


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=filters)
def test_field_tables_answer_as_the_json_does(connection: sqlite3.Connection, spec: dict) -> None:
    try:
        compile_filter(spec)
    except InputError:
        assume(False)
    columns = FieldColumns()
    expected = sorted(plain_chunk_ids(connection, spec).tolist())
    connection.execute("BEGIN")
    try:
        first = columns.chunk_ids(connection, spec, generation=1)  # a first use reads the JSON
        again = columns.chunk_ids(connection, spec, generation=1)  # a second one builds and reads the tables
    finally:
        connection.execute("COMMIT")
    assert sorted(first.tolist()) == expected
    assert sorted(again.tolist()) == expected


def test_tables_follow_the_generation(sample_copy: Collection) -> None:
    store = sample_copy.store
    area = {"area": "compression and archives"}
    counts = []
    for _ in range(3):  # the second and third reads come from the field's table
        store.filters.clear()
        counts.append(len(store.chunk_ids_matching(area)))
    outsider = next(item for item in sample_copy.items() if item.metadata["area"] != area["area"])
    sample_copy.update_metadata({outsider.id: {"area": area["area"]}})
    for _ in range(3):  # a new generation: read from the JSON, then from a fresh table
        store.filters.clear()
        counts.append(len(store.chunk_ids_matching(area)))
    assert counts[:3] == [counts[0]] * 3 and counts[3:] == [counts[0] + 1] * 3


def test_tables_never_touch_the_collection_file(sample_copy_dir: Path, encoder: Encoder) -> None:
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        for _ in range(3):
            collection.store.filters.clear()
            collection.store.chunk_ids_matching({"area": "text"})
    reader = sqlite3.connect(f"file:{sample_copy_dir / 'collection.sqlite'}?mode=ro", uri=True)
    try:
        names = [row[0] for row in reader.execute("SELECT name FROM sqlite_master")]
    finally:
        reader.close()
    assert not [name for name in names if name.startswith("selfsim_field_")]


def test_a_field_gets_a_table_on_its_second_use(connection: sqlite3.Connection) -> None:
    def tables() -> int:
        return connection.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'table'").fetchone()[0]

    columns = FieldColumns()
    before = tables()
    connection.execute("BEGIN")
    try:
        assert columns.chunk_ids(connection, {"n": 3}, 1).size == 2 and tables() == before  # 3 and 3.0
        assert columns.chunk_ids(connection, {"n": {"$gte": 3}}, 1).size == 4 and tables() == before + 1
        assert columns.chunk_ids(connection, {"tags": {"$contains": "zip"}}, 1).size == 2  # reads the JSON
        assert columns.chunk_ids(connection, {"n": 12}, 2).size == 1 and tables() == before + 1  # caught up
        assert columns.chunk_ids(connection, {"n": 12}, 2, build=False).size == 1
    finally:
        connection.execute("COMMIT")


def _plain(directory: Path, spec: dict) -> list[int]:
    reader = sqlite3.connect(f"file:{directory / 'collection.sqlite'}?mode=ro", uri=True)
    try:
        return sorted(plain_chunk_ids(reader, spec).tolist())
    finally:
        reader.close()


def test_tables_catch_up_with_every_kind_of_write(sample_copy_dir: Path, encoder: Encoder,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    drops: list[int] = []
    drop = FieldColumns._drop
    monkeypatch.setattr(FieldColumns, "_drop", lambda self, connection: (drops.append(1), drop(self, connection)))
    area = {"area": "compression and archives"}
    others = {"area": {"$ne": "compression and archives"}, "kind": {"$exists": True}}
    with Collection.open(sample_copy_dir, encoder=encoder) as collection:
        store = collection.store

        def check() -> None:
            for spec in (area, others):
                store.filters.clear()
                assert sorted(store.chunk_ids_matching(spec).tolist()) == _plain(sample_copy_dir, spec)

        check()
        check()  # the second use builds the tables; from here on they are caught up, not rebuilt
        items = list(collection.items())
        inside = [item for item in items if item.metadata["area"] == area["area"]]
        outside = [item for item in items if item.metadata["area"] != area["area"]]
        collection.update_metadata({outside[0].id: {"area": area["area"]}, inside[0].id: {"area": None}})
        check()
        collection.delete([inside[1].id, outside[1].id])
        check()
        collection.add([{"id": "new", "text": "Unpack a tar archive", "area": area["area"], "kind": "function"}])
        check()
        collection.upsert([{"id": inside[2].id, "text": "Now about sockets", "area": "networking"}])
        check()
        assert drops == []  # every write so far was caught up
        writer = sqlite3.connect(sample_copy_dir / "collection.sqlite")
        try:  # deletions forgotten: the tables cannot catch up and are rebuilt
            collection.delete([inside[3].id])
            writer.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('tombstones_pruned_to', '999999')")
            writer.commit()
        finally:
            writer.close()
        check()
        assert drops == [1]
        store.forget_filters()  # every connection drops its tables at its next filter
        check()
        assert drops == [1, 1]
