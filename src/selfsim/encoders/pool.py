"""Several encoder processes, one thread each, behind the one Encoder protocol.

On a few cores, one process that spreads each small batch over every core
spends much of its time waking and joining threads; several single-threaded
processes, each encoding whole batches, keep every core busy instead. The
pool is for bulk work (indexing, re-encoding); a few texts are encoded in the
calling process, which already holds the model.

Each worker loads the same weights with the same backend, so the vectors carry
the caller's ``version``. The texts are sorted by length and dealt out in
groups of whole batches, so every batch pads only to its own longest text, as
in one process (int8 vectors then still differ at cosine ~0.99 from a
different batching, a property of dynamic quantisation, not of the pool).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed

import numpy as np

from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.errors import ConfigError

BATCHES_PER_TASK = 4  # batches a worker takes at a time: small enough to keep both busy to the end


class EncoderPool:
    """``processes`` workers running ``local``'s model, each on one thread.

    ``load`` builds a worker's encoder: a picklable callable such as
    ``functools.partial(load_encoder, name, backend, threads=1)``. Use the pool as a
    context manager (or call :meth:`close`) so the workers exit; they start on the
    first bulk call.
    """

    def __init__(self, local: Encoder, load: Callable[[], Encoder], processes: int) -> None:
        if processes < 1:
            raise ConfigError(f"processes must be at least 1 (got {processes}).")
        self.local = local
        self.name, self.version, self.dim = local.name, local.version, local.dim
        self.load, self.processes = load, processes
        self._executor: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: a forked copy of a process that already runs OpenMP threads can hang.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.processes, mp_context=context, initializer=_load_worker,
                                                 initargs=(self.load, self.version))
        return self._executor

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed ``texts`` into unit-length float32 vectors of shape ``(N, dim)``, spread over the workers."""
        batch_size = max(batch_size, 1)
        if self.processes == 1 or len(texts) < 2 * batch_size:
            return self.local.encode(texts, batch_size=batch_size, progress=progress)
        executor = self._start()
        order = np.argsort([len(t) for t in texts], kind="stable")
        step = batch_size * BATCHES_PER_TASK
        futures: dict[Future, np.ndarray] = {}
        for first in range(0, len(texts), step):
            picked = order[first:first + step]
            futures[executor.submit(_encode, [texts[i] for i in picked], batch_size)] = picked
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for future in as_completed(futures):
            picked = futures[future]
            out[picked] = future.result()
            if progress is not None:
                progress(len(picked))
        return out

    def close(self) -> None:
        """Stop the workers (they start again on the next bulk call)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> EncoderPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def default_processes() -> int:
    """One process per core this process may run on."""
    return len(os.sched_getaffinity(0))


_worker: Encoder | None = None


_expected_version = ""


def _load_worker(load: Callable[[], Encoder], version: str) -> None:
    """Build this worker's encoder."""
    global _worker, _expected_version
    _worker, _expected_version = load(), version


def _encode(texts: list[str], batch_size: int) -> np.ndarray:
    assert _worker is not None, "the pool initialiser loads the encoder"
    if _worker.version != _expected_version:  # the directory changed under us: never mix two models' vectors
        raise ConfigError(f"the model directory now holds other weights ({_worker.version}, not "
                          f"{_expected_version}); rerun without --processes.")
    return _worker.encode(texts, batch_size=batch_size)
