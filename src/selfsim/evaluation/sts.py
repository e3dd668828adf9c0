"""Semantic textual similarity: Spearman correlation x100 between cosine similarity and gold scores.

The protocol of the STS Benchmark and of SBERT/SimCSE papers: encode both
sentences of each pair, take the cosine, and rank-correlate it with the human
score over all pairs. Files are ``score sentence1 sentence2`` TSVs (header
optional; see :mod:`selfsim.data.pair_files`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsim.data.pair_files import Example, read_examples
from selfsim.encoders.base import Encoder
from selfsim.training.validation import example_cosines, spearman


@dataclass(frozen=True)
class StsScores:
    """Spearman and Pearson correlations (x100) over ``pairs`` pairs, and the time encoding took."""

    spearman: float
    pearson: float
    pairs: int
    seconds: float


def read_sts(path: str | Path) -> list[Example]:
    """Scored pairs from an STS file, scores left on their own scale (correlations do not care)."""
    return read_examples(path, "scored")


def evaluate_sts(encoder: Encoder, pairs: Sequence[Example]) -> StsScores:
    """Correlate ``encoder``'s cosine similarities with the gold scores of ``pairs``."""
    started = time.perf_counter()
    cosines = example_cosines(lambda texts: encoder.encode(list(texts), batch_size=64), pairs)
    gold = np.asarray([float(p.label or 0.0) for p in pairs])
    pearson = float(np.corrcoef(cosines, gold)[0, 1]) if len(pairs) > 1 else 0.0
    return StsScores(100.0 * spearman(cosines, gold), 100.0 * pearson, len(pairs), time.perf_counter() - started)
