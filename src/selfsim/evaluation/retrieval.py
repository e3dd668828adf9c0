"""Retrieval evaluation on BEIR-layout data: nDCG@10, Recall@100 and MRR@10 per search mode.

The layout (as in ../shared/data/scifact): ``corpus.jsonl`` with ``_id``,
``title``, ``text``; ``queries.jsonl`` with ``_id``, ``text``; a qrels TSV
``query-id  corpus-id  score`` with a header line. Documents are indexed as
``title + " " + text``, as BEIR does. Gains are the qrels scores (linear), as
in pytrec_eval, which BEIR uses.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsim.config import SearchConfig, SearchMode
from selfsim.data.readers import read_jsonl
from selfsim.data.records import Record
from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.errors import NotFoundError, RecordError
from selfsim.store.collection import Store
from selfsim.tasks.search.collection import search
from selfsim.training.ranking import mrr_at, ndcg_at, recall_at

Qrels = dict[str, dict[str, float]]


@dataclass(frozen=True)
class RetrievalScores:
    """Mean metrics over the evaluated queries for one search mode."""

    mode: str
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int


def read_corpus(path: str | Path) -> Iterator[Record]:
    """BEIR corpus records, text = title + " " + text, title kept as metadata."""
    for location, row in _jsonl(Path(path)):
        if "_id" not in row or "text" not in row:
            raise RecordError(Path(path).name, location, "has no '_id' or 'text' field",
                             "use the BEIR layout: {\"_id\": ..., \"title\": ..., \"text\": ...}")
        title = (row.get("title") or "").strip()
        text = f"{title} {row['text']}".strip()
        yield Record(str(row["_id"]), text, {"title": title} if title else {})


def read_queries(path: str | Path) -> dict[str, str]:
    """BEIR queries: id -> text."""
    queries = {}
    for location, row in _jsonl(Path(path)):
        if "_id" not in row or not isinstance(row.get("text"), str):
            raise RecordError(Path(path).name, location, "has no '_id' or 'text' field",
                             "use the BEIR layout: {\"_id\": ..., \"text\": ...}")
        queries[str(row["_id"])] = row["text"]
    return queries


def read_qrels(path: str | Path) -> Qrels:
    """BEIR qrels TSV (with a header line): query id -> document id -> relevance."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; point --qrels at a query-id/corpus-id/score TSV.")
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if number == 1 and row and not _is_number(row[-1]):
                continue  # header
            if len(row) < 3:
                raise RecordError(path.name, f"line {number}", "does not have three tab-separated columns",
                                 "write query-id, corpus-id and score per line")
            qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    return qrels


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    return read_jsonl(path, '{"_id": "...", "text": "..."}', advice="fix the line")


class _PrecomputedQueries:
    """An encoder that answers from query vectors computed in one batch beforehand."""

    def __init__(self, encoder: Encoder, texts: Sequence[str]) -> None:
        self.name, self.version, self.dim = encoder.name, encoder.version, encoder.dim
        vectors = encoder.encode(list(texts))
        self._vectors = dict(zip(texts, vectors, strict=True))

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: ProgressCallback | None = None) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def evaluate_retrieval(store: Store, encoder: Encoder, queries: dict[str, str], qrels: Qrels,
                       modes: Sequence[SearchMode] = ("dense", "keyword", "hybrid"),
                       config: SearchConfig = SearchConfig(),
                       progress: Callable[[int], None] | None = None) -> list[RetrievalScores]:
    """Search every query that has judgements, in each mode, and average the metrics."""
    judged = [qid for qid in queries if qid in qrels]
    if not judged:
        raise RecordError("", "", "no query has relevance judgements", "check that --queries and --qrels match")
    cached = _PrecomputedQueries(encoder, [queries[q] for q in judged])
    results = []
    for mode in modes:
        ndcg, recall, mrr = [], [], []
        for qid in judged:
            hits = search(store, cached, queries[qid], k=100, mode=mode, config=config)
            ranked = [hit.id for hit in hits]
            ndcg.append(ndcg_at(ranked, qrels[qid], 10))
            recall.append(recall_at(ranked, qrels[qid], 100))
            mrr.append(mrr_at(ranked, qrels[qid], 10))
            if progress is not None:
                progress(1)
        results.append(RetrievalScores(mode, float(np.mean(ndcg)), float(np.mean(recall)), float(np.mean(mrr)),
                                       len(judged)))
    return results
