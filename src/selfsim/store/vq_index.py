"""The ``VQ`` index kind of a collection: learned-quantiser codes in memory, candidates re-ranked exactly.

``VQ48`` keeps each chunk as 48 one-byte code ids of selfsim's learned quantiser
(:mod:`selfsim.objectives.vector_quantisation`, product form with a Procrustes rotation) plus its int64 id:
56 bytes a vector instead of the 1,536 of a 384-d float32 one. A search scores every code (or only the allowed
ones, under a filter) by lookup tables (:class:`~selfsim.store.quantised.QuantisedIndex`), then re-scores the
best ``R`` candidates exactly from their float vectors, which the collection reads from SQLite through the
``fetch`` it gives the index: the scores a search returns are exact inner products. The spec grammar is
``VQ{codebooks}[x{bits}][,R{depth}]`` (:func:`selfsim.indexes.vq_spec`): ``VQ48`` is 48 codebooks of 256
codes re-ranking 200 candidates, ``VQ16x6,R50`` 16 codebooks of 64 codes re-ranking 50.

The quantiser is trained when the index is built (:meth:`VQIndex.build`) on the collection's vectors (a
sample of :data:`TRAIN_PER_CODE` per code when there are more); vectors added later are encoded with it,
deleted ones drop their codes, and a quantiser trained on a small collection is retrained as it grows
(:data:`RETRAIN_GROWTH`). Below :attr:`~selfsim.indexes.VQSpec.training_minimum` vectors (4 per code:
1,024 for 256 codes) there is nothing to train on yet and the collection searches exactly (``Flat``) until it
grows past that, when its index is rebuilt as VQ, as the IVF kinds do.

Saved as a directory (the quantiser's ``config.json`` and safetensors, the codes and ids in safetensors, a JSON
summary; no pickle) beside the other index files, under the same manifest, lock and generation rules as
:meth:`VectorIndex.save`: the directory is complete and synced before it takes its name, and only then does
the manifest point at it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError

from selfsim.errors import ConfigError, SelfsimError
from selfsim.indexes import VQSpec, vq_spec
from selfsim.objectives.vector_quantisation import VQConfig, fit_quantiser
from selfsim.store.quantised import QuantisedIndex
from selfsim.store.vectors import Fetch, VectorIndex, _empty, _fsync, _fsync_directory

# Training sample per code: 25,600 vectors for 256 codes, as the compression benchmark's 1M run trained on
# (recall@10 0.994 re-ranking 200); more only lengthens training (~45 s on one core at 48 codebooks).
TRAIN_PER_CODE = 100
TRAIN_SEED = 0
# A quantiser trained on fewer than TRAIN_PER_CODE vectors per code (an index trained when the collection first
# reached the minimum, then grown by adds) is retrained once the collection holds RETRAIN_GROWTH times as many
# vectors as it saw: codebooks fitted to the first thousand vectors stand for a larger collection only roughly.
# At most a few retrains happen (1,024 -> 4,096 -> 16,384 -> 65,536 vectors for 256 codes), never once trained on
# the full sample.
RETRAIN_GROWTH = 4


def training_config(spec: VQSpec) -> VQConfig:
    """How a ``VQ`` spec's quantiser is trained: the product form with OPQ's Procrustes rotation (the form the
    compression benchmark found best but for residual codes, which cost M times as much to encode and whose
    codebooks outweigh SciFact's float vectors), the other settings at :class:`VQConfig`'s defaults."""
    return VQConfig(form="product", transform="procrustes", codebooks=spec.codebooks, codes=spec.codes,
                    seed=TRAIN_SEED)


class VQIndex(VectorIndex):
    """A collection's vector index of learned-quantiser codes, re-ranked from the stored float vectors.

    The verbs and properties are :class:`VectorIndex`'s: removal happens in place (no tombstones), ``knobs``
    holds the re-ranking depth and :attr:`details` the memory and codebook usage.
    """

    _kind = "vq"
    _suffix = ".vq"

    def __init__(self, spec: str, dim: int, codes: QuantisedIndex, generation: int = 0) -> None:
        parsed = vq_spec(spec)
        assert parsed is not None, spec
        super().__init__(spec, dim, None, spec, generation)
        self.codes = codes
        self.rerank = parsed.rerank

    @classmethod
    def build(cls, spec: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
              generation: int = 0, fetch: Fetch | None = None) -> VQIndex:
        """Train the quantiser ``spec`` names on ``vectors`` (a sample, past :data:`TRAIN_PER_CODE` per code)
        and store their codes under ``ids``; ``fetch`` reads float vectors by id for re-ranking."""
        parsed = vq_spec(spec)
        if parsed is None:
            raise ConfigError(f"{spec!r} is not a VQ spec; write e.g. VQ48.")
        if fetch is None:
            raise ConfigError("a VQ index re-ranks from the collection's stored vectors, so only a collection "
                              "can build one: use Collection.create(index=...) or selfsim index --index.")
        VectorIndex.check_spec(spec, dim)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) < parsed.training_minimum:
            raise ConfigError(f"{spec} needs {parsed.training_minimum:,} vectors to train on, not {len(vectors):,}; "
                              "until then a collection searches exactly.")
        wanted = TRAIN_PER_CODE * parsed.codes
        sample = vectors
        if len(vectors) > wanted:
            sample = vectors[np.sort(np.random.default_rng(TRAIN_SEED).choice(len(vectors), wanted, replace=False))]
        quantiser, report = fit_quantiser(sample, training_config(parsed))
        codes = QuantisedIndex(quantiser, fetch)
        codes.report = report
        codes.add(np.asarray(ids, dtype=np.int64), vectors)
        return cls(spec, dim, codes, generation)

    # -- what it is --------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many vectors the index holds codes of."""
        return self.codes.ntotal

    @property
    def outgrown(self) -> bool:
        """True when the collection has grown :data:`RETRAIN_GROWTH` times past the vectors the quantiser was
        trained on, while those were fewer than a full training sample: time to retrain (the store rebuilds)."""
        report = self.codes.report
        if report is None:
            return False
        full = TRAIN_PER_CODE * self.codes.quantiser.config.codes
        return report.vectors < full and self.size >= RETRAIN_GROWTH * report.vectors

    @property
    def wants_compaction(self) -> bool:
        """Never: removal drops codes in place."""
        return False

    @property
    def can_remove(self) -> bool:
        """Always: a removed id's codes are dropped."""
        return True

    @property
    def knobs(self) -> dict[str, int]:
        """``rerank``: how many candidates by code each search re-scores exactly (at least the ``k`` asked)."""
        return {"rerank": self.rerank}

    @property
    def details(self) -> dict[str, Any]:
        """Memory (bytes per vector: codes and id; the quantiser's own bytes) and codebook usage (mean and least
        perplexity over the codebooks of the stored codes, of at most ``codes_per_codebook``), and training."""
        memory = self.codes.memory()
        usage = self.codes.usage() if self.size else []
        report = self.codes.report
        config = self.codes.quantiser.config
        return {"bytes_per_vector": memory["bytes_per_vector"],
                "code_bytes_per_vector": memory["code_bytes_per_vector"], "index_bytes": memory["bytes"],
                "quantiser_bytes": memory["quantiser_bytes"],
                "codebooks": config.codebooks, "codes_per_codebook": config.codes,
                "codebook_perplexity": round(float(np.mean(usage)), 2) if usage else None,
                "least_codebook_perplexity": min(usage) if usage else None, "rerank": self.rerank,
                "trained_on": report.vectors if report else None,
                "training_seconds": report.seconds if report else None,
                "training_reconstruction_mse": round(report.reconstruction_mse, 5) if report else None}

    # -- verbs -------------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Encode ``vectors`` (N, dim) with the trained quantiser and store their codes under ``ids`` (N,)."""
        if not len(ids):
            return
        self.codes.add(np.asarray(ids, dtype=np.int64), vectors)

    def remove(self, ids: np.ndarray) -> None:
        """Drop the codes of these ids (ids not present are ignored)."""
        if len(ids):
            self.codes.remove(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               ef_search: int | None = None, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ids per query row, restricted to ``allowed`` ids when given (only their codes are
        scored): the best ``max(rerank, k)`` by code, re-scored exactly. ``ef_search`` and ``nprobe`` do not
        apply and are ignored. Returns ``(scores, ids)`` of shape ``(Q, k)``, id -1 where there is no result."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k <= 0 or self.size == 0:
            return _empty(len(queries), max(k, 0))
        return self.codes.search(queries, k, rerank=max(self.rerank, k), allowed=allowed)

    def prefilters(self, allowed: int) -> bool:
        """Whether a search restricted to ``allowed`` ids is exact: when they fit in the re-ranking depth."""
        return allowed <= self.rerank

    def ids(self) -> np.ndarray:
        """Every id the index holds codes of, in storage order."""
        return self.codes.ids.copy()

    def _stored_ids(self) -> np.ndarray:
        return self.codes.ids

    # -- persistence -------------------------------------------------------------------------------

    def _write(self, path: Path) -> None:
        """Write the index's directory at ``path`` (a new name) and sync every file in it and the directory."""
        self.codes.save(path)
        for folder, _, files in os.walk(path):
            for name in files:
                _fsync(Path(folder) / name)
            _fsync_directory(Path(folder))

    @classmethod
    def read(cls, directory: Path, manifest: dict[str, Any], fetch: Fetch | None) -> VQIndex | None:
        """The index a manifest of kind ``vq`` points at, or None when it cannot be read (the collection
        then rebuilds it from the stored vectors)."""
        try:
            codes = QuantisedIndex.load(directory / str(manifest["file"]), fetch)
            dim = int(manifest["dim"])
            if codes.quantiser.dim != dim:
                return None
            return cls(str(manifest["spec"]), dim, codes, int(manifest["generation"]))
        except (SelfsimError, SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError,
                AssertionError):
            return None
