"""API keys of the HTTP service, kept in the collection's SQLite file.

A key is ``ss_<key id>_<secret>``: the key id (12 hex digits) is public and names the key in
listings and logs; the secret (64 hex digits from :mod:`secrets`, 256 bits) is shown once, when the
key is made. The table holds only the SHA-256 of the whole key, so a copy of the collection
gives nobody a working key, and a presented key is compared with :func:`hmac.compare_digest`.
High-entropy secrets need no slow password hash: guessing one is hopeless either way.

The ``api_keys`` table is made on the first write (``CREATE TABLE IF NOT EXISTS``), so collections
made before keys existed open unchanged; each write is one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from selfsim.errors import InputError, NotFoundError
from selfsim.store.database import Database

ROLES: tuple[str, ...] = ("read", "write", "admin")  # each role may do everything the ones before it may
KEY_PREFIX = "ss"
_KEY = re.compile(r"^ss_([0-9a-f]{12})_([0-9a-f]{64})$")

_TABLE = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


@dataclass(frozen=True)
class ApiKey:
    """What the collection knows about one key: everything but the secret."""

    key_id: str
    name: str
    role: str
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (it no longer opens anything)."""
        return self.revoked_at is not None

    def allows(self, role: str) -> bool:
        """Whether this key's role is ``role`` or above it."""
        return ROLES.index(self.role) >= ROLES.index(check_role(role))

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (no secret, no hash)."""
        return {"key_id": self.key_id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "revoked": self.revoked, "revoked_at": self.revoked_at}


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; an :class:`InputError` otherwise."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}.")
    return role


def key_hash(key: str) -> str:
    """The hex SHA-256 of a whole key, as the table stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The ``api_keys`` table of one collection database.

    ``lock`` (the store's lock) is held around each write, so a key written from one thread never
    begins a transaction inside another thread's snapshot on the shared connection.
    """

    def __init__(self, database: Database, lock: threading.RLock | None = None) -> None:
        self.database = database
        self._lock = lock

    def _locked(self) -> AbstractContextManager[object]:
        return self._lock if self._lock is not None else nullcontext()

    def _table_exists(self) -> bool:
        row = self.database.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").fetchone()
        return row is not None

    # -- writes ----------------------------------------------------------------------------------

    def create(self, role: str, name: str = "") -> tuple[ApiKey, str]:
        """Make a key with ``role`` in one transaction; returns its record and the key itself, which
        is not stored anywhere and cannot be shown again."""
        check_role(role)
        name = name.strip()
        with self._locked(), self.database.transaction() as connection:
            connection.execute(_TABLE)
            while True:
                key_id = secrets.token_hex(6)
                if connection.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone() is None:
                    break
            key = f"{KEY_PREFIX}_{key_id}_{secrets.token_hex(32)}"
            record = ApiKey(key_id, name, role, time.time())
            connection.execute("INSERT INTO api_keys (key_id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                               (key_id, name, role, key_hash(key), record.created_at))
        return record, key

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key ``key_id`` (its id, or the whole key) in one transaction; revoking twice is harmless."""
        key_id = self._id_of(key_id)
        with self._locked(), self.database.transaction() as connection:
            connection.execute(_TABLE)
            connection.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                               (time.time(), key_id))
        found = self.get(key_id)
        if found is None:
            raise NotFoundError(f"no key with id {key_id!r} in {self.database.path.parent}; "
                                "`selfsim keys list` shows the key ids.")
        return found

    # -- reads -----------------------------------------------------------------------------------

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        if not self._table_exists():
            return []
        rows = self.database.connection.execute(
            "SELECT key_id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id").fetchall()
        return [ApiKey(*row) for row in rows]

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        if not self._table_exists():
            return None
        row = self.database.connection.execute(
            "SELECT key_id, name, role, created_at, revoked_at FROM api_keys WHERE key_id = ?",
            (key_id,)).fetchone()
        return ApiKey(*row) if row else None

    def active(self) -> int:
        """How many keys are not revoked."""
        return sum(not key.revoked for key in self.list())

    def verify(self, key: str) -> ApiKey | None:
        """The key's record if ``key`` is a whole, unrevoked key of this collection; None otherwise."""
        match = _KEY.match(key)
        if match is None or not self._table_exists():
            return None
        row = self.database.connection.execute(
            "SELECT key_id, name, role, created_at, revoked_at, hash FROM api_keys WHERE key_id = ?",
            (match[1],)).fetchone()
        if row is None or not hmac.compare_digest(row[5], key_hash(key)) or row[4] is not None:
            return None
        return ApiKey(*row[:5])

    def _id_of(self, key_id: str) -> str:
        key_id = key_id.strip()
        match = _KEY.match(key_id)
        if match is not None:
            return match[1]
        if not re.fullmatch(r"[0-9a-f]{12}", key_id):
            # the value is not echoed: it may be a mistyped secret
            raise InputError("that is not a key id; give the 12-character id that `selfsim keys list` shows.")
        return key_id
