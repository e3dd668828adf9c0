"""What the service holds: the open collections, each with the lock that makes one handle safe to share.

FastAPI runs each request in a thread of its pool, but a :class:`~selfsim.app.Collection` handle
shares one SQLite connection between threads: reads are safe side by side (the store locks its
snapshots and its index), while a write transaction begun beside another thread's snapshot would
fail (label and interaction writes do not take the store's lock). So each collection has a
readers-writer lock: any number of reads at once, or one write alone.

Background jobs (topics, classifier fit, recommender training, adapt) never use the shared handle:
each opens a handle of its own, as a second process would, and SQLite's own locking keeps the two
apart; the served handle catches up with what the job wrote on its next read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from selfsim.app import Collection
from selfsim.errors import NotFoundError


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back, so writes are not starved."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock shared for the block."""
        with self._condition:
            while self._writer or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock alone for the block."""
        with self._condition:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._condition.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()


class ServedCollection:
    """One collection the service opened: its name, its handle and its lock."""

    def __init__(self, name: str, collection: Collection) -> None:
        self.name = name
        self.collection = collection
        self.path = collection.path
        self.lock = ReadWriteLock()

    @contextmanager
    def reading(self) -> Iterator[Collection]:
        """The handle, for reads that may run beside other reads."""
        with self.lock.reading():
            yield self.collection

    @contextmanager
    def writing(self) -> Iterator[Collection]:
        """The handle, alone, for a write."""
        with self.lock.writing():
            yield self.collection

    def open_private(self) -> Collection:
        """A handle of its own on the same directory (for a background job), sharing the loaded encoder."""
        with self.reading() as shared:
            encoder = shared.encoder
        return Collection.open(self.path, encoder=encoder)

    def reopen(self) -> None:
        """Replace the shared handle by a fresh one (after a job switched the collection's encoder)."""
        with self.lock.writing():
            old = self.collection
            self.collection = Collection.open(self.path)
            old.close()


class Registry:
    """The collections one service serves, by name."""

    def __init__(self, collections: Mapping[str, Collection]) -> None:
        self.by_name = {name: ServedCollection(name, collection) for name, collection in collections.items()}

    def get(self, name: str) -> ServedCollection:
        """The collection called ``name``; a :class:`NotFoundError` that lists the names otherwise."""
        served = self.by_name.get(name)
        if served is None:
            raise NotFoundError(f"no collection called {name!r} is served here; check the name in the URL "
                                "(GET /api/collections lists the ones your key opens).")
        return served

    def __iter__(self) -> Iterator[ServedCollection]:
        return iter(self.by_name.values())
