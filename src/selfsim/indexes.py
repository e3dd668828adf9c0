"""Building FAISS indexes from spec strings, shared by the store's vector index and the jobs on plain arrays.

A base module (like :mod:`selfsim.threads`): it imports nothing of selfsim but the errors, so the pure
task modules (duplicates over an array of vectors) and the store (a collection's index) build their
indexes the same way without one importing the other.
"""

from __future__ import annotations

import faiss
import numpy as np

from selfsim.errors import ConfigError


def new_index(spec: str, dim: int, advice: str = "use a spec such as Flat, HNSW32 or IVF256,Flat") -> faiss.Index:
    """An empty inner-product FAISS index of ``spec``; a spec FAISS cannot build is a :class:`ConfigError`
    ending in ``advice``."""
    try:
        return faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ConfigError(f"{spec!r} is not an index FAISS can build ({str(error).splitlines()[-1]}); "
                          f"{advice}.") from None


def train_index(index: faiss.Index, vectors: np.ndarray, sample: int | None = None, seed: int = 0) -> None:
    """Train ``index`` if it needs training: on all ``vectors``, or on ``sample`` of them drawn with ``seed``."""
    if index.is_trained:
        return
    if sample is not None:  # drawn even when it is all of them: the draw's order seeds FAISS's k-means
        vectors = vectors[np.random.default_rng(seed).choice(len(vectors), min(sample, len(vectors)), replace=False)]
    index.train(np.ascontiguousarray(vectors, dtype=np.float32))


def build_item_index(vectors: np.ndarray, spec: str = "Flat", seed: int = 0) -> faiss.Index:
    """A FAISS index of ``spec`` over ``vectors`` (unit rows) keyed by row number, for jobs on plain arrays.

    An index that needs training is trained on a sample of 64 vectors per list and probes up to 32 lists.
    Collections keep their vectors in a :class:`VectorIndex` instead, keyed by chunk id.
    """
    count, dim = vectors.shape
    index = new_index(spec, dim, "use auto, Flat, HNSW32 or IVF1024,Flat")
    ivf = faiss.try_extract_index_ivf(index)
    train_index(index, vectors, sample=min(count, 64 * (int(ivf.nlist) if ivf is not None else 256)), seed=seed)
    if ivf is not None:
        ivf.nprobe = min(int(ivf.nlist), 32)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index
