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
from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.errors import ConfigError
from selfsim.training.ranking import ndcg_at, recall_at

EncodeFunction = Callable[[Sequence[str]], np.ndarray]


def spearman(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get average ranks)."""
    from scipy.stats import spearmanr

    value = spearmanr(np.asarray(predicted, dtype=np.float64), np.asarray(gold, dtype=np.float64)).statistic
    return float(value) if not math.isnan(value) else 0.0


def pair_cosines(encoder: Encoder | EncodeFunction, first: Sequence[str], second: Sequence[str],
                 progress: ProgressCallback | None = None) -> np.ndarray:
    """Cosine similarity of ``first[i]`` and ``second[i]`` for each pair, shape ``(N,)`` float64.

    ``encoder`` is an :class:`Encoder` (``progress(n)`` is called as texts finish) or any encode function
    from texts to unit vectors; each distinct text is encoded once, in the order it first appears.
    """
    distinct = list(dict.fromkeys([*first, *second]))
    if isinstance(encoder, Encoder):
        vectors = encoder.encode(distinct, progress=progress)
    else:
        vectors = np.asarray(encoder(distinct), dtype=np.float32)
    position = {text: row for row, text in enumerate(distinct)}
    left = vectors[[position[t] for t in first]]  # (N, D)
    right = vectors[[position[t] for t in second]]  # (N, D)
    return np.einsum("ij,ij->i", left, right).astype(np.float64)


def example_cosines(encode: EncodeFunction, pairs: Sequence[Example]) -> np.ndarray:
    """:func:`pair_cosines` of the first two texts of each example."""
    return pair_cosines(encode, [p.texts[0] for p in pairs], [p.texts[1] for p in pairs])


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
        cosines = example_cosines(encode, self.pairs)
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
            recall.append(recall_at(ranked, self.qrels[qid], depth))
        return {self.metric: float(np.mean(ndcg)), "recall@100": float(np.mean(recall))}
