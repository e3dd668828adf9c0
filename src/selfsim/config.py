"""Config dataclasses for every component, with defaults that run.

A collection stores its :class:`CollectionConfig` in its database, so a
collection reopened later uses the encoder, chunking and index it was made with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from selfsim.errors import ConfigError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"

SearchMode = Literal["dense", "keyword", "hybrid"]
FusionMethod = Literal["rrf", "weighted"]
ErrorPolicy = Literal["stop", "skip"]


@dataclass(frozen=True)
class ChunkingConfig:
    """How long texts are split into overlapping windows of words.

    The default window roughly fills all-MiniLM-L6-v2's 256-token limit for
    English prose (1.3 to 1.5 word pieces per word), so a typical abstract or
    ticket is one chunk and only long documents are split.
    """

    max_words: int = 180
    overlap_words: int = 36

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise ConfigError("max_words must be at least 1; pick a chunk length such as 160.")
        if not 0 <= self.overlap_words < self.max_words:
            raise ConfigError("overlap_words must be at least 0 and smaller than max_words.")


@dataclass(frozen=True)
class CollectionConfig:
    """What a collection is made of: its encoder, its vector index spec (a FAISS spec, or ``"auto"`` to pick
    Flat, HNSW or IVF-PQ by size whenever the index is built) and its chunking."""

    encoder: str = DEFAULT_ENCODER
    index: str = "Flat"
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as stored in the collection's database."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older collections still open."""
        chunking = ChunkingConfig(**data.get("chunking", {}))
        return cls(encoder=data.get("encoder", DEFAULT_ENCODER), index=data.get("index", "Flat"),
                   chunking=chunking)


@dataclass(frozen=True)
class IngestConfig:
    """How records are read from files and written to a collection."""

    id_field: str = "id"
    text_fields: tuple[str, ...] = ("text",)
    metadata_fields: tuple[str, ...] | None = None  # None keeps every other field
    encoding: str = "utf-8"
    on_error: ErrorPolicy = "stop"
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.on_error not in ("stop", "skip"):
            raise ConfigError(f"on_error must be 'stop' or 'skip', not {self.on_error!r}.")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1.")
        if not self.text_fields:
            raise ConfigError("name at least one text field.")


@dataclass(frozen=True)
class SearchConfig:
    """How a query is answered.

    ``candidates`` is how deep each signal's list goes before fusion; ``rrf_k``
    damps reciprocal-rank fusion (smaller trusts the top ranks more);
    ``dense_weight`` weighs the dense signal against the keyword one, in both
    fusion methods. ``ef_search`` (HNSW) and ``nprobe`` (IVF) trade the vector
    index's speed for recall on each query; None keeps the index's default
    (``ef_search`` 384, ``nprobe`` 32), and an index without the knob ignores it.
    """

    mode: SearchMode = "hybrid"
    fusion: FusionMethod = "rrf"
    candidates: int = 100
    rrf_k: float = 10.0
    dense_weight: float = 0.5
    ef_search: int | None = None
    nprobe: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("dense", "keyword", "hybrid"):
            raise ConfigError(f"unknown search mode {self.mode!r}; use dense, keyword or hybrid.")
        if self.fusion not in ("rrf", "weighted"):
            raise ConfigError(f"unknown fusion {self.fusion!r}; use rrf or weighted.")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must lie between 0 and 1.")
        if self.candidates < 1 or self.rrf_k <= 0:
            raise ConfigError("candidates must be at least 1 and rrf_k above 0.")
        for name in ("ef_search", "nprobe"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number of at least 1 (or unset for the index's "
                                  f"default), not {value!r}.")


@dataclass(frozen=True)
class ServiceConfig:
    """Limits of the HTTP service (``selfsim serve``); a request past one is answered 413 or 422 with a
    sentence that names the limit."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1000  # items, ids, texts, labels or events in one request
    max_k: int = 1000
    max_query_chars: int = 2000
    max_filters: int = 32
    max_page: int = 1000
    max_map_points: int = 100_000
    max_jobs_kept: int = 200  # finished jobs remembered for GET /api/jobs/{job}
    map_method: str = "auto"  # the map's layout when a request names none: auto (UMAP if installed), umap or pca

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "max_k", "max_query_chars", "max_filters", "max_page",
                     "max_map_points", "max_jobs_kept"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1.")
        if self.map_method not in ("auto", "umap", "pca"):
            raise ConfigError(f"map_method must be auto, umap or pca, not {self.map_method!r}.")
