"""API keys in the collection database: only a hash is stored, revoked keys open nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from selfsim import Collection
from selfsim.errors import InputError, NotFoundError
from selfsim.store.keys import ROLES, key_hash


def test_a_key_is_shown_once_and_only_its_hash_is_stored(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([{"id": "a", "text": "one item"}])
    assert collection.keys.list() == [] and collection.keys.verify("ss_" + "0" * 12 + "_" + "0" * 64) is None
    record, key = collection.keys.create("write", name="  ci  ")
    assert key.startswith(f"ss_{record.key_id}_") and len(key) == 3 + 12 + 1 + 64
    assert (record.role, record.name, record.revoked) == ("write", "ci", False)
    rows = sqlite3.connect(collection.store.database_path).execute("SELECT * FROM api_keys").fetchall()
    stored = " ".join(str(value) for row in rows for value in row)
    assert key not in stored and key.rsplit("_", 1)[1] not in stored and key_hash(key) in stored
    assert collection.keys.verify(key) == record
    assert collection.keys.list() == [record]


def test_wrong_malformed_and_revoked_keys_open_nothing(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([{"id": "a", "text": "one item"}])
    record, key = collection.keys.create("read")
    other, other_key = collection.keys.create("admin")
    forged = key[:-1] + ("0" if key[-1] != "0" else "1")
    for wrong in (forged, "", key + "x", key.upper(), f"ss_{record.key_id}_", "Bearer " + key):
        assert collection.keys.verify(wrong) is None
    revoked = collection.keys.revoke(record.key_id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert collection.keys.verify(key) is None and collection.keys.verify(other_key) == other
    assert collection.keys.revoke(key).revoked_at == revoked.revoked_at  # the whole key names it too; twice is harmless
    assert collection.keys.active() == 1


def test_roles_and_bad_input_end_in_one_sentence(make_collection: Callable[..., Collection]) -> None:
    collection = make_collection([{"id": "a", "text": "one item"}])
    records = {role: collection.keys.create(role)[0] for role in ROLES}
    assert records["write"].allows("read") and records["write"].allows("write")
    assert not records["write"].allows("admin") and not records["read"].allows("write")
    with pytest.raises(InputError, match="unknown role 'owner'"):
        collection.keys.create("owner")
    with pytest.raises(NotFoundError, match="keys list"):
        collection.keys.revoke("0" * 12)
    with pytest.raises(InputError, match="not a key id") as caught:
        collection.keys.revoke("ss_secret-looking-thing")
    assert "secret-looking" not in str(caught.value)


def test_keys_survive_reopening_and_older_collections_open(make_collection: Callable[..., Collection],
                                                           tmp_path: Path) -> None:
    collection = make_collection([{"id": "a", "text": "one item"}], name="keyed")
    _, key = collection.keys.create("admin", name="ops")
    collection.close()
    with Collection.open(tmp_path / "keyed") as reopened:
        assert reopened.keys.verify(key).name == "ops"
