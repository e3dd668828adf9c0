"""Labelled text pairs (duplicate or not) put to use: pick a duplicate threshold, or fit a fused pair scorer.

>>> pairs = read_labelled_pairs("pairs.tsv")                                   # doctest: +SKIP
>>> calibration = calibrate_duplicates(load_encoder(), pairs)                  # doctest: +SKIP
>>> Collection.open("tickets").duplicates(DuplicatesConfig(threshold=calibration.threshold))  # doctest: +SKIP

The file is a TSV ``label  sentence1  sentence2`` (label 1 = duplicate), optionally with a header;
see :mod:`selfsim.evaluation.pairs`, which also scores an encoder on such pairs.
"""

from __future__ import annotations

from pathlib import Path

from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.evaluation.pairs import LabelledPairs, read_pairs
from selfsim.tasks.duplicates.calibration import Calibration, calibrate_threshold
from selfsim.tasks.duplicates.pairs import PairScorer, pair_features
from selfsim.training.validation import pair_cosines

__all__ = ["Calibration", "LabelledPairs", "calibrate_duplicates", "distinct_texts", "read_labelled_pairs",
           "save_pair_scorer"]


def read_labelled_pairs(path: str | Path) -> LabelledPairs:
    """The rows of a ``label  sentence1  sentence2`` file (tab-separated, optional header, CSV quoting)."""
    return read_pairs(path)


def distinct_texts(pairs: LabelledPairs) -> int:
    """How many distinct texts ``pairs`` hold: how many texts :func:`calibrate_duplicates` embeds."""
    return len(set(pairs.first + pairs.second))


def calibrate_duplicates(encoder: Encoder, pairs: LabelledPairs,
                         progress: ProgressCallback | None = None) -> Calibration:
    """The cosine threshold with the best F1 on ``pairs`` by ``encoder`` (with its precision, recall and the
    average precision); ``progress(n)`` is called as texts are embedded."""
    cosines = pair_cosines(encoder, pairs.first, pairs.second, progress=progress)
    return calibrate_threshold(cosines, pairs.labels)


def save_pair_scorer(encoder: Encoder, pairs: LabelledPairs, path: str | Path) -> PairScorer:
    """Fit the fused pair scorer (cosine by ``encoder`` plus lexical overlap) on all ``pairs`` and save its
    weights as JSON at ``path`` (``Collection.explain_duplicates(scorer=path)`` reads them)."""
    features = pair_features(pairs.first, pairs.second, pair_cosines(encoder, pairs.first, pairs.second))
    scorer = PairScorer().fit(features, pairs.labels)
    scorer.save(path)
    return scorer
