"""The collection database's tables, and the upgrade from older schema versions.

``schema_version`` in the ``meta`` table says which of these a file holds;
:meth:`selfsim.store.database.Database.open` upgrades older files in place.
"""

from __future__ import annotations

import sqlite3

from selfsim.store.lexical import TOKENIZER

SCHEMA_VERSION = 2

_ITEMS = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    generation INTEGER NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so vector ids stay unambiguous
    item_key INTEGER NOT NULL REFERENCES items(key),
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    generation INTEGER NOT NULL
);
CREATE INDEX chunks_item ON chunks(item_key);
CREATE INDEX chunks_generation ON chunks(generation);
CREATE TABLE encoders (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    dim INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE embeddings (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id),
    encoder_id INTEGER NOT NULL REFERENCES encoders(id),
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, encoder_id)
);
CREATE TABLE tombstones (chunk_id INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX tombstones_generation ON tombstones(generation);
CREATE VIRTUAL TABLE items_fts USING fts5(text, tokenize='{TOKENIZER}');
"""

# Metadata about items rather than items (selfsim.store.labels, selfsim.store.interactions): writing it
# neither bumps the generation nor touches the vector index. Schema 2 added these tables; ``IF NOT EXISTS``
# lets the same statements upgrade a schema-1 file, where they were made on first write.
_ITEM_METADATA = """
CREATE TABLE IF NOT EXISTS labels (
    task TEXT NOT NULL,
    item_id TEXT NOT NULL,
    source TEXT NOT NULL,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,
    probabilities TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (task, source, item_id)
);
CREATE INDEX IF NOT EXISTS labels_item ON labels(item_id);
CREATE TABLE IF NOT EXISTS interactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    item TEXT NOT NULL,
    timestamp REAL NOT NULL,
    event TEXT NOT NULL DEFAULT '',
    weight REAL NOT NULL DEFAULT 1.0,
    UNIQUE (user, item, timestamp, event)
);
CREATE INDEX IF NOT EXISTS interactions_user ON interactions(user, timestamp, seq);
CREATE INDEX IF NOT EXISTS interactions_item ON interactions(item);
CREATE TABLE IF NOT EXISTS user_vectors (
    model TEXT NOT NULL,
    user TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, user)
);
"""


def create_tables(connection: sqlite3.Connection) -> None:
    """Make every table of the current schema (inside the caller's transaction)."""
    _execute_script(connection, _ITEMS + _ITEM_METADATA)


def upgrade_from_schema_1(connection: sqlite3.Connection) -> None:
    """Bring a schema-1 file to the current schema (inside the caller's transaction)."""
    _execute_script(connection, _ITEM_METADATA)


def _execute_script(connection: sqlite3.Connection, script: str) -> None:
    # executescript would commit the caller's transaction, so statements run one by one
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)
