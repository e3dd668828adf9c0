"""Searches in some threads while another thread adds items: the HTTP service and its background jobs do this.

A FAISS index is not safe to search while a sync adds to it, so the store searches under its lock; here every
search must return items that exist, and nothing may raise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from selfsim import Collection

TOPICS = ["gzip files", "email messages", "thread pools", "password hashing", "csv parsing", "http servers"]


def _records(start: int, count: int) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "text": f"note {i} about {TOPICS[i % len(TOPICS)]} and how to handle them"}
            for i in range(start, start + count)]


@pytest.mark.parametrize("index", ["Flat", "HNSW32"])
def test_searches_during_writes_return_stored_items(make_collection: Callable[..., Collection], index: str) -> None:
    collection = make_collection(_records(0, 20), index=index)
    written = threading.Event()
    failures: list[BaseException] = []
    seen: set[str] = set()

    def write() -> None:
        try:
            for batch in range(12):
                collection.add(_records(20 + 5 * batch, 5))
        except BaseException as error:  # reported by the assertion below
            failures.append(error)
        finally:
            written.set()

    def search(query: str) -> None:
        try:
            while not written.is_set():
                seen.update(hit.id for hit in collection.search(query, k=5, mode="dense"))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=search, args=(topic,))
                                                 for topic in TOPICS[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(collection) == 80
    assert seen and seen <= {f"n{i}" for i in range(80)}
