"""Schema versions: a schema-1 collection (labels and interaction tables made on first write) opens and
is upgraded in place; a collection from an unknown schema is refused in one sentence."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from selfsim import Collection
from selfsim.data.interactions import Interaction
from selfsim.errors import SelfsimError
from selfsim.store.database import SCHEMA_VERSION, Database
from selfsim.store.interactions import InteractionStore
from selfsim.store.labels import Label, LabelStore

RECORDS = [{"id": "a", "text": "a quiet harbour at dawn"}, {"id": "b", "text": "a busy market at noon"}]


def _database_file(make_collection: Callable[..., Collection]) -> Path:
    collection = make_collection(RECORDS, name="schema")
    path = collection.store.database_path
    collection.close()
    return path


def _rewrite(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def test_a_schema_1_collection_is_upgraded_and_keeps_working(make_collection: Callable[..., Collection]) -> None:
    path = _database_file(make_collection)
    _rewrite(path, "DROP TABLE labels", "DROP TABLE interactions", "DROP TABLE user_vectors",
             "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    database = Database.open(path)
    assert int(database.get_meta("schema_version")) == SCHEMA_VERSION
    assert LabelStore(database).tasks() == [] and InteractionStore(database).stats().events == 0
    assert LabelStore(database).put("topic", [Label("a", "sea")]) == 1
    assert InteractionStore(database).put([Interaction("u", "a", 1.0)]) == 1
    assert InteractionStore(database).history("u") == ["a"]
    database.connection.close()


def test_a_schema_1_collection_that_already_had_labels_keeps_them(make_collection: Callable[..., Collection]) -> None:
    path = _database_file(make_collection)
    database = Database.open(path)
    LabelStore(database).put("topic", [Label("b", "town")])
    database.connection.close()
    _rewrite(path, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    database = Database.open(path)
    assert [(lab.item_id, lab.label) for lab in LabelStore(database).get("topic")] == [("b", "town")]
    database.connection.close()


def test_an_unknown_schema_is_refused_in_one_sentence(make_collection: Callable[..., Collection]) -> None:
    path = _database_file(make_collection)
    _rewrite(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SelfsimError, match="schema 99"):
        Database.open(path)
