"""The chunk ids that recent metadata filters let through, remembered for one store generation.

Evaluating a filter is a scan of every item's JSON metadata in SQLite: about 0.5 us an item, so
~50 ms over 100k items, several times the vector search it restricts. Searches often repeat a
filter (a facet in a UI, a tenant or language field), so the ids a filter passes are kept until
the store's generation moves on. Every committed write, metadata updates included, bumps the
generation, so a cached set is never staler than the state it was read from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

DEFAULT_ENTRIES = 32
# Ids held across all entries (8 bytes each): 4M ids is 32 MB, forty filters passing 10% of 1M chunks.
DEFAULT_MAX_IDS = 4_000_000


class FilterCache:
    """A least-recently-used map from a compiled filter to the chunk ids it passed at one generation.

    Safe to share between threads: hybrid search evaluates a filter beside the query encoding.
    """

    def __init__(self, entries: int = DEFAULT_ENTRIES, max_ids: int = DEFAULT_MAX_IDS) -> None:
        self.entries = entries
        self.max_ids = max_ids
        self._held: OrderedDict[Hashable, tuple[int, np.ndarray]] = OrderedDict()
        self._ids = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, generation: int) -> np.ndarray | None:
        """The ids cached for ``key`` at ``generation``, or None (an entry of another generation is dropped)."""
        with self._lock:
            found = self._held.get(key)
            if found is None:
                return None
            if found[0] != generation:
                self._drop(key)
                return None
            self._held.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, generation: int, ids: np.ndarray) -> None:
        """Remember ``ids`` for ``key`` at ``generation``, forgetting the least recently used beyond the limits.

        A set larger than the whole budget is not kept: it would push out every other entry.
        """
        if len(ids) > self.max_ids:
            return
        ids.setflags(write=False)  # shared by every search that hits it
        with self._lock:
            if key in self._held:
                self._drop(key)
            self._held[key] = (generation, ids)
            self._ids += len(ids)
            while len(self._held) > self.entries or self._ids > self.max_ids:
                self._drop(next(iter(self._held)))

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._held.clear()
            self._ids = 0

    def _drop(self, key: Hashable) -> None:
        _, ids = self._held.pop(key)
        self._ids -= len(ids)
