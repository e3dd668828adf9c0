"""Validation during training: score the model being trained on a held-out set, with any encode function.

Two validators, each a callable from an encode function (texts -> unit
vectors) to ``{metric: value}``:

- :class:`StsValidator` — Spearman correlation x100 between the cosine of each
  pair and its gold score (the STS protocol);
- :class:`RetrievalValidator` — dense nDCG@10 over a BEIR-layout corpus,
  exact search over the whole corpus (the protocol of ``benchmarks/retrieval.py``,
  without the store: documents longer than the model's window are truncated
  instead of chunked).

They live in the training layer so the trainer can use them; the evaluation
layer builds on them (:mod:`selfsim.evaluation.sts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError

EncodeFunction = Callable[[Sequence[str]], np.ndarray]


def spearman(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get average ranks)."""
    from scipy.stats import spearmanr

    value = spearmanr(np.asarray(predicted, dtype=np.float64), np.asarray(gold, dtype=np.float64)).statistic
    return float(value) if not math.isnan(value) else 0.0


def pair_cosines(encode: EncodeFunction, pairs: Sequence[Example]) -> np.ndarray:
    """Cosine similarity of each pair's two texts (each distinct text encoded once)."""
    unique = sorted({text for pair in pairs for text in pair.texts[:2]})
    position = {text: i for i, text in enumerate(unique)}
    vectors = np.asarray(encode(unique), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    first = vectors[[position[p.texts[0]] for p in pairs]]
    second = vectors[[position[p.texts[1]] for p in pairs]]
    return (first * second).sum(axis=1)


@dataclass(frozen=True)
class StsValidator:
    """STS Spearman x100 on scored pairs; the metric is called ``sts_spearman``."""

    pairs: Sequence[Example]
    metric: str = "sts_spearman"

    def __post_init__(self) -> None:
        if len(self.pairs) < 3 or any(p.label is None or len(p.texts) < 2 for p in self.pairs):
            raise ConfigError("STS validation needs at least 3 scored pairs (sentence1, sentence2, score).")

    def __call__(self, encode: EncodeFunction) -> dict[str, float]:
        """Score the encoder."""
        cosines = pair_cosines(encode, self.pairs)
        return {self.metric: 100.0 * spearman(cosines, [float(p.label or 0.0) for p in self.pairs])}


@dataclass(frozen=True)
class RetrievalValidator:
    """Dense nDCG@10 (and Recall@100) of queries over a corpus; the metric is called ``ndcg@10``.

    ``corpus`` maps document id to text, ``queries`` query id to text and
    ``qrels`` query id to ``{document id: gain}``; queries without judgements are skipped.
    """

    corpus: Mapping[str, str]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, float]]
    metric: str = "ndcg@10"

    def __call__(self, encode: EncodeFunction) -> dict[str, float]:
        """Score the encoder."""
        judged = [q for q in self.queries if q in self.qrels]
        if not judged:
            raise ConfigError("no validation query has relevance judgements; check the queries and qrels files.")
        ids = list(self.corpus)
        documents = np.asarray(encode([self.corpus[i] for i in ids]), dtype=np.float32)
        questions = np.asarray(encode([self.queries[q] for q in judged]), dtype=np.float32)
        scores = questions @ documents.T  # (Q, N)
        depth = min(100, len(ids))
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        ndcg, recall = [], []
        for row, qid in enumerate(judged):
            order = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
            ranked = [ids[i] for i in order]
            ndcg.append(ndcg_at(ranked, self.qrels[qid], 10))
            wanted = {d for d, g in self.qrels[qid].items() if g > 0}
            recall.append(len(wanted.intersection(ranked)) / len(wanted) if wanted else 0.0)
        return {self.metric: float(np.mean(ndcg)), "recall@100": float(np.mean(recall))}


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """nDCG of ``ranked`` at depth ``k`` with linear gains (as pytrec_eval and BEIR)."""
    dcg = sum(relevant.get(doc, 0.0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0
