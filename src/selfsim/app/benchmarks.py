"""Scoring a collection's search on judged queries (nDCG@10, Recall@100, MRR@10 per search mode).

>>> with Collection.open("scifact") as corpus:                                          # doctest: +SKIP
...     scores = evaluate_search(corpus, read_queries("queries.jsonl"), read_qrels("test.tsv"))

The readers of the BEIR layout and the metrics live in :mod:`selfsim.evaluation.retrieval`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from selfsim.app.collection import Collection
from selfsim.config import SearchConfig, SearchMode
from selfsim.evaluation.retrieval import Qrels, RetrievalScores, evaluate_retrieval

__all__ = ["RetrievalScores", "evaluate_search"]


def evaluate_search(collection: Collection, queries: Mapping[str, str], qrels: Qrels,
                    modes: Sequence[SearchMode] = ("dense", "keyword", "hybrid"),
                    config: SearchConfig = SearchConfig(),
                    progress: Callable[[int], None] | None = None) -> list[RetrievalScores]:
    """Search ``collection`` for every query that has judgements in ``qrels``, in each of ``modes``, and average
    the metrics per mode; ``progress(1)`` is called after each search. Query vectors are computed once."""
    return evaluate_retrieval(collection.store, collection.encoder, dict(queries), qrels, modes, config, progress)
