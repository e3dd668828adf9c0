"""Thread counts for small pieces of work.

PyTorch and FAISS parallelise with OpenMP, whose threads spin while they wait.
For small inputs (one query's encoding, one query against an index) the
coordination costs more than the work, and on a machine whose cores are busy
with other processes it costs far more: measured on 2 shared cores, one short
query took 490 ms to encode with two threads and 26 ms with one. So small work
runs on one thread and large work (batch encoding, training) keeps the default.
FAISS's k-means is the same story: a k-means of a few hundred points took 200 ms
with two threads and 1 ms with one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run the block with one PyTorch intra-op thread (switching costs well under a microsecond)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def single_threaded_faiss() -> Iterator[None]:
    """Run the block with one FAISS (OpenMP) thread."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


# Below this many multiply-adds, one FAISS thread is faster than waking several.
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
