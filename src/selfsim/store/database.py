"""The collection database: SQLite (WAL) holding items, chunks, embeddings and the keyword index.

SQLite is the source of truth. Every write is one transaction that also bumps
the store *generation*; chunks remember the generation that added them and
deleted chunks leave a tombstone with the generation that removed them, so a
vector index built at generation ``g`` can be brought up to date from
:meth:`Database.changes_since`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.config import CollectionConfig
from selfsim.data.chunking import Chunk
from selfsim.data.records import Record
from selfsim.errors import ConfigError, ConflictError, InputError, NotFoundError
from selfsim.store.filter_columns import FieldColumns, plain_chunk_ids
from selfsim.store.filters import Filter, compile_filter
from selfsim.store.results import (
    ChunkSpan,
    ChunkText,
    EncoderInfo,
    ItemChunk,
    KeywordMatch,
    VectorBatch,
    WriteResult,
)
from selfsim.store.schema import SCHEMA_VERSION, create_tables, upgrade_from_schema_1


@dataclass(frozen=True)
class PreparedItem:
    """A record ready to store: its chunks and one unit vector per chunk."""

    record: Record
    chunks: list[Chunk]
    vectors: np.ndarray  # (n_chunks, dim) float32


@dataclass(frozen=True)
class StoredItem:
    """An item as the store holds it."""

    id: str
    text: str
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    key: int


@dataclass(frozen=True)
class Changes:
    """What happened after a generation: chunks added (with their vectors) and chunks removed."""

    added_ids: np.ndarray  # (N,) int64
    added_vectors: np.ndarray  # (N, dim) float32
    removed_ids: np.ndarray  # (M,) int64


class Database:
    """A collection's SQLite file. Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection
        self._owner = threading.get_ident()
        self._readers = threading.local()  # other threads read through connections of their own

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, config: CollectionConfig) -> Database:
        """Make a new database file at ``path`` holding ``config``."""
        if path.exists():
            raise ConflictError(f"{path} already exists; open it instead, or pick a new path.")
        database = cls(path, _connect(path))
        with database.transaction():
            create_tables(database.connection)
            database._set_meta("schema_version", SCHEMA_VERSION)
            database._set_meta("generation", 0)
            database._set_meta("config", config.to_dict())
        return database

    @classmethod
    def open(cls, path: Path) -> Database:
        """Open an existing database file."""
        if not path.is_file():
            raise NotFoundError(f"{path.parent} is not a selfsim collection; create it first "
                                "(selfsim index makes one).")
        database = cls(path, _connect(path))
        version = int(database.get_meta("schema_version", 0))
        if version == 1:  # schema 1 made the labels and interaction tables on first write
            with database.transaction():
                upgrade_from_schema_1(database.connection)
                database._set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise ConfigError(f"{path.parent} was written by a different selfsim (schema {version}); "
                               f"use the version that made it or re-index into a new collection.")
        return database

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the write lock from its start (BEGIN IMMEDIATE), so the
        generation it reads is the one it increments even with several writing processes."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads inside see one committed state of the database (a WAL read transaction), so a
        generation and the changes up to it are read together even while others write."""
        if self.connection.in_transaction:
            yield self.connection
            return
        self.connection.execute("BEGIN")
        try:
            yield self.connection
        finally:
            self.connection.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        if threading.get_ident() == self._owner:
            return self.connection
        reader = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._readers.connection = reader
        return reader

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self.connection.close()

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A value from the meta table (JSON-decoded), or ``default``."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set_meta(self, key: str, value: Any) -> None:
        self.connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                (key, json.dumps(value)))

    @property
    def generation(self) -> int:
        """The number of committed writes so far."""
        return int(self.get_meta("generation", 0))

    @property
    def config(self) -> CollectionConfig:
        """The collection's configuration."""
        return CollectionConfig.from_dict(self.get_meta("config", {}))

    def set_config(self, config: CollectionConfig) -> None:
        """Record a changed configuration (for example a new index spec)."""
        with self.transaction():
            self._set_meta("config", config.to_dict())

    def _next_generation(self) -> int:
        generation = self.generation + 1
        self._set_meta("generation", generation)
        return generation

    # -- encoders --------------------------------------------------------------------------------

    def register_encoder(self, name: str, version: str, dim: int) -> int:
        """The id of the encoder ``(name, version)``, adding it if new."""
        with self.transaction():
            self.connection.execute(
                "INSERT OR IGNORE INTO encoders (name, version, dim, created_at) VALUES (?, ?, ?, ?)",
                (name, version, dim, time.time()))
            row = self.connection.execute("SELECT id FROM encoders WHERE name = ? AND version = ?",
                                          (name, version)).fetchone()
            if self.get_meta("active_encoder") is None:
                self._set_meta("active_encoder", row[0])
        return int(row[0])

    @property
    def active_encoder(self) -> EncoderInfo | None:
        """``(id, name, version, dim)`` of the encoder whose vectors the index holds."""
        encoder_id = self.get_meta("active_encoder")
        if encoder_id is None:
            return None
        row = self.connection.execute("SELECT id, name, version, dim FROM encoders WHERE id = ?",
                                      (encoder_id,)).fetchone()
        return EncoderInfo(int(row[0]), row[1], row[2], int(row[3]))

    def chunks_without_embeddings(self, encoder_id: int, limit: int = 1000) -> list[ChunkText]:
        """Up to ``limit`` chunks that have no vector from ``encoder_id`` yet, as ``(chunk_id, chunk text)``."""
        rows = self.connection.execute(
            "SELECT c.id, i.text, c.start, c.end FROM chunks c JOIN items i ON i.key = c.item_key "
            "WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id AND e.encoder_id = ?) "
            "ORDER BY c.id LIMIT ?", (encoder_id, limit)).fetchall()
        return [ChunkText(int(chunk_id), text[start:end]) for chunk_id, text, start, end in rows]

    def put_embeddings(self, encoder_id: int, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store vectors of an encoder that is not (yet) the active one, in one transaction.

        The active encoder's vectors and the index are untouched, so search keeps answering from
        them while a new encoder's vectors are written (see :meth:`switch_encoder`).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction():
            self.connection.executemany(
                "INSERT OR REPLACE INTO embeddings (chunk_id, encoder_id, vector) "
                "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?)",
                [(int(c), encoder_id, v.tobytes(), int(c)) for c, v in zip(chunk_ids, vectors, strict=True)])

    def switch_encoder(self, encoder_id: int) -> int:
        """Make ``encoder_id`` the active encoder in one transaction, once every chunk has its vector.

        Returns the new generation. Raises :class:`SelfsimError` if a chunk still lacks a vector
        (written since), so the caller embeds those and tries again. Indexes saved before this
        generation hold the old encoder's vectors; recording the generation as the oldest usable
        one makes every reader rebuild its index from the new vectors.
        """
        with self.transaction():
            missing = self.connection.execute(
                "SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
                "WHERE e.chunk_id = c.id AND e.encoder_id = ?)", (encoder_id,)).fetchone()[0]
            if missing:
                raise ConflictError(f"{missing} chunks have no vector from the new encoder yet; embed them first.")
            row = self.connection.execute("SELECT name FROM encoders WHERE id = ?", (encoder_id,)).fetchone()
            if row is None:
                raise ConfigError(f"no encoder with id {encoder_id} in {self.path.parent}.")
            self._set_meta("active_encoder", encoder_id)
            config = self.config
            self._set_meta("config", CollectionConfig(row[0], config.index, config.chunking).to_dict())
            generation = self._next_generation()
            self._set_meta("tombstones_pruned_to", generation)
        return generation

    def drop_embeddings(self, encoder_id: int) -> None:
        """Delete every vector of an encoder that is no longer active (and its encoders row)."""
        active = self.active_encoder
        if active is not None and active[0] == encoder_id:
            raise ConfigError("the active encoder's vectors cannot be dropped; switch to another encoder first.")
        with self.transaction():
            self.connection.execute("DELETE FROM embeddings WHERE encoder_id = ?", (encoder_id,))
            self.connection.execute("DELETE FROM encoders WHERE id = ?", (encoder_id,))

    # -- writes ----------------------------------------------------------------------------------

    def write_items(self, items: Sequence[PreparedItem], encoder_id: int, *, replace: bool) -> int:
        """Store ``items`` in one transaction and return the new generation.

        With ``replace`` an existing id is overwritten (its chunks, vectors and
        keyword entry with it); without it an existing id is an error and
        nothing is written.
        """
        now = time.time()
        ids = [item.record.id for item in items]
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise InputError(f"the id {item_id!r} appears twice in one batch; give each item its own id.")
            seen.add(item_id)
        connection = self.connection
        with self.transaction():
            existing = self._keys_for(ids)
            if existing and not replace:
                first = next(iter(existing))
                raise ConflictError(f"an item with id {first!r} already exists; use upsert to replace it.")
            generation = self._next_generation()
            self._remove_chunks([existing[i] for i in ids if i in existing], generation)
            for item in items:
                record = item.record
                metadata = _metadata_json(record)
                key = existing.get(record.id)
                if key is None:
                    key = connection.execute(
                        "INSERT INTO items (id, text, metadata, created_at, updated_at, generation) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (record.id, record.text, metadata, now, now, generation)).lastrowid
                else:
                    connection.execute(
                        "UPDATE items SET text = ?, metadata = ?, updated_at = ?, generation = ? "
                        "WHERE key = ?", (record.text, metadata, now, generation, key))
                    connection.execute("DELETE FROM items_fts WHERE rowid = ?", (key,))
                connection.execute("INSERT INTO items_fts (rowid, text) VALUES (?, ?)", (key, record.text))
                vectors = np.ascontiguousarray(item.vectors, dtype=np.float32)
                for chunk, vector in zip(item.chunks, vectors, strict=True):
                    chunk_id = connection.execute(
                        "INSERT INTO chunks (item_key, position, start, end, generation) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (key, chunk.position, chunk.start, chunk.end, generation)).lastrowid
                    connection.execute(
                        "INSERT INTO embeddings (chunk_id, encoder_id, vector) VALUES (?, ?, ?)",
                        (chunk_id, encoder_id, vector.tobytes()))
        return generation

    def delete_items(self, ids: Sequence[str]) -> WriteResult:
        """Delete the items with these ids in one transaction; returns the generation and the ids
        that did not exist (nothing is written when none of them did)."""
        with self.transaction():
            existing = self._keys_for(ids)
            missing = [i for i in ids if i not in existing]
            if not existing:
                return WriteResult(self.generation, missing)
            generation = self._next_generation()
            keys = list(existing.values())
            self._remove_chunks(keys, generation)
            for key in keys:
                self.connection.execute("DELETE FROM items_fts WHERE rowid = ?", (key,))
                self.connection.execute("DELETE FROM items WHERE key = ?", (key,))
        return WriteResult(generation, missing)

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> WriteResult:
        """Merge new metadata fields into items (a value of None removes the field), in one
        transaction; returns the generation and the ids that did not exist. Texts and vectors
        are untouched, so no re-embedding is needed."""
        with self.transaction():
            existing = self._keys_for(list(updates))
            missing = [i for i in updates if i not in existing]
            if not existing:
                return WriteResult(self.generation, missing)
            generation = self._next_generation()
            now = time.time()
            for item_id, key in existing.items():
                row = self.connection.execute("SELECT metadata FROM items WHERE key = ?", (key,)).fetchone()
                metadata = json.loads(row[0])
                for field, value in updates[item_id].items():
                    if value is None:
                        metadata.pop(field, None)
                    else:
                        metadata[field] = value
                self.connection.execute("UPDATE items SET metadata = ?, updated_at = ?, generation = ? WHERE key = ?",
                                        (json.dumps(metadata, ensure_ascii=False), now, generation, key))
        return WriteResult(generation, missing)

    def _keys_for(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for first in range(0, len(ids), 500):
            part = list(ids[first:first + 500])
            marks = ", ".join("?" for _ in part)
            for item_id, key in self.connection.execute(
                    f"SELECT id, key FROM items WHERE id IN ({marks})", part):
                found[item_id] = key
        return found

    def _remove_chunks(self, keys: Sequence[int], generation: int) -> None:
        connection = self.connection
        for key in keys:
            chunk_ids = [row[0] for row in connection.execute("SELECT id FROM chunks WHERE item_key = ?", (key,))]
            connection.executemany("INSERT OR REPLACE INTO tombstones (chunk_id, generation) VALUES (?, ?)",
                                   [(c, generation) for c in chunk_ids])
            connection.executemany("DELETE FROM embeddings WHERE chunk_id = ?", [(c,) for c in chunk_ids])
            connection.execute("DELETE FROM chunks WHERE item_key = ?", (key,))

    @property
    def pruned_to(self) -> int:
        """Deletions up to this generation are forgotten: an index older than it cannot catch up."""
        return int(self.get_meta("tombstones_pruned_to", 0))

    def prune_tombstones(self, up_to_generation: int) -> None:
        """Forget deletions up to ``up_to_generation`` (which the saved index reflects), recording
        that indexes older than it must be rebuilt rather than caught up."""
        with self.transaction():
            if up_to_generation <= self.pruned_to:
                return
            self._set_meta("tombstones_pruned_to", up_to_generation)
            self.connection.execute("DELETE FROM tombstones WHERE generation <= ?", (up_to_generation,))

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id, ascending."""
        rows = self.connection.execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def integrity_problems(self) -> list[str]:
        """What SQLite's integrity and foreign-key checks report (empty when the file is sound)."""
        problems = [row[0] for row in self.connection.execute("PRAGMA integrity_check").fetchall()
                    if row[0] != "ok"]
        problems += [f"a row of {row[0]} points at a missing row of {row[2]}"
                     for row in self.connection.execute("PRAGMA foreign_key_check").fetchall()]
        return problems

    # -- reads -----------------------------------------------------------------------------------

    def count_items(self) -> int:
        """How many items the collection holds."""
        return int(self.connection.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def count_chunks(self) -> int:
        """How many chunks the collection holds."""
        return int(self.connection.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def get_item(self, item_id: str) -> StoredItem | None:
        """The item with this id, or None."""
        row = self.connection.execute(
            "SELECT id, text, metadata, created_at, updated_at, key FROM items WHERE id = ?",
            (item_id,)).fetchone()
        return stored_item(row) if row else None

    def items_by_key(self, keys: Sequence[int], filter: Filter | None = None) -> dict[int, StoredItem]:
        """Items by their internal keys (only those passing ``filter``, when given)."""
        where, params = compile_filter(filter)
        found: dict[int, StoredItem] = {}
        for first in range(0, len(keys), 500):
            part = [int(k) for k in keys[first:first + 500]]
            marks = ", ".join("?" for _ in part)
            for row in self.connection.execute(
                    f"SELECT id, text, metadata, created_at, updated_at, key FROM items i WHERE key IN ({marks}) "
                    f"AND {where}", [*part, *params]):
                found[row[5]] = stored_item(row)
        return found

    def iter_items(self, filter: Filter | None = None, batch: int = 1000) -> Iterator[StoredItem]:
        """Every item passing ``filter``, in insertion order, read in batches."""
        where, params = compile_filter(filter)
        last = 0
        while True:
            rows = self.connection.execute(
                "SELECT id, text, metadata, created_at, updated_at, key FROM items i "
                f"WHERE key > ? AND {where} ORDER BY key LIMIT ?", [last, *params, batch]).fetchall()
            if not rows:
                return
            for row in rows:
                yield stored_item(row)
            last = rows[-1][5]

    def chunk_items(self, chunk_ids: Sequence[int]) -> dict[int, ChunkSpan]:
        """For each chunk id: ``(item_key, position, start, end)``."""
        found: dict[int, ChunkSpan] = {}
        for first in range(0, len(chunk_ids), 500):
            part = [int(c) for c in chunk_ids[first:first + 500]]
            marks = ", ".join("?" for _ in part)
            for chunk_id, key, position, start, end in self.connection.execute(
                    f"SELECT id, item_key, position, start, end FROM chunks WHERE id IN ({marks})", part):
                found[chunk_id] = ChunkSpan(key, position, start, end)
        return found

    def chunks_of(self, keys: Sequence[int]) -> dict[int, list[ItemChunk]]:
        """For each item key: its chunks as ``(chunk_id, position, start, end)`` in order."""
        found: dict[int, list[ItemChunk]] = {}
        for first in range(0, len(keys), 500):
            part = [int(k) for k in keys[first:first + 500]]
            marks = ", ".join("?" for _ in part)
            for key, chunk_id, position, start, end in self.connection.execute(
                    f"SELECT item_key, id, position, start, end FROM chunks WHERE item_key IN ({marks}) "
                    "ORDER BY item_key, position", part):
                found.setdefault(key, []).append(ItemChunk(chunk_id, position, start, end))
        return found

    def chunk_ids_matching(self, filter: Filter | None) -> np.ndarray:
        """Ids of every chunk whose item passes ``filter``."""
        return plain_chunk_ids(self.connection, filter)

    def generation_and_chunk_ids(self, filter: Filter | None) -> tuple[int, np.ndarray]:
        """``(generation, ids)``: the chunks passing ``filter`` and the generation, from one committed state (via
        field tables: :mod:`selfsim.store.filter_columns`); safe from any thread (each reads on its own connection)."""
        connection = self._reader()
        holder = self if connection is self.connection else self._readers  # field tables live per connection
        columns = getattr(holder, "field_columns", None) or FieldColumns()
        holder.field_columns = columns
        began = not connection.in_transaction
        if began:
            connection.execute("BEGIN")
        try:  # tables are built only in a transaction of our own, so never rolled back
            generation = self.committed_generation()
            return generation, columns.chunk_ids(connection, filter, generation, build=began, epoch=self.field_epoch)
        finally:
            if began:
                connection.execute("COMMIT")

    field_epoch = 0  # bumped to make every connection drop its field tables at its next filter

    def committed_generation(self) -> int:
        """The generation as this thread's connection sees it; safe from any thread, like :meth:`keyword`."""
        row = self._reader().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(json.loads(row[0])) if row else 0

    def vectors(self, encoder_id: int, chunk_ids: Sequence[int] | None = None,
                batch: int = 20000) -> Iterator[VectorBatch]:
        """``(ids, vectors)`` batches of stored embeddings: all of them, or those of ``chunk_ids``."""
        dim = self._encoder_dim(encoder_id)
        if chunk_ids is not None:
            for first in range(0, len(chunk_ids), 500):
                part = [int(c) for c in chunk_ids[first:first + 500]]
                marks = ", ".join("?" for _ in part)
                rows = self.connection.execute(
                    f"SELECT chunk_id, vector FROM embeddings WHERE encoder_id = ? AND chunk_id IN ({marks})",
                    [encoder_id, *part]).fetchall()
                yield _unpack(rows, dim)
            return
        last = 0
        while True:
            rows = self.connection.execute(
                "SELECT chunk_id, vector FROM embeddings WHERE encoder_id = ? AND chunk_id > ? "
                "ORDER BY chunk_id LIMIT ?", (encoder_id, last, batch)).fetchall()
            if not rows:
                return
            yield _unpack(rows, dim)
            last = rows[-1][0]

    def changes_since(self, generation: int, encoder_id: int) -> Changes:
        """Chunks added and removed after ``generation``, for bringing an index up to date."""
        dim = self._encoder_dim(encoder_id)
        rows = self.connection.execute(
            "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id AND e.encoder_id = ? "
            "WHERE c.generation > ? ORDER BY c.id", (encoder_id, generation)).fetchall()
        added_ids, added_vectors = _unpack(rows, dim)
        removed = self.connection.execute("SELECT chunk_id FROM tombstones WHERE generation > ?",
                                          (generation,)).fetchall()
        removed_ids = np.array([r[0] for r in removed], dtype=np.int64)
        return Changes(added_ids, added_vectors, removed_ids)

    def _encoder_dim(self, encoder_id: int) -> int:
        row = self.connection.execute("SELECT dim FROM encoders WHERE id = ?", (encoder_id,)).fetchone()
        if row is None:
            raise ConfigError(f"no encoder with id {encoder_id} in {self.path.parent}.")
        return int(row[0])

    # -- keyword search --------------------------------------------------------------------------

    def keyword(self, match: str, k: int, filter: Filter | None = None) -> list[KeywordMatch]:
        """The ``k`` best ``(item_key, bm25 score)`` for an FTS5 MATCH expression, higher is better.

        Safe to call from another thread (hybrid search runs it beside the dense search): such
        a thread reads through a connection of its own, which WAL lets run concurrently.
        """
        where, params = compile_filter(filter)
        connection = self._reader()
        if where == "1":
            sql = ("SELECT rowid, bm25(items_fts) AS s FROM items_fts WHERE items_fts MATCH ? "
                   "ORDER BY s LIMIT ?")
            rows = connection.execute(sql, (match, k)).fetchall()
        else:
            sql = ("SELECT f.rowid, bm25(items_fts) AS s FROM items_fts f JOIN items i ON i.key = f.rowid "
                   f"WHERE items_fts MATCH ? AND {where} ORDER BY s LIMIT ?")
            rows = connection.execute(sql, [match, *params, k]).fetchall()
        return [KeywordMatch(int(key), -float(score)) for key, score in rows]  # FTS5's bm25 is lower-is-better

    def metadata_kinds(self, path: str, wanted: Sequence[str] = ()) -> set[str]:
        """JSON types (``json_type`` names) of the values at ``path`` (from :func:`field_path`) in items' metadata.

        Returns the type of the first value that is one of ``wanted`` (any type when empty), so a field that
        items have costs a read of a few rows; only when there is none does it read every item and return
        every type found there (empty when no item has the field).
        """
        connection = self._reader()
        marks = ", ".join("?" for _ in wanted)
        test = f"IN ({marks})" if wanted else "IS NOT NULL"
        row = connection.execute(f"SELECT json_type(metadata, ?) AS t FROM items WHERE t {test} LIMIT 1",
                                 [path, *wanted]).fetchone()
        if row is not None:
            return {row[0]}
        if not wanted:
            return set()
        rows = connection.execute("SELECT DISTINCT json_type(metadata, ?) AS t FROM items WHERE t IS NOT NULL",
                                  [path]).fetchall()
        return {kind for (kind,) in rows}


def _metadata_json(record: Record) -> str:
    try:
        return json.dumps(record.metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"the metadata of item {record.id!r} cannot be stored as JSON ({error}); use text, "
                          "finite numbers, booleans, lists and mappings.") from None


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # a committed batch survives power loss too
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def stored_item(row: tuple) -> StoredItem:
    """An item from a row of ``SELECT id, text, metadata, created_at, updated_at, key``."""
    return StoredItem(id=row[0], text=row[1], metadata=json.loads(row[2]), created_at=row[3],
                      updated_at=row[4], key=row[5])


def _unpack(rows: list[tuple[int, bytes]], dim: int) -> VectorBatch:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return VectorBatch(ids, np.zeros((0, dim), dtype=np.float32))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return VectorBatch(ids, vectors)
