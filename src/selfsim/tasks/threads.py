"""How many threads FAISS may use for a piece of work.

FAISS parallelises with OpenMP, whose threads spin while they wait; for small
inputs on a busy machine that costs a hundred times the work itself (a k-means
of a few hundred points: 200 ms with two threads, 1 ms with one). Small work
runs on one thread; large work keeps FAISS's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from selfsim.threads import single_threaded_faiss

# Below this many multiply-adds, one thread is faster than waking several.
SMALL_WORK = 50_000_000
# k-means synchronises its threads at every step of every iteration; on a machine whose cores are
# busy with other work that made two threads twenty times slower than one (20k x 50, k=50: 21 s
# against 1 s), so it stays on one thread unless the work is very large.
KMEANS_PARALLEL_WORK = 2e12


@contextmanager
def faiss_threads_for(work: float, parallel_from: float = SMALL_WORK) -> Iterator[None]:
    """Run the block with one FAISS thread when ``work`` (multiply-adds) is below ``parallel_from``."""
    if work >= parallel_from:
        yield
        return
    with single_threaded_faiss():
        yield
