"""Choosing a decision threshold from labelled pairs, and the ranking metrics that go with it.

Given a score per pair (cosine similarity, or a fused score) and a 0/1 label,
:func:`calibrate_threshold` sweeps every distinct score as a cut-off and keeps
the one with the best F1 (pairs scoring at or above it are called duplicates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from selfsim.errors import InputError


@dataclass(frozen=True)
class Calibration:
    """The best-F1 threshold with its precision and recall, and the ranking's average precision."""

    threshold: float
    f1: float
    precision: float
    recall: float
    average_precision: float
    pairs: int
    positives: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    if len(scores) != len(labels):
        raise InputError("there must be one label per score.")
    if len(scores) == 0 or not labels.any() or labels.all():
        raise InputError("calibration needs labelled pairs of both kinds; give some positive (1) and "
                           "some negative (0) pairs.")
    return scores, labels


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as the mean precision at each positive (ties share a rank)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    # Treat tied scores as one cut-off: precision is measured at the end of each run of ties.
    last_of_run = np.r_[scores[1:] != scores[:-1], True]
    true_positives = np.cumsum(labels)[last_of_run]
    predicted = (np.arange(1, len(scores) + 1))[last_of_run]
    new_positives = np.diff(np.r_[0, true_positives])
    return float(np.sum(new_positives * true_positives / predicted) / labels.sum())


def calibrate_threshold(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    """The threshold (score >= threshold means duplicate) with the best F1 on these labelled pairs."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = np.cumsum(sorted_labels)[last_of_run].astype(np.float64)
    predicted = np.arange(1, len(scores) + 1)[last_of_run].astype(np.float64)
    positives = float(labels.sum())
    precision = true_positives / predicted
    recall = true_positives / positives
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best = int(np.argmax(f1))
    cutoffs = sorted_scores[last_of_run]
    # Put the threshold halfway to the next lower score, so a new pair scoring a hair under the
    # lowest accepted one is not judged by floating-point noise.
    lower = cutoffs[best + 1] if best + 1 < len(cutoffs) else cutoffs[best]
    threshold = float((cutoffs[best] + lower) / 2) if lower < cutoffs[best] else float(cutoffs[best])
    return Calibration(threshold=threshold, f1=float(f1[best]), precision=float(precision[best]),
                       recall=float(recall[best]), average_precision=average_precision(scores, labels),
                       pairs=len(scores), positives=int(positives))


def scores_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` when pairs scoring at or above ``threshold`` are called duplicates."""
    scores, labels = _check(scores, labels)
    predicted = scores >= threshold
    true_positives = float((predicted & labels).sum())
    precision = true_positives / max(float(predicted.sum()), 1.0)
    recall = true_positives / float(labels.sum())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1
