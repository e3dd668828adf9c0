"""Building FAISS indexes from spec strings, shared by the store's vector index and the jobs on plain arrays.

A base module (like :mod:`selfsim.threads`): it imports nothing of selfsim but the errors, so the pure
task modules (duplicates over an array of vectors) and the store (a collection's index) build their
indexes the same way without one importing the other.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import faiss
import numpy as np

from selfsim.errors import ConfigError

AUTO = "auto"
# Where ``auto`` changes kind, measured on 2 shared cores with 384-d vectors (benchmarks/ann_scale.py,
# benchmarks/results/ann_scale.json). Flat is exact and needs no build: one query scans 50k vectors in
# ~5 ms (p99 7 ms) on one thread, 100k in ~10 ms (p99 11-14 ms), growing with the collection, while HNSW32
# answers 1M in ~1.6 ms (p99 ~3 ms) at recall@10 0.96. HNSW32 keeps every vector uncompressed plus its
# graph (1.8 kB a vector) and built 1M vectors in 5.5 minutes (3,100 a second; 12 minutes on busy cores),
# so past 2M vectors (3.6 GB, and a rebuild of 15-30 minutes) IVF-PQ re-ranked from 8-bit vectors takes
# over: 0.45 kB a vector, built at 5,000-10,000 a second, recall@10 0.95-0.96 at a p99 of 1-2 ms on 1M.
AUTO_FLAT_BELOW = 50_000
AUTO_HNSW_BELOW = 2_000_000
# ``VQ{M}[x{bits}][,R{depth}]``: selfsim's learned quantiser (:mod:`selfsim.store.vq_index`), M one-byte codes
# a vector, re-ranked exactly from the stored float vectors. On SciFact's 7,491 MiniLM chunks (compression
# benchmark) 48 codes of 256 gave recall@10 0.995 re-ranking 50 candidates and 0.9995 at 100; on 1M vectors
# drawn from a mixture fitted to MiniLM chunks 0.978 at 100 and 0.994 at 200: hence 200 by default.
VQ_PATTERN = re.compile(r"VQ(?P<codebooks>\d+)(?:x(?P<bits>\d+))?(?:,R(?P<rerank>\d+))?")
VQ_DEFAULT_RERANK = 200
# A VQ index trains once it has this many vectors per code of a codebook: k-means with fewer leaves codes
# that stand for one or two vectors each, and until then the exact Flat fallback costs at most ~1.5 MB
# (1,024 MiniLM vectors at 256 codes).
VQ_VECTORS_PER_CODE = 4


@dataclass(frozen=True)
class VQSpec:
    """A parsed ``VQ`` spec: ``codebooks`` one-byte codes per vector, ``2 ** bits`` codes per codebook, and the
    ``rerank`` best candidates by code re-scored exactly (at least the number of results asked for)."""

    codebooks: int
    bits: int = 8
    rerank: int = VQ_DEFAULT_RERANK

    @property
    def codes(self) -> int:
        """Codes per codebook."""
        return 2 ** self.bits

    @property
    def training_minimum(self) -> int:
        """How many vectors training needs (see :data:`VQ_VECTORS_PER_CODE`); fewer are searched exactly."""
        return VQ_VECTORS_PER_CODE * self.codes


def vq_spec(spec: str) -> VQSpec | None:
    """The :class:`VQSpec` a ``VQ...`` spec names (``VQ48``, ``VQ16x6``, ``VQ48,R100``), None for any other spec;
    a malformed VQ spec is a :class:`ConfigError`."""
    if not spec.startswith("VQ"):
        return None
    match = VQ_PATTERN.fullmatch(spec)
    parsed = None
    if match is not None:
        bits, rerank = match["bits"], match["rerank"]
        parsed = VQSpec(int(match["codebooks"]), int(bits) if bits else 8,
                        int(rerank) if rerank else VQ_DEFAULT_RERANK)
    if parsed is None or parsed.codebooks < 1 or not 1 <= parsed.bits <= 8 or parsed.rerank < 1:
        raise ConfigError(f"{spec!r} is not a VQ index spec; write VQ<codebooks>[x<bits, 1-8>][,R<re-rank depth>], "
                          "e.g. VQ48 (48 bytes a vector) or VQ48,R100.")
    return parsed


def new_index(spec: str, dim: int, advice: str = "use a spec such as Flat, HNSW32 or IVF256,Flat") -> faiss.Index:
    """An empty inner-product FAISS index of ``spec``; a spec FAISS cannot build is a :class:`ConfigError`
    ending in ``advice``."""
    try:
        return faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ConfigError(f"{spec!r} is not an index FAISS can build ({str(error).splitlines()[-1]}); "
                          f"{advice}.") from None


def auto_spec(count: int, dim: int) -> str:
    """The spec ``"auto"`` stands for over ``count`` vectors of ``dim`` dimensions: exact ``Flat`` below
    :data:`AUTO_FLAT_BELOW`, ``HNSW32`` below :data:`AUTO_HNSW_BELOW`, IVF-PQ re-ranked from 8-bit
    scalar-quantised vectors beyond (``nlist`` near 4 sqrt(count), a power of two; 8 dimensions per PQ code)."""
    if count < AUTO_FLAT_BELOW:
        return "Flat"
    if count < AUTO_HNSW_BELOW:
        return "HNSW32"
    nlist = 2 ** round(math.log2(4 * math.sqrt(count)))
    codes = max(d for d in range(1, max(dim // 8, 1) + 1) if dim % d == 0)  # PQ needs a divisor of dim
    return f"IVF{nlist},PQ{codes},Refine(SQ8)"


def training_minimum(index: faiss.Index) -> int:
    """How many vectors an (empty) ``index`` needs to be trained: its IVF lists, and 256 for a PQ codebook."""
    ivf = faiss.try_extract_index_ivf(index)
    needs_codebook = "PQ" in type(index).__name__ or (ivf is not None and "PQ" in type(ivf).__name__)
    return max(int(ivf.nlist) if ivf is not None else 1, 256 if needs_codebook else 1)


def planned_spec(spec: str, count: int, dim: int) -> str:
    """What an index asked for as ``spec`` is built as over ``count`` vectors: ``"auto"`` resolved by
    :func:`auto_spec`, and exact ``Flat`` while there are too few vectors to train the index asked for."""
    if spec == AUTO:
        spec = auto_spec(count, dim)
    if spec != "Flat" and count < spec_training_minimum(spec, dim):
        return "Flat"  # for VQ too: its codes are trained, like IVF lists and PQ codebooks
    return spec


@functools.lru_cache(maxsize=128)
def spec_training_minimum(spec: str, dim: int) -> int:
    """:func:`training_minimum` of an index of ``spec`` (a VQ spec's :attr:`VQSpec.training_minimum`), remembered:
    making an empty index takes milliseconds, and every query asks (is the collection's index due for a rebuild?)."""
    parsed = vq_spec(spec)
    if parsed is not None:
        return parsed.training_minimum
    return training_minimum(new_index(spec, dim))


def spec_rank(spec: str) -> int:
    """How far along ``auto``'s ladder a spec is (Flat 0, graph or codes 1 (VQ too), inverted lists 2): an index is
    rebuilt when it has grown into a higher rank, never automatically down to a lower one."""
    if spec == "Flat":
        return 0
    return 2 if spec.startswith("IVF") else 1


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
