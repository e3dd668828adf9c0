"""How many threads FAISS may use for a piece of work.

FAISS parallelises with OpenMP, whose threads spin while they wait; for small
inputs on a busy machine that costs a hundred times the work itself (a k-means
of a few hundred points: 200 ms with two threads, 1 ms with one). Small work
runs on one thread; large work keeps FAISS's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import faiss

# Below this many multiply-adds, one thread is faster than waking several.
SMALL_WORK = 50_000_000


@contextmanager
def faiss_threads_for(work: float) -> Iterator[None]:
    """Run the block with one FAISS thread when ``work`` (multiply-adds) is small, else unchanged."""
    if work >= SMALL_WORK:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
