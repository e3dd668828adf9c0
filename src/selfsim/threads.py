"""Thread counts for small pieces of work.

PyTorch and FAISS parallelise with OpenMP, whose threads spin while they wait.
For small inputs (one query's encoding, one query against an index) the
coordination costs more than the work, and on a machine whose cores are busy
with other processes it costs far more: measured on 2 shared cores, one short
query took 490 ms to encode with two threads and 26 ms with one. So small work
runs on one thread and large work (batch encoding, training) keeps the default.
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
