"""Search: dense (cosine), keyword (FTS5 BM25) and hybrid (fusion of both), under metadata filters.

Each signal ranks whole items: dense search scores an item by its best chunk,
keyword search by BM25 over the item's text. Hybrid search takes the top
``candidates`` of each and fuses them. Every hit says which signals found it
and at what rank, so a surprising result can be explained.
"""

from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from selfsim.config import SearchConfig, SearchMode
from selfsim.encoders.base import Encoder
from selfsim.errors import ConfigError, FilterWarning, InputError, NotFoundError
from selfsim.store.collection import Store
from selfsim.store.filters import Filter, compile_filter, filter_warnings
from selfsim.store.lexical import match_expression, query_words
from selfsim.store.results import ItemChunk, KeywordMatch, NearestItem
from selfsim.tasks.search.fusion import reciprocal_rank_fusion, weighted_score_fusion

_KEYWORD_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selfsim-keyword")
_FILTER_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selfsim-filter")
# A k beyond any collection just means "every match"; capping it keeps SQLite's LIMIT in range.
_MAX_K = 2**31 - 1
_FIELD_SAMPLE = 200  # items whose metadata names the known fields in a filter warning


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

    A bad query, ``k`` or filter is an :class:`InputError`; a filter on a field no item has, or comparing
    a field with a type of value it never holds, still runs but warns (:class:`FilterWarning`).
    """
    mode = mode or config.mode
    if not isinstance(mode, str) or mode not in ("dense", "keyword", "hybrid"):
        raise ConfigError(f"unknown search mode {mode!r}; use dense, keyword or hybrid.")
    k = _checked(query, k)
    compile_filter(filter)  # a bad filter fails here, before any model is loaded
    depth = k if mode != "hybrid" else max(k, config.candidates)
    dense: list[NearestItem] = []
    keyword: list[KeywordMatch] = []
    match = match_expression(query)
    pending: Future | None = None
    if mode == "hybrid" and match:  # the keyword search runs on the other core while the query is encoded
        pending = _KEYWORD_WORKER.submit(store.keyword_items, match, depth, filter)
    elif mode == "keyword" and match:
        keyword = store.keyword_items(match, depth, filter)
    if mode in ("dense", "hybrid"):
        # A filter's chunk ids are read (and cached, see Store.chunk_ids_matching) while the query is encoded:
        # a scan of every item's metadata in SQLite, which releases the GIL, as the encoder does.
        allowed = _FILTER_WORKER.submit(store.chunk_ids_matching, filter) if filter else None
        model = encoder if isinstance(encoder, Encoder) else encoder()
        vector = model.encode([query])[0]
        if allowed is not None:
            allowed.result()
        dense = store.nearest_items(vector, depth, filter, ef_search=config.ef_search, nprobe=config.nprobe)
    if pending is not None:
        keyword = pending.result()

    dense_ranked = [(hit.key, hit.score) for hit in dense]
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
    if filter:  # after the search: when an item passed, most mistakes are ruled out without another look
        for message in filter_warnings(filter, store.metadata_kinds, lambda: (
                item.metadata for item in itertools.islice(store.iterate(), _FIELD_SAMPLE)), matched=bool(top)):
            warnings.warn(message, FilterWarning, stacklevel=3)  # 3: the caller of Collection.search
    return _hits(store, query, top, dense, keyword, filter)


def neighbours(store: Store, item_id: str, k: int = 10) -> list[Hit]:
    """The ``k`` items nearest the item ``item_id`` (by its mean chunk vector), itself left out, best first.

    An unknown id is a :class:`NotFoundError`; each hit's passage is the chunk nearest the item.
    """
    k = _checked("neighbours", k)
    vector = store.item_vector(item_id)
    if vector is None:
        raise NotFoundError(f"no item with id {item_id!r} in {store.directory}; check the id.")
    own = store.get(item_id)
    found = [hit for hit in store.nearest_items(vector, k + 1) if own is None or hit.key != own.key][:k]
    return _hits(store, "", [(hit.key, hit.score) for hit in found], found, [], None)


def _checked(query: Any, k: Any) -> int:
    """``k`` as a usable int, once ``query`` and ``k`` are known to be usable; InputError otherwise."""
    if not isinstance(query, str):
        raise InputError(f"the query must be text, not {type(query).__name__}.")
    if not query.strip():
        raise InputError("the query is empty; type some words to search for.")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as error:  # the tokenizer and SQLite both refuse a lone surrogate
        code = ord(query[error.start])
        raise InputError(f"the query holds a lone surrogate (U+{code:04X}), which is not text; fix how the query "
                         "was decoded.") from None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InputError(f"k must be a whole number, not {k!r}.")
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}.")
    return min(int(k), _MAX_K)


def _hits(store: Store, query: str, top: list, dense: list[NearestItem],
          keyword: list[KeywordMatch], filter: Filter | None) -> list[Hit]:
    keys = [key for key, _ in top]
    # Another process may change an item between ranking and reading it: read the items and their
    # chunks in one snapshot and drop any that no longer pass the filter, so a hit always shows a
    # stored state that matches the filter.
    with store.snapshot():
        items = store.items_by_key(keys, filter)
        chunks = store.chunks_of(keys)
    dense_at = {key: (rank, score, chunk_id) for rank, (key, score, chunk_id) in enumerate(dense, start=1)}
    keyword_at = {key: (rank, score) for rank, (key, score) in enumerate(keyword, start=1)}
    words = query_words(query)
    hits = []
    for key, score in top:
        item = items.get(key)
        if item is None:
            continue  # deleted, or changed to fail the filter, by another writer since ranking
        item_chunks = chunks.get(key) or [ItemChunk(0, 0, 0, len(item.text))]
        signals: dict[str, Signal] = {}
        if key in dense_at:
            rank, dense_score, chunk_id = dense_at[key]
            signals["dense"] = Signal(rank, dense_score)
            chosen = next((c for c in item_chunks if c.chunk_id == chunk_id), item_chunks[0])
        else:
            chosen = _best_keyword_chunk(item.text, item_chunks, words)
        if key in keyword_at:
            signals["keyword"] = Signal(*keyword_at[key])
        _, position, start, end = chosen
        hits.append(Hit(item.id, float(score), item.text[start:end], item.metadata, position, (start, end),
                        signals))
    return hits


def _best_keyword_chunk(text: str, chunks: list[ItemChunk], words: list[str]) -> ItemChunk:
    """The chunk sharing the most query words; word stems are approximated by 5-letter prefixes."""
    if len(chunks) == 1 or not words:
        return chunks[0]
    stems = {w[:5] for w in words}

    def overlap(chunk: ItemChunk) -> int:
        lowered = text[chunk.start:chunk.end].lower()
        return sum(stem in lowered for stem in stems)

    return max(chunks, key=overlap)
