"""Search: dense (cosine), keyword (FTS5 BM25) and hybrid (fusion of both), under metadata filters.

Each signal ranks whole items: dense search scores an item by its best chunk,
keyword search by BM25 over the item's text. Hybrid search takes the top
``candidates`` of each and fuses them. Every hit says which signals found it
and at what rank, so a surprising result can be explained.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from selfsim.config import SearchConfig, SearchMode
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError
from selfsim.store.collection import Store
from selfsim.store.filters import Filter
from selfsim.store.lexical import match_expression, query_words
from selfsim.tasks.fusion import reciprocal_rank_fusion, weighted_score_fusion

_KEYWORD_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selfsim-keyword")


@dataclass(frozen=True)
class Signal:
    """Where one signal ranked a hit (1 is best) and the score it gave."""

    rank: int
    score: float


@dataclass(frozen=True)
class Hit:
    """One search result: the item, its score, the passage that matched and the signals behind it."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any]
    chunk: int
    span: tuple[int, int]
    signals: dict[str, Signal] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["span"] = list(self.span)
        return data


def search(store: Store, encoder: Encoder | Callable[[], Encoder], query: str, k: int = 10,
           mode: SearchMode | None = None, filter: Filter | None = None,
           config: SearchConfig = SearchConfig()) -> list[Hit]:
    """The ``k`` best items for ``query`` under ``filter``, best first.

    ``encoder`` may be a function returning the encoder, so keyword search never loads a model.
    ``mode`` overrides ``config.mode``. When at least ``k`` items pass the
    filter and match, ``k`` hits come back (keyword search only matches items
    that share a word with the query).
    """
    mode = mode or config.mode
    if mode not in ("dense", "keyword", "hybrid"):
        raise ConfigError(f"unknown search mode {mode!r}; use dense, keyword or hybrid.")
    if not query or not query.strip():
        raise ConfigError("the query is empty; type some words to search for.")
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}.")
    depth = k if mode != "hybrid" else max(k, config.candidates)
    dense: list[tuple[int, float, int]] = []
    keyword: list[tuple[int, float]] = []
    match = match_expression(query)
    pending: Future | None = None
    if mode == "hybrid" and match:  # the keyword search runs on the other core while the query is encoded
        pending = _KEYWORD_WORKER.submit(store.keyword_items, match, depth, filter)
    elif mode == "keyword" and match:
        keyword = store.keyword_items(match, depth, filter)
    if mode in ("dense", "hybrid"):
        model = encoder if isinstance(encoder, Encoder) else encoder()
        vector = model.encode([query])[0]
        dense = store.nearest_items(vector, depth, filter)
    if pending is not None:
        keyword = pending.result()

    dense_ranked = [(key, score) for key, score, _ in dense]
    if mode == "dense":
        fused = dense_ranked
    elif mode == "keyword":
        fused = list(keyword)
    else:
        weights = (config.dense_weight, 1.0 - config.dense_weight)
        if config.fusion == "rrf":
            fused = reciprocal_rank_fusion([dense_ranked, keyword], weights, config.rrf_k)
        else:
            fused = weighted_score_fusion([dense_ranked, keyword], weights)
    top = fused[:k]
    return _hits(store, query, top, dense, keyword)


def _hits(store: Store, query: str, top: list, dense: list[tuple[int, float, int]],
          keyword: list[tuple[int, float]]) -> list[Hit]:
    keys = [key for key, _ in top]
    items = store.items_by_key(keys)
    dense_at = {key: (rank, score, chunk_id) for rank, (key, score, chunk_id) in enumerate(dense, start=1)}
    keyword_at = {key: (rank, score) for rank, (key, score) in enumerate(keyword, start=1)}
    chunks = store.chunks_of(keys)
    words = query_words(query)
    hits = []
    for key, score in top:
        item = items.get(key)
        if item is None:
            continue  # deleted by another writer between ranking and reading
        item_chunks = chunks.get(key) or [(0, 0, 0, len(item.text))]
        signals: dict[str, Signal] = {}
        if key in dense_at:
            rank, dense_score, chunk_id = dense_at[key]
            signals["dense"] = Signal(rank, dense_score)
            chosen = next((c for c in item_chunks if c[0] == chunk_id), item_chunks[0])
        else:
            chosen = _best_keyword_chunk(item.text, item_chunks, words)
        if key in keyword_at:
            signals["keyword"] = Signal(*keyword_at[key])
        _, position, start, end = chosen
        hits.append(Hit(item.id, float(score), item.text[start:end], item.metadata, position, (start, end),
                        signals))
    return hits


def _best_keyword_chunk(text: str, chunks: list[tuple[int, int, int, int]],
                        words: list[str]) -> tuple[int, int, int, int]:
    """The chunk sharing the most query words; word stems are approximated by 5-letter prefixes."""
    if len(chunks) == 1 or not words:
        return chunks[0]
    stems = {w[:5] for w in words}

    def overlap(chunk: tuple[int, int, int, int]) -> int:
        lowered = text[chunk[2]:chunk[3]].lower()
        return sum(stem in lowered for stem in stems)

    return max(chunks, key=overlap)
