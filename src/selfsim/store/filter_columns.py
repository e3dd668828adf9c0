"""Metadata fields as indexed columns, for filters that come faster than the metadata changes.

A filter compiles to SQL over each item's JSON metadata (:mod:`selfsim.store.filters`), so SQLite parses
every item's JSON to evaluate it: ~0.5 us an item, ~50 ms over 100k items, more than the whole search it
restricts. A field that filters use a second time within one store generation is therefore copied into a
temporary table of its own, one row per chunk holding the field's value (as ``json_extract`` gives it) and
its JSON type, indexed by value (and type), and filters on it are compiled against those columns: the same
comparisons SQLite makes on the JSON, so the same answers, found through the index (an equality or a
range on 100k chunks in about a millisecond). Filters with ``$contains`` read the JSON as before.

The tables are TEMP tables: private to one connection and never written to the collection's file. They
hold one generation's values; the first filter of a newer generation brings them up to date from the
writes since (the tombstones of deleted chunks, and the items whose stored generation is newer: a scan
without any JSON), or drops them when deletions were forgotten meanwhile. A field's first use scans the
JSON as before, its second builds its table (about twice a scan), and later ones read the table.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Mapping

import numpy as np

from selfsim.store.filters import Filter, compile_filter, field_path

_TABLE = "selfsim_field_"
MAX_FIELDS = 8  # tables kept per connection (~40 MB each at 1M chunks); one more starts over
_NUMBERS = itertools.count()  # table names unique in the process, whoever made the connection's other tables


def plain_chunk_ids(connection: sqlite3.Connection, filter: Filter | None) -> np.ndarray:
    """Ids of every chunk whose item passes ``filter``, evaluated on the JSON metadata."""
    # Items first, then only the passing items' chunks (a join driven by chunks looks up every item: ~20% slower).
    where, params = compile_filter(filter)
    sql = f"SELECT c.id FROM chunks c WHERE c.item_key IN (SELECT i.key FROM items i WHERE {where})"
    return np.array([row[0] for row in connection.execute(sql, params)], dtype=np.int64)


class FieldColumns:
    """The field tables of one connection (see the module docstring). Not thread-safe: one per connection."""

    def __init__(self) -> None:
        self._generation: int | None = None
        self._tables: dict[str, str] = {}  # JSON path -> temp table name
        self._seen: set[str] = set()  # paths filtered on once: their table comes with the next use
        self._epoch = 0

    def chunk_ids(self, connection: sqlite3.Connection, filter: Filter | None, generation: int,
                  build: bool = True, epoch: int = 0) -> np.ndarray:
        """Ids of every chunk whose item passes ``filter``, read through ``connection``, which must be inside a
        read transaction that sees ``generation``. Tables are made or dropped only with ``build`` (a transaction
        that will commit: one rolled back would take its tables with it); a new ``epoch`` drops them all."""
        if not filter or not build:
            return plain_chunk_ids(connection, filter)
        if epoch != self._epoch:
            self._drop(connection)
            self._epoch = epoch
        if generation != self._generation:
            if self._tables and not self._catch_up(connection, self._generation or 0):
                self._drop(connection)
            self._generation = generation
        paths = sorted({field_path(field) for field in filter})
        if _needs_json(filter) or not set(paths) <= self._seen | set(self._tables):
            self._seen.update(paths)
            return plain_chunk_ids(connection, filter)
        missing = [path for path in paths if path not in self._tables]
        if len(self._tables) + len(missing) > MAX_FIELDS:
            self._drop(connection)
            missing = paths
        for path in missing:
            self._build(connection, path)
        aliases = {path: f"f{number}" for number, path in enumerate(paths)}
        where, params = compile_filter(filter, fields=aliases)
        first = aliases[paths[0]]
        joins = "".join(f" JOIN temp.{self._tables[path]} AS {aliases[path]} ON {aliases[path]}.chunk = {first}.chunk"
                        for path in paths[1:])
        sql = f"SELECT {first}.chunk FROM temp.{self._tables[paths[0]]} AS {first}{joins} WHERE {where}"
        return np.array([row[0] for row in connection.execute(sql, params)], dtype=np.int64)

    def _build(self, connection: sqlite3.Connection, path: str) -> None:
        name = f"{_TABLE}{next(_NUMBERS)}"
        # `v` has no declared type, so no affinity: values keep the storage class json_extract gave them,
        # and compare exactly as they do straight from the JSON.
        connection.execute(f"CREATE TEMP TABLE {name} (chunk INTEGER PRIMARY KEY, v, t TEXT)")
        connection.execute(f"INSERT INTO temp.{name} SELECT c.id, json_extract(i.metadata, ?), "
                           "json_type(i.metadata, ?) FROM chunks c JOIN items i ON i.key = c.item_key", (path, path))
        connection.execute(f"CREATE INDEX temp.{name}_v ON {name} (v, t)")  # covering: a range never reads the table
        self._tables[path] = name

    def _catch_up(self, connection: sqlite3.Connection, since: int) -> bool:
        """Apply to every table the writes after generation ``since``: rows of deleted chunks go, and the chunks
        of items written since (added, replaced or given new metadata) are read again. False, changing
        nothing, when deletions after ``since`` have been forgotten (the tables are then rebuilt)."""
        row = connection.execute("SELECT value FROM meta WHERE key = 'tombstones_pruned_to'").fetchone()
        if row is not None and int(row[0]) > since:
            return False
        # Items carry the generation that last wrote them: one scan of that column, no JSON (CROSS JOIN: items
        # first, so only the few written items' chunks are looked up).
        stale = [row[0] for row in connection.execute(
            "SELECT c.id FROM items i CROSS JOIN chunks c ON c.item_key = i.key WHERE i.generation > ?", (since,))]
        gone = [row[0] for row in connection.execute("SELECT chunk_id FROM tombstones WHERE generation > ?",
                                                     (since,))]
        for path, name in self._tables.items():
            connection.execute(f"DELETE FROM temp.{name} WHERE chunk IN (SELECT value FROM json_each(?))",
                               (json.dumps(stale + gone),))
            connection.execute(f"INSERT INTO temp.{name} SELECT c.id, json_extract(i.metadata, ?), "
                               "json_type(i.metadata, ?) FROM chunks c JOIN items i ON i.key = c.item_key "
                               "WHERE c.id IN (SELECT value FROM json_each(?))", (path, path, json.dumps(stale)))
        return True

    def _drop(self, connection: sqlite3.Connection) -> None:
        for name in self._tables.values():
            connection.execute(f"DROP TABLE IF EXISTS temp.{name}")
        self._tables.clear()
        self._seen.clear()


def _needs_json(filter: Filter) -> bool:
    return any(isinstance(condition, Mapping) and "$contains" in condition for condition in filter.values())
