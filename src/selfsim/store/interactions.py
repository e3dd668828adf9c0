"""Interactions in the collection: who touched which item when, and the user vectors a recommender learned.

Events live in the collection's SQLite file, in the ``interactions`` and
``user_vectors`` tables of :mod:`selfsim.store.schema`, beside the labels.
An item of an event may or may not also be a text item of the collection:
events are about ids, and when an id is also a text item its embedding is
there for content-aware recommendation.
Writing events or user vectors does not bump the store generation and never
touches the vector index. The same event (user, item, timestamp, event type)
is stored once, so importing a file twice changes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from selfsim.data.interactions import Interaction, InteractionLog
from selfsim.data.records import check_id
from selfsim.errors import InputError, NotFoundError
from selfsim.store.database import Database


@dataclass(frozen=True)
class InteractionStats:
    """How many events, users and items the collection holds, and how many items are also text items."""

    events: int
    users: int
    items: int
    items_with_text: int


def _row(event: Interaction) -> tuple[str, str, float, str, float]:
    timestamp, weight = float(event.timestamp), float(event.weight)
    if not (math.isfinite(timestamp) and math.isfinite(weight)):
        raise InputError(f"the event of user {event.user!r} on item {event.item!r} has a timestamp or weight that "
                         "is not a finite number; give both as plain numbers.")
    return check_id(event.user, "user"), check_id(event.item, "item"), timestamp, event.event or "", weight


class InteractionStore:
    """The interaction and user-vector tables of one collection database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writes ----------------------------------------------------------------------------------

    def put(self, interactions: Iterable[Interaction]) -> int:
        """Store events in one transaction; returns how many were new (repeats are ignored).

        Users and items follow the id rule of :mod:`selfsim.data.records` (``1`` is ``"1"``); a bad
        id or a timestamp or weight that is not a finite number is an :class:`InputError` and
        nothing is written.
        """
        rows = [_row(e) for e in interactions]
        connection = self.database.connection
        with self.database.transaction():
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO interactions (user, item, timestamp, event, weight) VALUES (?, ?, ?, ?, ?)",
                rows)
            added = connection.total_changes - before
        return int(added)

    def delete_user(self, user: str) -> int:
        """Forget a user's events and vectors; returns how many events went."""
        with self.database.transaction():
            cursor = self.database.connection.execute("DELETE FROM interactions WHERE user = ?", (user,))
            self.database.connection.execute("DELETE FROM user_vectors WHERE user = ?", (user,))
        return int(cursor.rowcount)

    def put_user_vectors(self, model: str, users: Sequence[str], vectors: np.ndarray) -> None:
        """Replace the vectors of ``model`` by these, one per user, in one transaction."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        now = time.time()
        with self.database.transaction():
            self.database.connection.execute("DELETE FROM user_vectors WHERE model = ?", (model,))
            self.database.connection.executemany(
                "INSERT INTO user_vectors (model, user, vector, created_at) VALUES (?, ?, ?, ?)",
                [(model, user, vector.tobytes(), now) for user, vector in zip(users, vectors, strict=True)])

    # -- reads -----------------------------------------------------------------------------------

    def stats(self) -> InteractionStats:
        """Counts of events, users and items, and of items that are also text items."""
        connection = self.database.connection
        events, users, items = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT user), COUNT(DISTINCT item) FROM interactions").fetchone()
        with_text = connection.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT item FROM interactions) d JOIN items i ON i.id = d.item"
        ).fetchone()[0]
        return InteractionStats(int(events), int(users), int(items), int(with_text))

    def log(self) -> InteractionLog:
        """Every user's items in time order (ties in the order they were stored)."""
        sequences: dict[str, list[str]] = {}
        for user, item in self.database.connection.execute(
                "SELECT user, item FROM interactions ORDER BY user, timestamp, seq"):
            sequences.setdefault(user, []).append(item)
        if not sequences:
            raise NotFoundError(f"{self.database.path.parent} holds no interactions; import some with "
                                "`selfsim interactions import` first.")
        return InteractionLog.from_sequences(sequences)

    def history(self, user: str) -> list[str]:
        """The items of ``user`` in time order; an unknown user is an error."""
        rows = self.database.connection.execute(
            "SELECT item FROM interactions WHERE user = ? ORDER BY timestamp, seq", (user,)).fetchall()
        if not rows:
            raise NotFoundError(f"no user {user!r} in the interactions of {self.database.path.parent}; check the id, "
                                "or pass the items with --history for an anonymous session.")
        return [row[0] for row in rows]

    def user_vectors(self, model: str, users: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """``(users, vectors)`` stored for ``model`` (all users, or those given that have one)."""
        rows = self.database.connection.execute(
            "SELECT user, vector FROM user_vectors WHERE model = ? ORDER BY user", (model,)).fetchall()
        if users is not None:
            wanted = set(users)
            rows = [row for row in rows if row[0] in wanted]
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return [r[0] for r in rows], vectors.copy()
