"""Pair classification (paraphrase / duplicate) evaluation: average precision, best F1 and its threshold.

The file is a TSV ``label  sentence1  sentence2`` (label 1 = duplicate or
paraphrase), optionally with a header line, as ../shared/data/mrpc/train.tsv.
Fields may be quoted CSV-style.

Two scorers are compared on the same pairs:

* **cosine** — the encoder's cosine similarity, nothing learned. Its AP and
  best F1 are measured on all pairs (the threshold is the best one in
  hindsight, as is usual for this figure).
* **fused** — :class:`~selfsim.tasks.duplicates.pairs.PairScorer`, cosine plus lexical
  overlap, learned. It is measured by k-fold cross-fitting: fitted on the
  other folds, scored on each held-out fold, so every pair is scored by a
  model that never saw it. Cosine is reported on the same folds, side by side,
  and so is the F1 at the threshold chosen on the training folds.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsim.encoders.base import Encoder, ProgressCallback
from selfsim.errors import NotFoundError, RecordError
from selfsim.tasks.duplicates.calibration import Calibration, calibrate_threshold, scores_at
from selfsim.tasks.duplicates.pairs import PairScorer, pair_features
from selfsim.training.validation import pair_cosines  # also the door the CLI and benchmarks use


@dataclass(frozen=True)
class LabelledPairs:
    """Text pairs with 0/1 labels."""

    first: list[str]
    second: list[str]
    labels: np.ndarray  # (N,) int

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class PairsReport:
    """What :func:`evaluate_pairs` measured (figures are fractions, not percentages)."""

    pairs: int
    positives: int
    cosine: Calibration
    folds: int
    cosine_folds: dict[str, float] = field(default_factory=dict)
    fused_folds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["cosine"] = self.cosine.to_dict()
        return data


def read_pairs(path: str | Path) -> LabelledPairs:
    """Read ``label  sentence1  sentence2`` rows (tab-separated, optional header, CSV quoting)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; give a TSV of label, sentence1, sentence2.")
    first, second, labels = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise RecordError(path.name, f"line {number}", "does not have three tab-separated columns",
                                 "write label, sentence1 and sentence2 on each line")
            label = row[0].strip()
            if label not in ("0", "1"):
                if number == 1:
                    continue  # a header line
                raise RecordError(path.name, f"line {number}", f"has the label {label!r}", "use 0 or 1")
            labels.append(int(label))
            first.append(row[1])
            second.append(row[2])
    if not labels:
        raise RecordError(path.name, "", "holds no labelled pairs", "write label, sentence1 and sentence2 rows")
    return LabelledPairs(first, second, np.array(labels, dtype=np.int64))


def cross_fit(features: np.ndarray, labels: np.ndarray, folds: int = 2, seed: int = 0,
              regularisation: float = 1.0) -> dict[str, Any]:
    """Cross-fitted fused scores and, per fold, the metrics of fused and plain cosine (feature 0).

    Returns ``{"fused": ..., "cosine": ..., "scores": (N,) fused scores}`` where each metrics entry
    holds the mean over folds of AP, best F1, and F1 at the threshold picked on the training folds.
    """
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(len(labels)) % folds
    scores = np.zeros(len(labels))
    metrics: dict[str, list[list[float]]] = {"fused": [], "cosine": []}
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        scorer = PairScorer(regularisation).fit(features[train], labels[train])
        scores[test] = scorer.score(features[test])
        for name, train_scores, test_scores in (
                ("fused", scorer.score(features[train]), scores[test]),
                ("cosine", features[train, 0], features[test, 0])):
            held_out = calibrate_threshold(test_scores, labels[test])
            chosen = calibrate_threshold(train_scores, labels[train]).threshold
            _, _, f1_at_chosen = scores_at(test_scores, labels[test], chosen)
            metrics[name].append([held_out.average_precision, held_out.f1, f1_at_chosen])
    summary = {name: dict(zip(("average_precision", "best_f1", "f1_at_train_threshold"),
                              np.mean(values, axis=0).round(6).tolist(), strict=True))
               for name, values in metrics.items()}
    return {**summary, "scores": scores}


def evaluate_pairs(encoder: Encoder, pairs: LabelledPairs, folds: int = 2, seed: int = 0,
                   regularisation: float = 1.0, progress: ProgressCallback | None = None) -> PairsReport:
    """Cosine on all pairs, then cosine and the fused scorer on ``folds`` cross-fitted folds."""
    import time

    started = time.perf_counter()
    cosines = pair_cosines(encoder, pairs.first, pairs.second, progress)
    embedded = time.perf_counter()
    report = PairsReport(pairs=len(pairs), positives=int(pairs.labels.sum()),
                         cosine=calibrate_threshold(cosines, pairs.labels), folds=folds)
    if folds >= 2:
        features = pair_features(pairs.first, pairs.second, cosines)
        fitted = cross_fit(features, pairs.labels, folds, seed, regularisation)
        report.cosine_folds, report.fused_folds = fitted["cosine"], fitted["fused"]
        report.weights = PairScorer(regularisation).fit(features, pairs.labels).weights()
    report.seconds = {"embed": round(embedded - started, 2), "total": round(time.perf_counter() - started, 2)}
    return report

